"""Rollouts through the operators' API and the CLI, with real RQ workers and the engine double."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from typer.testing import CliRunner

from controlplane.cli import app
from controlplane.deployments.models import Namespace
from controlplane.fleet.jobs import advance_rollouts
from controlplane.fleet.service import wave_sizes
from controlplane.notifications.models import Notification
from controlplane.queue import FLEET_QUEUE
from tests.support.engine_double import calls, script
from tests.support.live import APP, Live

runner = CliRunner()
URL = "/v1/operator/rollouts"


def fleet(live: Live, count: int, *, stale: int) -> list[uuid.UUID]:
    """``count`` applied namespaces; the first ``stale`` of them applied by an older program."""
    for index in range(count):
        live.create(f"ns{index:02d}", [APP])
    live.work()
    ids = [live.namespace(f"ns{index:02d}").id for index in range(count)]
    with live.new_session() as session:
        session.execute(update(Namespace).where(Namespace.id.in_(ids[:stale])).values(applied_digest="older"))
        session.commit()
    live.runtime.redis.delete("engine-double:calls")
    return ids


def drive(live: Live, rollout_id: str, operator: dict[str, str], *, ticks: int = 20) -> dict[str, Any]:
    """Run the workers and the scheduler's advance tick until the rollout settles (bounded)."""
    shown: dict[str, Any] = {}
    for _ in range(ticks):
        live.work()
        advance_rollouts()
        live.work()
        shown = live.client.get(f"{URL}/{rollout_id}", headers=operator).json()
        if shown["status"] not in ("planning", "running"):
            break
    return shown


def test_wave_sizes_start_with_a_canary_and_grow() -> None:
    assert wave_sizes(0, 1, 2) == []
    assert wave_sizes(10, 1, 2) == [1, 2, 4, 3]
    assert wave_sizes(1000, 1, 2) == [10, 20, 40, 80, 160, 320, 370]
    assert sum(wave_sizes(12345, 1.5, 3)) == 12345


def test_a_rollout_updates_only_the_stacks_that_differ_in_waves(live: Live) -> None:
    ids = fleet(live, 8, stale=5)
    operator = live.new_operator_key(["operator:write"])
    started = live.client.post(URL, json={"note": "provider bump", "canary_percent": 10}, headers=operator)
    assert started.status_code == 202, started.text
    rollout = started.json()
    assert rollout["status"] == "planning"
    live.work()  # planning, then the canary is queued
    planned = live.client.get(f"{URL}/{rollout['id']}", headers=operator).json()
    assert planned["considered"] == 8
    assert planned["targets"] == 5
    assert [wave["size"] for wave in planned["waves"]] == [1, 2, 2]
    shown = drive(live, rollout["id"], operator)
    assert shown["status"] == "completed"
    assert (shown["done"], shown["failed"], shown["pending"]) == (5, 0, 0)
    assert all(wave["done"] == wave["size"] for wave in shown["waves"])
    updated = sorted(call["stack"] for call in calls(live.runtime.redis))
    assert updated == sorted(f"ns-{namespace_id.hex}" for namespace_id in ids[:5])  # the other three: no run
    with live.new_session() as session:
        digests = set(session.scalars(select(Namespace.applied_digest).where(Namespace.id.in_(ids))).all())
    assert len(digests) == 8  # every stack records the digest of what the current program applied to it
    assert not digests & {"older", None}
    [entry] = live.client.get("/v1/operator/audit-log", headers=operator).json()["items"]
    assert entry["action"] == "POST /v1/operator/rollouts"
    assert entry["details"]["rollout_id"] == rollout["id"]
    listed = live.client.get(URL, headers=operator).json()["items"]
    assert [item["id"] for item in listed] == [rollout["id"]]


def test_tenants_see_that_an_update_is_queued_by_a_rollout(live: Live) -> None:
    fleet(live, 1, stale=1)
    operator = live.new_operator_key(["operator:write"])
    rollout = live.client.post(URL, json={}, headers=operator).json()
    from controlplane.fleet.jobs import plan_rollout

    plan_rollout(rollout["id"])  # plans and queues the canary, without running it
    advance_rollouts()
    shown = live.client.get("/v1/namespaces/ns00", headers=live.headers).json()
    assert shown["queued_by_rollout"] is True
    drive(live, rollout["id"], operator)
    assert live.client.get("/v1/namespaces/ns00", headers=live.headers).json()["queued_by_rollout"] is False


def test_a_failing_canary_pauses_the_rollout_and_tells_every_operator(live: Live) -> None:
    fleet(live, 6, stale=6)
    operator = live.new_operator_key(["operator:write"])
    watcher = live.new_operator_key(["operator:read", "account:read"])
    script(live.runtime.redis, "policy")  # the canary's update is refused: the namespace stalls at once
    rollout = live.client.post(URL, json={"failure_threshold": 0.0}, headers=operator).json()
    shown = drive(live, rollout["id"], operator)
    assert shown["status"] == "paused"
    assert "wave 0 failed for 1 of 1" in shown["paused_reason"]
    assert (shown["done"], shown["failed"], shown["pending"]) == (0, 1, 5)
    assert len(calls(live.runtime.redis)) == 1  # nothing past the canary
    with live.new_session() as session:
        notified = session.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == "rollout_paused")
        )
    assert notified == 2  # one per operator account
    notices = live.client.get("/v1/notifications", headers=watcher).json()["items"]
    assert notices[0]["kind"] == "rollout_paused"

    assert live.client.post(f"{URL}/{rollout['id']}/pause", headers=operator).status_code == 409
    resumed = live.client.post(f"{URL}/{rollout['id']}/resume", headers=operator)
    assert resumed.status_code == 200, resumed.text
    shown = drive(live, rollout["id"], operator)
    assert shown["status"] == "completed"
    assert (shown["done"], shown["failed"]) == (5, 1)


def test_pause_takes_waiting_updates_back_and_abort_cancels_them(live: Live) -> None:
    fleet(live, 4, stale=4)
    operator = live.new_operator_key(["operator:write"])
    rollout = live.client.post(URL, json={"canary_percent": 100}, headers=operator).json()
    from controlplane.fleet.jobs import plan_rollout

    plan_rollout(rollout["id"])
    advance_rollouts()
    fleet_queue = live.runtime.worker_queues[-1]
    assert fleet_queue.name == FLEET_QUEUE
    assert fleet_queue.count == 4
    paused = live.client.post(f"{URL}/{rollout['id']}/pause", json={"reason": "looks odd"}, headers=operator).json()
    assert paused["status"] == "paused"
    assert paused["paused_reason"] == "looks odd"
    assert fleet_queue.count == 0
    live.work()
    assert calls(live.runtime.redis) == []
    assert live.client.get("/v1/namespaces/ns00", headers=live.headers).json()["queued_by_rollout"] is False
    aborted = live.client.post(f"{URL}/{rollout['id']}/abort", headers=operator).json()
    assert aborted["status"] == "aborted"
    assert aborted["cancelled"] == 4
    assert live.client.post(f"{URL}/{rollout['id']}/resume", headers=operator).status_code == 409


def test_lost_work_is_queued_again(live: Live) -> None:
    """A worker killed mid-run leaves an item queued with no job and no lock: the next tick queues it again."""
    fleet(live, 2, stale=2)
    operator = live.new_operator_key(["operator:write"])
    rollout = live.client.post(URL, json={"canary_percent": 100}, headers=operator).json()
    from controlplane.fleet.jobs import plan_rollout

    plan_rollout(rollout["id"])
    advance_rollouts()
    live.runtime.worker_queues[-1].empty()  # the jobs are gone, as with a worker killed holding them
    assert drive(live, rollout["id"], operator)["status"] == "completed"
    assert len(calls(live.runtime.redis)) == 2


def test_one_active_rollout_at_a_time_and_clear_errors(live: Live) -> None:
    operator = live.new_operator_key(["operator:write"])
    first = live.client.post(URL, json={}, headers=operator)
    assert first.status_code == 202
    second = live.client.post(URL, json={}, headers=operator)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "rollout_active"
    bad = live.client.post(URL, json={"canary_percent": 0, "failure_threshold": 2}, headers=operator)
    assert bad.status_code == 422
    assert live.client.get(f"{URL}/{uuid.uuid4()}", headers=operator).status_code == 404
    assert live.client.get(URL, headers=live.headers).status_code == 403  # a tenant
    assert live.client.post(URL, json={}, headers=live.new_operator_key(["operator:read"])).status_code == 403


def test_the_rollout_command(live: Live) -> None:
    fleet(live, 3, stale=3)
    started = runner.invoke(app, ["rollout", "start", "--note", "from the CLI", "--canary-percent", "50"])
    assert started.exit_code == 0, started.output
    rollout_id = started.output.split()[1]
    again = runner.invoke(app, ["rollout", "start"])
    assert again.exit_code == 1
    assert "still active" in again.output
    bad = runner.invoke(app, ["rollout", "start", "--canary-percent", "0"])
    assert bad.exit_code == 2
    assert "--canary-percent" in bad.output
    live.work()
    status = runner.invoke(app, ["rollout", "status"])
    assert status.exit_code == 0, status.output
    assert f"rollout {rollout_id}: running" in status.output
    assert "3 of 3 stacks differ" in status.output
    assert runner.invoke(app, ["rollout", "pause", rollout_id]).exit_code == 0
    assert runner.invoke(app, ["rollout", "resume", rollout_id]).exit_code == 0
    assert runner.invoke(app, ["rollout", "abort", rollout_id]).output.strip() == f"rollout {rollout_id} is aborted"
    assert runner.invoke(app, ["rollout", "status", "not-an-id"]).exit_code == 2
    operator = live.new_operator_key(["operator:read"])
    entries = live.client.get("/v1/operator/audit-log", headers=operator).json()["items"]
    assert [(entry["action"], entry["credential"]) for entry in entries] == [
        ("rollout abort", "cli"),
        ("rollout resume", "cli"),
        ("rollout pause", "cli"),
        ("rollout start", "cli"),
    ]


def test_a_failed_stack_whose_retry_never_came_is_queued_again(live: Live) -> None:
    """RQ's scheduler runs inside a worker; a killed worker takes it along for a while, and a retry with it."""
    [namespace_id] = fleet(live, 1, stale=1)
    operator = live.new_operator_key(["operator:write"])
    rollout = live.client.post(URL, json={"canary_percent": 100}, headers=operator).json()
    from controlplane.fleet.jobs import plan_rollout

    plan_rollout(rollout["id"])
    advance_rollouts()
    live.runtime.worker_queues[-1].empty()
    overdue = datetime.now(UTC) - timedelta(seconds=live.runtime.settings.retry_max_delay_s * 2 + 60)
    with live.new_session() as session:
        session.execute(
            update(Namespace).where(Namespace.id == namespace_id).values(status="failed", updated_at=overdue)
        )
        session.commit()
    assert drive(live, rollout["id"], operator)["status"] == "completed"
    assert len(calls(live.runtime.redis)) == 1
