"""The reconcile jobs in real RQ workers against the real database and Redis, with a recording engine double."""

from __future__ import annotations

import json
import uuid

import pytest

from controlplane.deployments.reconcile import drift_sweep, resync
from controlplane.deployments.service import stack_name_of
from controlplane.deployments.stack_lock import StackLock
from tests.support.engine_double import calls, script
from tests.support.live import Live


def kinds(live: Live) -> list[str]:
    return [call["kind"] for call in calls(live.runtime.redis)]


def test_create_runs_one_up_and_records_it(live: Live) -> None:
    live.create()
    live.work()
    namespace = live.namespace("shop")
    assert namespace.status == "ready"
    assert namespace.observed_generation == namespace.generation == 1
    assert namespace.outputs == {"namespace": namespace.cluster_name}
    assert namespace.cluster_name == f"t-{namespace.host_suffix}"
    [call] = calls(live.runtime.redis)
    assert call["kind"] == "up"
    assert call["stack"] == stack_name_of(namespace.id)
    assert call["apps"]["web"] == {"image": "ghcr.io/acme/web:1.2.3", "replicas": 2}
    operations = live.client.get("/v1/namespaces/shop/operations", headers=live.headers).json()["items"]
    assert [(op["kind"], op["result"], op["generation"]) for op in operations] == [("up", "succeeded", 1)]
    assert operations[0]["changes"] == {"create": 6}


def test_nothing_to_do_means_no_engine_call(live: Live) -> None:
    live.create()
    live.work()
    live.runtime.queue.enqueue("controlplane.deployments.reconcile.reconcile", str(live.namespace("shop").id))
    live.work()
    assert kinds(live) == ["up"]


def test_many_edits_before_the_run_cost_one_update_of_the_newest(live: Live) -> None:
    live.create()
    for replicas in range(3, 10):
        response = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": replicas}, headers=live.headers)
        assert response.status_code == 202
    live.work()
    assert len(calls(live.runtime.redis)) == 1
    assert calls(live.runtime.redis)[0]["apps"]["web"]["replicas"] == 9
    assert live.namespace("shop").observed_generation == 8


def test_failure_retries_with_backoff_then_succeeds(live: Live) -> None:
    live.create()
    script(live.runtime.redis, "error")
    live.work()
    failed = live.namespace("shop")
    assert failed.status == "failed"
    assert failed.failure_count == 1
    assert failed.last_error == "provider said no"
    assert live.scheduled() == 1
    live.work_scheduled()
    recovered = live.namespace("shop")
    assert recovered.status == "ready"
    assert recovered.failure_count == 0
    results = [
        op["result"] for op in live.client.get("/v1/namespaces/shop/operations", headers=live.headers).json()["items"]
    ]
    assert results == ["succeeded", "failed"]


def test_repeated_failures_stall_until_an_operator_retries(live: Live) -> None:
    live.create()
    script(live.runtime.redis, "busy", "timeout", "error")
    live.work()
    live.work_scheduled()
    live.work_scheduled()
    stalled = live.namespace("shop")
    assert stalled.status == "stalled"
    assert stalled.failure_count == 3
    assert live.scheduled() == 0
    shown = live.client.get("/v1/namespaces/shop", headers=live.headers).json()
    assert shown["status"] == "stalled"
    assert shown["conditions"][0]["type"] == "Stalled"

    url = f"/v1/operator/namespaces/{stalled.id}/retry"
    assert live.client.post(url, headers=live.headers).status_code == 403  # not an operator
    assert live.client.post(url, headers=live.new_operator_key(["operator:read"])).status_code == 403  # read only
    operator = live.new_operator_key(["operator:write"])
    assert live.client.post(url, headers=operator).status_code == 202
    [entry] = live.client.get("/v1/operator/audit-log", headers=operator).json()["items"]
    assert entry["action"] == "POST /v1/operator/namespaces/{namespace_id}/retry"
    assert entry["target"] == {"namespace_id": str(stalled.id)}
    live.work()
    assert live.namespace("shop").status == "ready"


def test_policy_refusal_stalls_at_once_naming_the_rule(live: Live) -> None:
    live.create()
    script(live.runtime.redis, "policy")
    live.work()
    namespace = live.namespace("shop")
    assert namespace.status == "stalled"
    assert "pinned-image-tags" in (namespace.last_error or "")


def test_a_held_lock_defers_the_run(live: Live) -> None:
    live.create()
    namespace = live.namespace("shop")
    holder = StackLock(live.runtime.redis, stack_name_of(namespace.id), lease_s=30)
    assert holder.acquire()
    try:
        live.work()
        assert calls(live.runtime.redis) == []
        assert live.scheduled() == 1
    finally:
        holder.release()
    live.work_scheduled()
    assert kinds(live) == ["up"]


def test_a_run_cut_short_is_cancelled_and_refreshed_before_the_next_update(live: Live) -> None:
    live.create()
    namespace = live.namespace("shop")
    # A worker died mid-run: its lease ran out, but its in-flight marker is still there.
    dead = StackLock(live.runtime.redis, stack_name_of(namespace.id), lease_s=30)
    dead.run_started()
    live.work()
    assert kinds(live) == ["cancel", "refresh", "up"]
    assert live.namespace("shop").status == "ready"
    assert live.runtime.redis.get(dead.inflight_key) is None


def test_lifecycle_transitions_are_desired_state_changes(live: Live) -> None:
    from controlplane.deployments.models import DesiredState, Namespace
    from controlplane.deployments.service import Context, transition

    live.create()
    live.work()
    for state in (DesiredState.SUSPENDED, DesiredState.VOLUMES_RELEASED, DesiredState.ACTIVE):
        with live.new_session() as session:
            namespace = session.get(Namespace, live.namespace("shop").id)
            assert namespace is not None
            transition(session, Context(live.runtime.settings, live.runtime.redis), namespace, state)
            session.commit()
        live.work()
    assert [call.get("lifecycle") for call in calls(live.runtime.redis)] == [
        "active",
        "suspended",
        "volumes_released",
        "active",
    ]


def test_volumes_are_released_only_from_suspension(live: Live) -> None:
    from controlplane.deployments.models import DesiredState, Namespace
    from controlplane.deployments.service import Context, transition
    from controlplane.errors import Conflict

    live.create()
    with live.new_session() as session:
        namespace = session.get(Namespace, live.namespace("shop").id)
        assert namespace is not None
        with pytest.raises(Conflict, match="only from a suspended namespace"):
            transition(session, Context(live.runtime.settings), namespace, DesiredState.VOLUMES_RELEASED)


def test_delete_destroys_the_stack_and_keeps_the_configuration(live: Live) -> None:
    live.create()
    live.work()
    assert live.client.delete("/v1/namespaces/shop", headers=live.headers).status_code == 202
    live.work()
    assert kinds(live) == ["up", "destroy"]
    deleted = live.namespace("shop")
    assert deleted.status == "deleted"
    assert [app.name for app in deleted.apps] == ["web"]  # the configuration is kept
    assert live.client.get("/v1/namespaces/shop", headers=live.headers).status_code == 404
    live.create()  # the name is free again
    live.work()
    assert kinds(live) == ["up", "destroy", "up"]


def test_preview_is_an_operation_with_streamed_events(live: Live) -> None:
    live.create()
    live.work()
    script(live.runtime.redis, "changed")
    queued = live.client.post("/v1/namespaces/shop/preview", headers=live.headers)
    assert queued.status_code == 202
    operation = queued.json()
    assert operation["kind"] == "preview"
    live.work()
    done = live.client.get(f"/v1/namespaces/shop/operations/{operation['id']}", headers=live.headers).json()
    assert done["result"] == "succeeded"
    assert done["changes"] == {"update": 1, "same": 5}
    stream = live.client.get(f"/v1/namespaces/shop/operations/{operation['id']}/events", headers=live.headers)
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [block for block in stream.text.strip().split("\n\n") if block]
    assert events[0].startswith("id: 1\nevent: resource_pre\n")
    assert json.loads(events[1].split("data: ")[1])["changes"] == {"update": 1, "same": 5}
    assert events[-1].startswith("event: end")
    assert kinds(live) == ["up", "preview"]


def test_operations_of_another_account_are_hidden(live: Live) -> None:
    live.create()
    live.work()
    op_id = live.client.get("/v1/namespaces/shop/operations", headers=live.headers).json()["items"][0]["id"]
    stranger = live.new_key()
    assert live.client.get(f"/v1/namespaces/shop/operations/{op_id}", headers=stranger).status_code == 404
    assert live.client.get(f"/v1/namespaces/shop/operations/{uuid.uuid4()}", headers=live.headers).status_code == 404


def test_resync_requeues_what_is_not_applied(live: Live) -> None:
    live.create()
    live.empty_queues()
    assert resync() == 1
    live.work()
    assert kinds(live) == ["up"]
    assert resync() == 0


def test_drift_sweep_flags_a_stack_that_drifted(live: Live) -> None:
    live.create()
    live.work()
    script(live.runtime.redis, "changed")
    assert drift_sweep() == 1
    live.work()
    assert kinds(live) == ["up", "drift_check"]
    assert live.namespace("shop").drift_detected is True
