"""Revisions and rollback through the real HTTP app, real commits and real RQ workers (engine double): one
revision per accepted change with its author and diff, outcomes written by the reconcile (applied, superseded,
failed, refused), rollback of apps, env and domains together, and rollback refused by policy."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from typing import Any

import pytest
import yaml
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from controlplane.accounts.models import ApiKey
from controlplane.deployments.models import Revision
from controlplane.runtime import Runtime
from tests.deployments.test_tenant_isolation import app, claim_token, run_of
from tests.support.dns_server import LocalDns
from tests.support.engine_double import script
from tests.support.live import APP, Live


def revisions(live: Live, name: str = "shop", headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every revision, oldest first, read page by page (two per page, to walk the cursor)."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = live.client.get(f"/v1/namespaces/{name}/revisions", params=params, headers=headers or live.headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    return list(reversed(items))


def outcomes(live: Live, name: str = "shop") -> list[tuple[int, str]]:
    return [(revision["generation"], revision["outcome"]["status"]) for revision in revisions(live, name)]


def patch(live: Live, body: dict[str, Any], app_name: str = "web") -> dict[str, Any]:
    response = live.client.patch(f"/v1/namespaces/shop/apps/{app_name}", json=body, headers=live.headers)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def key_id(live: Live, headers: dict[str, str]) -> str:
    prefix = headers["Authorization"].split()[1][:16]
    with live.new_session() as session:
        return str(session.scalars(select(ApiKey.id).where(ApiKey.prefix == prefix)).one())


def test_every_accepted_change_is_a_revision_with_its_author_and_its_diff(live: Live) -> None:
    live.create()
    patch(live, {"replicas": 3, "env": {"MODE": "staging", "DEBUG": "1"}})
    worker = {**copy.deepcopy(APP), "name": "worker", "volume": None}
    assert live.client.post("/v1/namespaces/shop/apps", json=worker, headers=live.headers).status_code == 202
    assert live.client.delete("/v1/namespaces/shop/apps/worker", headers=live.headers).status_code == 202

    history = revisions(live)
    assert [revision["generation"] for revision in history] == [1, 2, 3, 4]
    me = key_id(live, live.headers)
    for revision in history:
        assert revision["author"]["kind"] == "account"
        assert revision["author"]["api_key_id"] == me
        assert revision["author"]["session_id"] is None
        assert revision["outcome"]["status"] == "pending"
    created, scaled, added, removed = (revision["diff"] for revision in history)
    assert created == {"desired_state": {"from": None, "to": "active"}, "apps": {"added": ["web"]}}
    assert scaled == {
        "apps": {
            "changed": {
                "web": {
                    "replicas": {"from": 2, "to": 3},
                    "env": {"MODE": {"from": "production", "to": "staging"}, "DEBUG": {"from": None, "to": "1"}},
                }
            }
        }
    }
    assert added == {"apps": {"added": ["worker"]}}
    assert removed == {"apps": {"removed": ["worker"]}}
    # The whole spec: the configuration document as GET .../config exports it, and the lifecycle state.
    assert history[1]["config"]["apps"][0]["env"] == {"MODE": "staging", "DEBUG": "1"}
    assert history[1]["desired_state"] == "active"
    assert history[2]["hourly_cost"] > history[1]["hourly_cost"]

    one = live.client.get("/v1/namespaces/shop/revisions/2", headers=live.headers).json()
    assert one == history[1]
    between = live.client.get("/v1/namespaces/shop/revisions/1/diff/3", headers=live.headers).json()
    assert between["diff"]["apps"]["added"] == ["worker"]
    assert between["diff"]["apps"]["changed"]["web"]["replicas"] == {"from": 2, "to": 3}
    backwards = live.client.get("/v1/namespaces/shop/revisions/3/diff/1", headers=live.headers).json()
    assert backwards["diff"]["apps"]["removed"] == ["worker"]
    assert live.client.get("/v1/namespaces/shop/revisions/9", headers=live.headers).status_code == 404


def test_the_config_of_any_revision_exports_as_yaml_that_applies(live: Live) -> None:
    live.create()
    patch(live, {"image": "ghcr.io/acme/web:2.0.0"})
    first = live.client.get("/v1/namespaces/shop/config", params={"generation": 1}, headers=live.headers)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(first.text)
    assert document["apps"][0]["image"] == APP["image"]
    now = yaml.safe_load(live.client.get("/v1/namespaces/shop/config", headers=live.headers).text)
    assert now["apps"][0]["image"] == "ghcr.io/acme/web:2.0.0"
    assert document == {**now, "apps": [{**now["apps"][0], "image": APP["image"]}]}
    missing = live.client.get("/v1/namespaces/shop/config", params={"generation": 7}, headers=live.headers)
    assert missing.status_code == 404
    applied = live.client.put("/v1/namespaces/shop/config", content=first.text, headers=live.headers)
    assert applied.status_code == 202


def test_revisions_across_coalesced_edits_say_which_were_superseded(live: Live) -> None:
    live.create()
    live.work()
    for replicas in (3, 4, 5):
        patch(live, {"replicas": replicas})
    shown = live.client.get("/v1/namespaces/shop", headers=live.headers).json()
    assert (shown["running_revision"], shown["wanted_revision"]) == (1, 4)
    live.work()  # one update, of the newest generation
    shown = live.client.get("/v1/namespaces/shop", headers=live.headers).json()
    assert (shown["running_revision"], shown["wanted_revision"]) == (4, 4)
    assert outcomes(live) == [(1, "applied"), (2, "superseded"), (3, "superseded"), (4, "applied")]
    history = revisions(live)
    operations = live.client.get("/v1/namespaces/shop/operations", headers=live.headers).json()["items"]
    ups = {op["generation"]: op["id"] for op in operations if op["kind"] == "up"}
    assert history[0]["outcome"]["operation_id"] == ups[1]
    assert history[3]["outcome"]["operation_id"] == ups[4]
    assert history[1]["outcome"]["operation_id"] is None
    assert history[1]["outcome"]["message"] == "revision 4 was applied before this one ran"


def test_a_failed_run_is_recorded_and_a_retry_that_succeeds_makes_it_applied(live: Live) -> None:
    live.create()
    script(live.runtime.redis, "error")
    live.work()
    [(generation, status)] = outcomes(live)
    assert (generation, status) == (1, "failed")
    assert revisions(live)[0]["outcome"]["message"] == "provider said no"
    live.work_scheduled()
    assert outcomes(live) == [(1, "applied")]


def test_a_revision_the_policy_pack_refused_cannot_be_rolled_back_to(live: Live) -> None:
    live.create()
    live.work()
    patch(live, {"image": "ghcr.io/acme/web:2.0.0"})
    script(live.runtime.redis, "policy")  # the pack refuses generation 2 when it runs
    live.work()
    assert outcomes(live) == [(1, "applied"), (2, "refused")]
    assert "pinned-image-tags" in revisions(live)[1]["outcome"]["message"]
    patch(live, {"image": "ghcr.io/acme/web:3.0.0"})
    refused = live.client.post("/v1/namespaces/shop/rollback", json={"generation": 2}, headers=live.headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "revision_refused"
    assert [revision["generation"] for revision in revisions(live)] == [1, 2, 3]  # nothing recorded
    unknown = live.client.post("/v1/namespaces/shop/rollback", json={"generation": 99}, headers=live.headers)
    assert unknown.status_code == 404


def test_a_rollback_that_admission_refuses_today_is_a_422_and_keeps_nothing(live: Live, runtime: Runtime) -> None:
    lax = runtime.settings.model_copy(update={"admission_policy_check": False})
    live.client.app.state.runtime = dataclasses.replace(runtime, settings=lax)  # type: ignore[attr-defined]
    live.create(apps=[{**APP, "image": "registry.example.com/acme/web:1.0"}])  # not a registry the pack allows
    live.client.app.state.runtime = runtime  # type: ignore[attr-defined]
    patch(live, {"image": "ghcr.io/acme/web:2.0.0"})
    refused = live.client.post("/v1/namespaces/shop/rollback", json={"generation": 1}, headers=live.headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "policy_violation"
    assert "allowed-image-registries" in refused.json()["error"]["message"]
    assert [revision["generation"] for revision in revisions(live)] == [1, 2]
    assert live.client.get("/v1/namespaces/shop", headers=live.headers).json()["generation"] == 2


def test_rollback_restores_apps_env_and_domains_together_and_never_shrinks_a_volume(
    live: Live, local_dns: LocalDns
) -> None:
    domain = "shop.example.com"
    web = {**app(domains=(domain,)), "env": {"MODE": "production", "API_URL": "https://api.example.com"},
           "volume": {"size_gib": 5, "mount_path": "/data"}}  # fmt: skip
    live.create("shop", [web])
    local_dns.set_txt(f"_controlplane-challenge.{domain}", claim_token(live, "shop", domain, live.headers))
    assert live.client.post(f"/v1/namespaces/shop/domains/{domain}/verify", headers=live.headers).status_code == 202
    live.work()  # the check verifies the domain: revision 2, by the platform
    verified = revisions(live)[1]
    assert verified["author"] == {"kind": "platform", "account_id": None, "api_key_id": None, "session_id": None,
                                  "reason": f"custom domain verified: {domain}"}  # fmt: skip
    assert verified["diff"] == {"verified_domains": {"added": [domain], "removed": []}}
    assert domain in run_of(live, live.row("shop"))["hosts"]["web"]

    # Revision 3: env changed, the domain dropped, a worker added, the volume grown.
    config = yaml.safe_load(live.client.get("/v1/namespaces/shop/config", headers=live.headers).text)
    config["apps"][0].update(env={"MODE": "debug"}, custom_domains=[], volume={"size_gib": 20, "mount_path": "/data"})
    config["apps"].append({**copy.deepcopy(APP), "name": "worker", "volume": None})
    put = live.client.put("/v1/namespaces/shop/config", content=yaml.safe_dump(config), headers=live.headers)
    assert put.status_code == 202
    live.work()
    assert domain not in run_of(live, live.row("shop"))["hosts"]["web"]

    rolled = live.client.post("/v1/namespaces/shop/rollback", json={"generation": 2}, headers=live.headers)
    assert rolled.status_code == 202, rolled.text
    answer = rolled.json()
    assert (answer["generation"], answer["rollback_of"]) == (4, 2)
    assert answer["kept_volumes"] == [{"app": "web", "size_gib": 20, "revision_size_gib": 5, "mount_path": "/data"}]
    now = yaml.safe_load(live.client.get("/v1/namespaces/shop/config", headers=live.headers).text)
    then = yaml.safe_load(live.client.get("/v1/namespaces/shop/config?generation=2", headers=live.headers).text)
    assert now["apps"] == [{**then["apps"][0], "volume": {"size_gib": 20, "mount_path": "/data"}}]
    rollback = revisions(live)[3]
    assert rollback["rollback_of"] == 2
    assert rollback["author"]["api_key_id"] == key_id(live, live.headers)
    assert rollback["diff"]["apps"]["removed"] == ["worker"]
    assert rollback["diff"]["apps"]["changed"]["web"]["env"] == {
        "MODE": {"from": "debug", "to": "production"},
        "API_URL": {"from": None, "to": "https://api.example.com"},
    }
    assert rollback["diff"]["apps"]["changed"]["web"]["custom_domains"] == {"from": [], "to": [domain]}
    live.work()
    ran = run_of(live, live.row("shop"))
    assert domain in ran["hosts"]["web"]  # still verified: routed again
    assert set(ran["apps"]) == {"web"}
    assert outcomes(live)[-1] == (4, "applied")


def test_lifecycle_changes_are_revisions_by_the_platform_and_a_rollback_keeps_the_lifecycle(live: Live) -> None:
    from controlplane.deployments.models import DesiredState, Namespace
    from controlplane.deployments.service import Context, transition

    live.create()
    patch(live, {"replicas": 4})
    with live.new_session() as session:
        namespace = session.get(Namespace, live.namespace("shop").id)
        assert namespace is not None
        ctx = Context(live.runtime.settings, live.runtime.redis)
        transition(session, ctx, namespace, DesiredState.SUSPENDED, reason="the balance reached zero")
        session.commit()
    suspended = revisions(live)[-1]
    assert suspended["author"]["kind"] == "platform"
    assert suspended["author"]["reason"] == "the balance reached zero"
    assert suspended["diff"] == {"desired_state": {"from": "active", "to": "suspended"}}
    assert suspended["hourly_cost"] < revisions(live)[1]["hourly_cost"]  # volumes only

    rolled = live.client.post("/v1/namespaces/shop/rollback", json={"generation": 1}, headers=live.headers)
    assert rolled.status_code == 202
    shown = live.client.get("/v1/namespaces/shop", headers=live.headers).json()
    assert shown["desired_state"] == "suspended"  # billing's, not rolled back
    assert shown["apps"][0]["replicas"] == 2


def test_a_rollback_takes_the_generation_as_any_json_integer(live: Live) -> None:
    """JSON Schema's integers include 1.0 (schemathesis sent 230.0 and got a 422 the contract does not allow)."""
    live.create()
    patch(live, {"replicas": 4})
    rolled = live.client.post("/v1/namespaces/shop/rollback", json={"generation": 1.0}, headers=live.headers)
    assert rolled.status_code == 202, rolled.text
    assert rolled.json()["rollback_of"] == 1
    refused = live.client.post("/v1/namespaces/shop/rollback", json={"generation": 1.5}, headers=live.headers)
    assert refused.status_code == 422


def test_revisions_are_immutable_but_for_their_outcome(live: Live, runtime: Runtime) -> None:
    live.create()
    namespace_id = live.namespace("shop").id
    with runtime.engine.begin() as conn:
        conn.execute(
            update(Revision).where(Revision.namespace_id == namespace_id).values(outcome="applied", outcome_message="x")
        )
    for change in ({"document": {"apps": []}}, {"generation": 7}, {"author_kind": "platform"}, {"diff": {}}):
        with pytest.raises(DBAPIError, match="immutable except for its outcome"), runtime.engine.begin() as conn:
            conn.execute(update(Revision).where(Revision.namespace_id == namespace_id).values(**change))
    with runtime.engine.connect() as conn:
        stored = conn.execute(text("SELECT outcome, diff::text FROM namespace_revisions")).one()
    assert stored.outcome == "applied"
    assert "web" in stored.diff


def test_another_account_sees_no_revision(live: Live) -> None:
    live.create()
    stranger = live.new_key()
    for path in ("/v1/namespaces/shop/revisions", "/v1/namespaces/shop/revisions/1",
                 "/v1/namespaces/shop/revisions/1/diff/1", "/v1/namespaces/shop/config?generation=1"):  # fmt: skip
        assert live.client.get(path, headers=stranger).status_code == 404, path
    rollback = live.client.post("/v1/namespaces/shop/rollback", json={"generation": 1}, headers=stranger)
    assert rollback.status_code == 404
    reader = live.new_key(["namespaces:read"])
    assert live.client.post("/v1/namespaces/shop/rollback", json={"generation": 1}, headers=reader).status_code == 403


def test_concurrent_edits_make_one_revision_each(live: Live, runtime: Runtime) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from controlplane.deployments.schemas import AppPatch
    from controlplane.deployments.service import Context, update_app

    live.create()
    account_id = live.row("shop").account_id
    assert account_id is not None

    def edit(replicas: int) -> int:
        with runtime.transaction() as session:
            ctx = Context(runtime.settings, runtime.redis)
            return update_app(session, ctx, account_id, "shop", "web", AppPatch(replicas=replicas)).namespace.generation

    with ThreadPoolExecutor(4) as pool:
        made = sorted(pool.map(edit, range(3, 11)))  # each a change (APP has 2 replicas)
    assert made == list(range(2, 10))
    history = revisions(live)
    assert [revision["generation"] for revision in history] == list(range(1, 10))
    # Each diff is against the revision just before it, whichever edit won the lock first.
    for older, newer in itertools.pairwise(history):
        before = older["config"]["apps"][0]["replicas"]
        after = newer["config"]["apps"][0]["replicas"]
        assert newer["diff"] == {"apps": {"changed": {"web": {"replicas": {"from": before, "to": after}}}}}
