"""Work has priorities: lifecycle before tenant edits before rollouts, drift checks and resyncs; a job id is one
job whatever its queue, and moves up rather than running twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from rq import Queue
from rq.job import Job
from sqlalchemy import update

from controlplane.deployments.models import DesiredState, Namespace
from controlplane.deployments.service import Context, reconcile_job, transition
from controlplane.fleet.jobs import advance_rollouts, plan_rollout
from controlplane.fleet.service import Actor, RolloutOptions, start
from controlplane.queue import (
    FLEET_QUEUE,
    LIFECYCLE_QUEUE,
    TENANT_QUEUE,
    WORKER_QUEUES,
    PendingJob,
    enqueue,
    enqueue_after_commit,
    pending_jobs,
)
from controlplane.runtime import Runtime
from tests.foundation import jobs_for_tests
from tests.support.engine_double import DELAY, STARTED, calls
from tests.support.live import APP, Live

REPO = Path(__file__).resolve().parents[2]


def fleet_of(live: Live, count: int, *, outside: int = 0) -> list[uuid.UUID]:
    """``count`` namespaces applied by an older program (a rollout takes them all), and ``outside`` more that
    already run the current one (named ``outside<i>``)."""
    for index in range(count):
        live.create(f"ns{index}", [APP])
    for index in range(outside):
        live.create(f"outside{index}", [APP])
    live.work()
    ids = [live.namespace(f"ns{index}").id for index in range(count)]
    with live.new_session() as session:
        session.execute(update(Namespace).where(Namespace.id.in_(ids)).values(applied_digest="by-an-older-program"))
        session.commit()
    live.runtime.redis.delete("engine-double:calls", STARTED)
    return ids


def queue_rollout(live: Live) -> None:
    """Start a rollout with every stack in one wave, and queue that wave (as the scheduler's tick would)."""
    with live.new_session() as session:
        rollout = start(session, live.runtime.settings, Actor(None, "test"), RolloutOptions(canary_percent=100))
        session.commit()
        rollout_id = rollout.id
    live.empty_queues()  # the plan and advance jobs are run here, not by a worker
    plan_rollout(str(rollout_id))
    advance_rollouts()


def suspend(live: Live, namespace_id: uuid.UUID) -> None:
    with live.new_session() as session:
        namespace = session.get(Namespace, namespace_id)
        assert namespace is not None
        transition(session, Context(live.runtime.settings, live.runtime.redis), namespace, DesiredState.SUSPENDED)
        session.commit()


def stack(namespace_id: uuid.UUID) -> str:
    return f"ns-{namespace_id.hex}"


def test_workers_serve_the_queues_in_priority_order(runtime: Runtime) -> None:
    assert WORKER_QUEUES == ("lifecycle", "default", "tenant", "fleet")
    assert [queue.name for queue in runtime.worker_queues] == list(WORKER_QUEUES)


def test_a_suspension_runs_before_a_queued_rollout(live: Live) -> None:
    ids = fleet_of(live, 4, outside=1)
    queue_rollout(live)
    assert Queue(FLEET_QUEUE, connection=live.runtime.redis).count == 4
    outside = live.namespace("outside0").id
    suspend(live, outside)
    live.work()
    order = [(call["stack"], call.get("lifecycle")) for call in calls(live.runtime.redis)]
    assert order[0] == (stack(outside), "suspended")
    assert sorted(name for name, _ in order[1:]) == sorted(stack(namespace_id) for namespace_id in ids)


def test_a_namespace_waiting_in_the_rollout_moves_up_when_suspended_and_runs_once(live: Live) -> None:
    ids = fleet_of(live, 4)
    queue_rollout(live)
    fleet = Queue(FLEET_QUEUE, connection=live.runtime.redis)
    last = uuid.UUID(fleet.get_job_ids()[-1].removeprefix("reconcile-"))
    suspend(live, last)
    assert fleet.count == 3
    assert Queue(LIFECYCLE_QUEUE, connection=live.runtime.redis).get_job_ids() == [f"reconcile-{last}"]
    assert Job.fetch(f"reconcile-{last}", connection=live.runtime.redis).origin == LIFECYCLE_QUEUE
    live.work()
    order = [(call["stack"], call.get("lifecycle")) for call in calls(live.runtime.redis)]
    assert order[0] == (stack(last), "suspended")
    assert sorted(name for name, _ in order) == sorted(stack(namespace_id) for namespace_id in ids)  # once each
    advance_rollouts()
    name = f"ns{ids.index(last)}"
    shown = live.client.get(f"/v1/namespaces/{name}", headers=live.headers).json()
    assert shown["queued_by_rollout"] is False
    assert shown["desired_state"] == "suspended"


def test_a_tenant_edit_moves_a_rollout_job_to_the_tenant_queue_never_down(runtime: Runtime) -> None:
    job = "reconcile-" + uuid.uuid4().hex
    for name in (FLEET_QUEUE, TENANT_QUEUE, FLEET_QUEUE):
        enqueue(runtime.queue, PendingJob(jobs_for_tests.record, ("x",), job_id=job, queue=name))
    assert Queue(FLEET_QUEUE, connection=runtime.redis).count == 0
    assert Queue(TENANT_QUEUE, connection=runtime.redis).get_job_ids() == [job]


def test_one_transaction_asking_thrice_queues_once_in_the_most_urgent_queue(runtime: Runtime) -> None:
    with runtime.new_session() as session:
        namespace_id = uuid.uuid4()
        enqueue_after_commit(session, reconcile_job(namespace_id, 60, TENANT_QUEUE))
        enqueue_after_commit(session, reconcile_job(namespace_id, 60, LIFECYCLE_QUEUE))
        enqueue_after_commit(session, reconcile_job(namespace_id, 60, FLEET_QUEUE))
        [pending] = pending_jobs(session)
        assert pending.queue == LIFECYCLE_QUEUE
        session.rollback()


def test_a_suspension_is_not_stuck_behind_a_rollout_a_worker_is_running(live: Live, tmp_path: Path) -> None:
    """The real ``controlplane worker`` command, busy with a rollout (each run takes 0.4 s), gets a suspension:
    it runs next, right after the run in progress."""
    fleet_of(live, 5)
    queue_rollout(live)
    late = uuid.UUID(Queue(FLEET_QUEUE, connection=live.runtime.redis).get_job_ids()[-1].removeprefix("reconcile-"))
    live.runtime.redis.set(DELAY, 0.4)
    settings = live.runtime.settings
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "REDIS_URL": str(settings.redis_url),
        "CONTROLPLANE_ENV": "test",
        "CONTROLPLANE_ENGINE": settings.engine,
        "CONTROLPLANE_DATA_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "worker", "--burst"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while int(live.runtime.redis.get(STARTED) or 0) < 1:
            assert time.monotonic() < deadline, "the worker never started a run"
            assert worker.poll() is None, "the worker exited early"
            time.sleep(0.02)
        suspend(live, late)
        assert worker.wait(timeout=120) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    order = [(call["stack"], call.get("lifecycle")) for call in calls(live.runtime.redis)]
    assert order[1] == (stack(late), "suspended"), order
    assert len(order) == 5  # the suspended namespace ran once, with the rollout's program and its new state
