"""The applied digest: what it covers, and the reconcile that skips Pulumi when it has not changed."""

from __future__ import annotations

import uuid

from pydantic import SecretStr
from sqlalchemy import select, update

from controlplane.deployments.digest import applied_digest, program_version, provider_versions
from controlplane.deployments.models import DesiredState, Namespace, Operation
from controlplane.deployments.reconcile import reconcile
from controlplane.deployments.service import Context, stack_name_of, transition
from controlplane.deployments.stack_lock import StackLock
from controlplane.settings import Settings
from programs.tenant import LifecycleState, TenantSpec
from programs.tenant.samples import multi_app_spec, web_app, worker_app
from tests.support.engine_double import calls, script
from tests.support.live import Live

SETTINGS = Settings(env="test")


def with_platform(spec: TenantSpec, **changes: object) -> TenantSpec:
    return spec.model_copy(update={"platform": spec.platform.model_copy(update=changes)})


def test_the_digest_is_stable_and_covers_versions() -> None:
    spec = multi_app_spec()
    assert applied_digest(spec, SETTINGS) == applied_digest(multi_app_spec(), SETTINGS)
    assert len(applied_digest(spec, SETTINGS)) == 64
    assert len(program_version()) == 64
    assert set(provider_versions()) == {"pulumi", "pulumi-kubernetes", "pulumi-cloudflare", "pulumi-policy"}


def test_what_a_stack_declares_changes_its_digest() -> None:
    spec = multi_app_spec()
    base = applied_digest(spec, SETTINGS)
    changed_image = spec.model_copy(update={"apps": (spec.apps[0].model_copy(update={"image": "ghcr.io/x/y:2"}),
                                                     *spec.apps[1:])})  # fmt: skip
    assert applied_digest(changed_image, SETTINGS) != base
    for state in (LifecycleState.SUSPENDED, LifecycleState.VOLUMES_RELEASED):
        assert applied_digest(multi_app_spec(state), SETTINGS) != base
    rotated = with_platform(
        spec,
        kubernetes=spec.platform.kubernetes.model_copy(update={"kubeconfig": SecretStr("apiVersion: v1\nother: 1")}),
    )
    assert applied_digest(rotated, SETTINGS) != base  # a secret the stack uses counts too


def test_a_platform_output_reaches_only_the_stacks_that_read_it() -> None:
    public = multi_app_spec().model_copy(update={"apps": (web_app(),)})
    internal = multi_app_spec().model_copy(update={"apps": (worker_app(),)})
    new_class = {"ingress_class": "nginx-v2"}
    assert applied_digest(with_platform(public, **new_class), SETTINGS) != applied_digest(public, SETTINGS)
    assert applied_digest(with_platform(internal, **new_class), SETTINGS) == applied_digest(internal, SETTINGS)


def test_the_digest_is_keyed_and_reveals_no_secret() -> None:
    spec = multi_app_spec()
    other_key = SETTINGS.model_copy(update={"pulumi_config_passphrase": SecretStr("another passphrase")})
    assert applied_digest(spec, SETTINGS) != applied_digest(spec, other_key)


# --- the reconcile ------------------------------------------------------------------------------------------------


def test_an_update_records_its_digest_and_an_unchanged_stack_costs_no_run(live: Live) -> None:
    live.create()
    live.work()
    namespace = live.namespace("shop")
    assert namespace.applied_digest is not None
    assert len(namespace.applied_digest) == 64
    assert namespace.reconciled_at is not None
    live.runtime.queue.enqueue("controlplane.deployments.reconcile.reconcile", str(namespace.id))
    live.work()
    assert [call["kind"] for call in calls(live.runtime.redis)] == ["up"]


def test_an_edit_that_declares_the_same_stack_is_skipped_and_says_so(live: Live) -> None:
    live.create()
    live.work()
    for replicas in (3, 2):  # back where it was before any run
        response = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": replicas}, headers=live.headers)
        assert response.status_code == 202
    live.work()
    assert [call["kind"] for call in calls(live.runtime.redis)] == ["up"]
    namespace = live.namespace("shop")
    assert namespace.status == "ready"
    assert namespace.observed_generation == namespace.generation == 3
    operations = live.client.get("/v1/namespaces/shop/operations", headers=live.headers).json()["items"]
    assert [(op["kind"], op["result"], op["generation"]) for op in operations] == [
        ("up", "skipped", 3),
        ("up", "succeeded", 1),
    ]


def test_a_failed_run_forgets_the_digest_so_the_next_one_runs(live: Live) -> None:
    live.create()
    live.work()
    live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 3}, headers=live.headers)
    script(live.runtime.redis, "error")
    live.work()
    failed = live.namespace("shop")
    assert failed.status == "failed"
    assert failed.applied_digest is None  # the stack may hold anything between the two states
    live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 2}, headers=live.headers)
    live.work()
    assert [call["kind"] for call in calls(live.runtime.redis)] == ["up", "up", "up"]
    assert live.namespace("shop").status == "ready"


def test_a_drifted_stack_is_refreshed_then_updated_never_skipped(live: Live) -> None:
    live.create()
    live.work()
    namespace_id = live.namespace("shop").id
    with live.new_session() as session:
        session.execute(update(Namespace).where(Namespace.id == namespace_id).values(drift_detected=True))
        session.commit()
    live.runtime.queue.enqueue("controlplane.deployments.reconcile.reconcile", str(namespace_id))
    live.work()
    assert [call["kind"] for call in calls(live.runtime.redis)] == ["up", "refresh", "up"]
    assert live.namespace("shop").drift_detected is False


def test_a_lifecycle_change_is_never_skipped(live: Live) -> None:
    live.create()
    live.work()
    with live.new_session() as session:
        namespace = session.get(Namespace, live.namespace("shop").id)
        assert namespace is not None
        transition(session, Context(live.runtime.settings, live.runtime.redis), namespace, DesiredState.SUSPENDED)
        session.commit()
    live.work()
    assert [call.get("lifecycle") for call in calls(live.runtime.redis)] == ["active", "suspended"]
    assert live.namespace("shop").observed_state == "suspended"


def test_operations_left_running_by_a_dead_worker_are_closed_by_the_next_run(live: Live) -> None:
    live.create()
    live.work()
    namespace_id = live.namespace("shop").id
    with live.new_session() as session:
        # What a worker killed after planning its run leaves: the operation running, the namespace reconciling.
        orphan = Operation(namespace_id=namespace_id, kind="up", generation=1, result="running", changes={})
        session.add(orphan)
        session.execute(update(Namespace).where(Namespace.id == namespace_id).values(status="reconciling"))
        session.commit()
        orphan_id: uuid.UUID = orphan.id
    live.runtime.queue.enqueue("controlplane.deployments.reconcile.reconcile", str(namespace_id))
    live.work()
    with live.new_session() as session:
        result, error = session.execute(
            select(Operation.result, Operation.error).where(Operation.id == orphan_id)
        ).one()
    assert result == "failed"
    assert error is not None
    assert "interrupted" in error


def test_a_namespace_at_rest_is_answered_without_the_stack_lock(live: Live) -> None:
    """The fleet at rest: a reconcile of a settled, unchanged namespace reads it, finds its digest applied and
    returns, even while another holder has the stack's lock (it neither waits for it nor schedules a retry)."""
    live.create()
    live.work()
    namespace = live.namespace("shop")
    operations_before = live.client.get("/v1/namespaces/shop/operations", headers=live.headers).json()["items"]
    holder = StackLock(live.runtime.redis, stack_name_of(namespace.id), 30)
    assert holder.acquire()
    try:
        assert reconcile(str(namespace.id)) == "up to date"
    finally:
        holder.release()
    assert live.scheduled() == 0
    assert live.client.get("/v1/namespaces/shop/operations", headers=live.headers).json()["items"] == operations_before
    assert [call["kind"] for call in calls(live.runtime.redis)] == ["up"]


def test_a_run_cut_short_is_recovered_even_when_the_namespace_looks_at_rest(live: Live) -> None:
    """A drift check killed mid-run leaves the namespace as it was (ready, digest applied) and its in-flight
    marker: the next reconcile takes the lock and recovers the stack instead of answering at once."""
    live.create()
    live.work()
    namespace = live.namespace("shop")
    dead = StackLock(live.runtime.redis, stack_name_of(namespace.id), 30)
    dead.run_started()  # what the killed holder left; its lease has run out
    assert reconcile(str(namespace.id)) == "up to date"
    assert [call["kind"] for call in calls(live.runtime.redis)] == ["up", "cancel", "refresh"]
    assert not dead.run_in_flight()
