"""The periodic scheduler: enqueues each periodic job when it is due.

Several schedulers may run (a restart overlapping the old process, two replicas): a Redis key per task, set with
NX and an expiry of the task's interval, makes each due run enqueue once. Jobs get deterministic ids, so a run
that is still waiting absorbs the next one.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from redis import Redis
from rq import Queue

from controlplane.queue import PendingJob, enqueue, job_id
from controlplane.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    interval_s: int
    func: str  # import path, so the scheduler never imports the job's dependencies


def periodic_tasks(settings: Settings) -> tuple[PeriodicTask, ...]:
    return (
        PeriodicTask("purge-idempotency-records", 3600, "controlplane.worker.jobs.purge_idempotency_records"),
        PeriodicTask("resync-namespaces", settings.resync_interval_s, "controlplane.deployments.reconcile.resync"),
        PeriodicTask("drift-sweep", settings.drift_check_interval_s, "controlplane.deployments.reconcile.drift_sweep"),
        PeriodicTask(
            "rollout-advance", settings.rollout_advance_interval_s, "controlplane.fleet.jobs.advance_rollouts"
        ),
        PeriodicTask("purge-api-logs", 24 * 3600, "controlplane.privacy.retention.purge_api_logs"),
        PeriodicTask("purge-expired-sessions", 3600, "controlplane.privacy.retention.purge_expired_sessions"),
        PeriodicTask("billing-metering", settings.metering_interval_s, "controlplane.billing.jobs.meter_due_hours"),
        PeriodicTask(
            "billing-release-volumes",
            settings.lifecycle_sweep_interval_s,
            "controlplane.billing.jobs.release_suspended_volumes",
        ),
        PeriodicTask(
            "check-custom-domains",
            settings.domain_check_interval_s,
            "controlplane.deployments.domain_jobs.check_domains",
        ),
        PeriodicTask(
            "purge-released-domains", 24 * 3600, "controlplane.deployments.domain_jobs.purge_released_domains"
        ),
        PeriodicTask(
            "prune-revisions", settings.revision_prune_interval_s, "controlplane.deployments.revisions.prune_revisions"
        ),
        PeriodicTask(
            "billing-recheck-deposits",
            settings.deposit_recheck_interval_s,
            "controlplane.billing.jobs.recheck_deposits",
        ),
    )


def enqueue_due(redis: Redis, queue: Queue, tasks: tuple[PeriodicTask, ...]) -> list[str]:
    """Enqueue every task whose interval has passed; returns the names enqueued."""
    enqueued = []
    for task in tasks:
        if redis.set(f"controlplane:scheduler:{task.name}", "1", nx=True, ex=task.interval_s):
            enqueue(queue, PendingJob(task.func, job_id=job_id("periodic", task.name)))
            enqueued.append(task.name)
    return enqueued


def run_scheduler(
    redis: Redis,
    queue: Queue,
    tasks: tuple[PeriodicTask, ...],
    tick_s: float = 1.0,
    stop: Callable[[], bool] | None = None,
) -> None:
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("scheduler stopping on signal %s", signum)
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    log.info("scheduler started with %d periodic tasks", len(tasks))
    while not stopping.is_set() and not (stop and stop()):
        for name in enqueue_due(redis, queue, tasks):
            log.info("enqueued periodic task %s", name)
        stopping.wait(tick_s)
