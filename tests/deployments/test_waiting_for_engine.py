"""A missing engine tool is never a reason to stall for good: namespaces wait, and go on once the tools are there.

Found: without the pulumi CLI every namespace was ``stalled`` within 0.3 s, stayed stalled after the tools appeared,
and only an operator retry revived it. Now it waits in ``waiting_for_engine`` (not a failure, no retry storm) and
the scheduler's resync picks it up as soon as the engine reports its tools available.
"""

from __future__ import annotations

from sqlalchemy import select

from controlplane.deployments.models import Operation
from controlplane.deployments.reconcile import resync
from tests.support.engine_double import calls, script, set_tools_missing
from tests.support.live import Live


def operations_of(live: Live, name: str) -> list[Operation]:
    namespace = live.namespace(name)
    with live.new_session() as session:
        return list(session.scalars(select(Operation).where(Operation.namespace_id == namespace.id)))


def test_namespaces_wait_for_missing_tools_and_go_on_when_they_arrive(live: Live) -> None:
    redis = live.runtime.redis
    set_tools_missing(redis, True)
    live.create()
    live.work()

    waiting = live.namespace("shop")
    assert waiting.status == "waiting_for_engine"
    assert waiting.failure_count == 0, "a missing tool is not the tenant's failure"
    assert waiting.last_error is not None
    assert "install-tools" in waiting.last_error
    assert waiting.conditions[0]["reason"] == "WaitingForEngine"
    assert calls(redis) == [], "no run is attempted without the tools"
    assert operations_of(live, "shop") == [], "waiting leaves no failed operation in the history"
    shown = live.client.get("/v1/namespaces/shop", headers=live.headers).json()
    assert shown["status"] == "waiting_for_engine"

    assert resync() == 0, "while the tools are missing, the resync leaves waiting namespaces alone"

    set_tools_missing(redis, False)
    assert resync() == 1
    live.work()
    ready = live.namespace("shop")
    assert ready.status == "ready"
    assert ready.observed_generation == ready.generation
    assert ready.last_error is None
    assert [call["kind"] for call in calls(redis)] == ["up"]


def test_a_tool_that_goes_missing_during_a_run_makes_the_namespace_wait(live: Live) -> None:
    redis = live.runtime.redis
    live.create()
    script(redis, "unavailable")
    live.work()
    waiting = live.namespace("shop")
    assert waiting.status == "waiting_for_engine", "not stalled: a missing tool is never a reason to stall"
    assert waiting.failure_count == 0
    assert live.scheduled() == 0, "no backoff retries while the tools are missing"

    assert resync() == 1  # the engine reports its tools available again
    live.work()
    assert live.namespace("shop").status == "ready"


def test_an_edit_while_waiting_is_applied_once_the_tools_arrive(live: Live) -> None:
    redis = live.runtime.redis
    set_tools_missing(redis, True)
    live.create()
    live.work()
    patched = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 3}, headers=live.headers)
    assert patched.status_code == 202, patched.text
    live.work()
    assert live.namespace("shop").status == "waiting_for_engine"

    set_tools_missing(redis, False)
    resync()
    live.work()
    assert live.namespace("shop").status == "ready"
    assert calls(redis)[-1]["apps"]["web"]["replicas"] == 3
