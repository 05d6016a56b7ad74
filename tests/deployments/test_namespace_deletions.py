"""A deleted namespace's destroy, followed by id: its name is free at once, so the name cannot follow it."""

from __future__ import annotations

from typing import Any

from tests.support.engine_double import calls, script
from tests.support.live import Live


def delete(live: Live, name: str = "shop") -> dict[str, Any]:
    response = live.client.delete(f"/v1/namespaces/{name}", headers=live.headers)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def deletion(live: Live, namespace_id: str, headers: dict[str, str] | None = None) -> Any:
    return live.client.get(f"/v1/namespace-deletions/{namespace_id}", headers=headers or live.headers)


def test_a_delete_answers_the_id_its_destroy_is_followed_by(live: Live) -> None:
    created = live.create()
    live.work()
    accepted = delete(live)
    assert accepted["namespace_id"] == created["namespace_id"] == str(live.namespace("shop").id)

    waiting = deletion(live, accepted["namespace_id"]).json()
    assert (waiting["name"], waiting["status"], waiting["done"], waiting["last_error"]) == (
        "shop",
        "pending",
        False,
        None,
    )
    live.work()
    done = deletion(live, accepted["namespace_id"]).json()
    assert (done["status"], done["done"]) == ("deleted", True)
    assert done["requested_at"] <= done["updated_at"]
    assert [call["kind"] for call in calls(live.runtime.redis)] == ["up", "destroy"]


def test_the_name_taken_again_does_not_change_what_the_id_shows(live: Live) -> None:
    first = live.create()
    live.work()
    delete(live)
    second = live.create()  # the name is free at once
    assert second["namespace_id"] != first["namespace_id"]
    assert deletion(live, first["namespace_id"]).json()["namespace_id"] == first["namespace_id"]
    assert deletion(live, second["namespace_id"]).status_code == 404  # live, not deleted


def test_a_failing_destroy_shows_its_error_until_it_succeeds(live: Live) -> None:
    live.create()
    live.work()
    namespace_id = delete(live)["namespace_id"]
    script(live.runtime.redis, "error")
    live.work()
    failed = deletion(live, namespace_id).json()
    assert (failed["status"], failed["done"], failed["last_error"]) == ("failed", False, "provider said no")
    live.work_scheduled(within_s=30)
    assert deletion(live, namespace_id).json()["done"] is True


def test_only_the_account_that_deleted_it_with_namespaces_read_sees_it(live: Live) -> None:
    live.create()
    namespace_id = delete(live)["namespace_id"]
    assert deletion(live, namespace_id, live.new_key()).status_code == 404  # another account: no such thing
    refused = deletion(live, namespace_id, live.new_key(["billing:read"]))
    assert refused.status_code == 403
    assert deletion(live, "not-an-id").status_code == 422
