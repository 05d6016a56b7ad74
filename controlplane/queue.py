"""RQ plumbing: jobs are pushed only once the transaction that asked for them has committed.

A service calls :func:`enqueue_after_commit` with the session it works in. The jobs wait in ``session.info`` and are
pushed by the session's ``after_commit`` event, or dropped by a rollback, so a worker never looks for a row
that does not exist yet.

Job ids are deterministic per target (``reconcile-<namespace id>``). Enqueueing an id that already waits in the
queue is absorbed (coalesced); when the job with that id is running, a follow-up id takes the request so that a
change made during a run is never lost.

Work has priorities: separate queues, which workers serve in the order of :data:`WORKER_QUEUES` (RQ takes from
the first non-empty queue of its list). A job id is one job whatever its queue: enqueueing an id that waits in a
queue of lower priority moves it to the higher one (:func:`_promote`), so a namespace queued by a rollout that
then gets a suspension runs once, and ahead of the rollout.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

LIFECYCLE_QUEUE = "lifecycle"  # suspend, resume, release volumes, delete: money and safety
DEFAULT_QUEUE = "default"  # short jobs: billing, periodic sweeps, rollout planning
TENANT_QUEUE = "tenant"  # a tenant's edits and previews
FLEET_QUEUE = "fleet"  # rollouts, drift checks, resyncs
WORKER_QUEUES = (LIFECYCLE_QUEUE, DEFAULT_QUEUE, TENANT_QUEUE, FLEET_QUEUE)  # highest priority first
PENDING_JOBS_KEY = "controlplane.pending_jobs"
_QUEUE_KEY = "controlplane.queue"
_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
FOLLOW_UP_SUFFIX = "-next"


def job_id(kind: str, *parts: object) -> str:
    """A deterministic RQ job id: RQ allows only letters, digits, ``_`` and ``-``."""
    raw = "-".join([kind, *(str(part) for part in parts)])
    return _JOB_ID_UNSAFE.sub("_", raw)


@dataclass(frozen=True)
class PendingJob:
    func: Callable[..., Any] | str
    args: tuple[Any, ...] = ()
    job_id: str | None = None
    timeout_s: int = 900
    options: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None  # a queue of WORKER_QUEUES; None: the queue the caller pushes to


def bind_queue(session: Session, queue: Queue) -> None:
    """Name the queue that jobs collected in this session go to once it commits."""
    session.info[_QUEUE_KEY] = queue


def enqueue_after_commit(session: Session, job: PendingJob) -> None:
    if not session.in_transaction():
        session.begin()  # so that a rollback, even with no SQL run yet, drops the job
    pending: list[PendingJob] = session.info.setdefault(PENDING_JOBS_KEY, [])
    for index, collected in enumerate(pending):
        if job.job_id is not None and collected.job_id == job.job_id:
            if _rank(job) < _rank(collected):  # one job, in the most urgent queue asked for
                pending[index] = job
            return
    pending.append(job)


def _rank(job: PendingJob) -> int:
    return priority(job.queue or DEFAULT_QUEUE)


def pending_jobs(session: Session) -> Sequence[PendingJob]:
    return tuple(session.info.get(PENDING_JOBS_KEY, ()))


@event.listens_for(Session, "after_commit")
def _push_pending_jobs(session: Session) -> None:
    jobs: list[PendingJob] = session.info.pop(PENDING_JOBS_KEY, [])
    queue: Queue | None = session.info.get(_QUEUE_KEY)
    if not jobs:
        return
    if queue is None:
        raise RuntimeError("jobs were collected in a session with no queue bound (call bind_queue)")
    for job in jobs:
        enqueue(queue, job)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_jobs(session: Session, previous_transaction: SessionTransaction) -> None:
    # Fires on every rollback, even of a transaction that never began; a savepoint's keeps the jobs.
    if previous_transaction.parent is None:
        session.info.pop(PENDING_JOBS_KEY, None)


def enqueue(queue: Queue, job: PendingJob) -> Job | None:
    """Push a job now; with a job id, coalesce into a waiting job of that id. Returns None when absorbed."""
    if job.queue is not None and job.queue != queue.name:
        queue = Queue(job.queue, connection=queue.connection)
    if job.job_id is None:
        return queue.enqueue(cast(Any, job.func), *job.args, job_timeout=job.timeout_s, **job.options)
    for candidate in (job.job_id, job.job_id + FOLLOW_UP_SUFFIX):
        pushed, absorbed = _enqueue_unique(queue, job, candidate)
        if pushed is not None or absorbed:
            return pushed
    # Both ids are running: the second one takes its lock after the first and then reads the newest state.
    log.info("job %s and its follow-up are both running; request absorbed", job.job_id)
    return None


def priority(queue_name: str) -> int:
    """0 for the first queue workers serve; unknown queues come last."""
    return WORKER_QUEUES.index(queue_name) if queue_name in WORKER_QUEUES else len(WORKER_QUEUES)


def _enqueue_unique(queue: Queue, job: PendingJob, candidate_id: str) -> tuple[Job | None, bool]:
    for _attempt in range(3):
        status, origin = _status_of(queue.connection, candidate_id)
        if status in _WAITING:
            # The common case under a burst of edits, in one round trip: the waiting job will read the newest
            # state. Waiting behind lower-priority work, it moves up first.
            if status != JobStatus.QUEUED or origin is None or priority(origin) <= priority(queue.name):
                return None, True
            if _promote(queue, candidate_id, origin):
                return None, True
            continue  # a worker took it meanwhile: look again
        try:
            pushed = queue.enqueue(
                cast(Any, job.func),
                *job.args,
                job_id=candidate_id,
                unique=True,
                job_timeout=job.timeout_s,
                result_ttl=0,
                failure_ttl=24 * 3600,
                **job.options,
            )
            return pushed, False
        except DuplicateJobError:
            status, _origin = _status_of(queue.connection, candidate_id)
            if status in _WAITING:
                continue
            if status == JobStatus.STARTED:
                return None, False
            _delete_job(queue.connection, candidate_id)
    return None, False


# Moves a waiting job from one queue's list to another's, or does nothing when a worker took it first.
_PROMOTE = """
if redis.call('lrem', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('hset', KEYS[3], 'origin', ARGV[2])
redis.call('sadd', KEYS[4], KEYS[2])
redis.call('rpush', KEYS[2], ARGV[1])
return 1
"""


def _promote(queue: Queue, candidate_id: str, origin: str) -> bool:
    """Move the waiting job ``candidate_id`` from the queue ``origin`` to ``queue`` (higher priority)."""
    source = Queue(origin, connection=queue.connection)
    keys = (source.key, queue.key, Job.key_for(candidate_id), Queue.redis_queues_keys)
    moved = queue.connection.eval(_PROMOTE, len(keys), *keys, candidate_id, queue.name)
    if moved:
        log.info("job %s moved from the %s queue to the %s queue", candidate_id, origin, queue.name)
    return bool(moved)


def withdraw(connection: Redis, queue_name: str, candidate_id: str) -> bool:
    """Take a job that still waits in ``queue_name`` out of it and delete it; False when it is not waiting there
    (a worker took it, or it never was)."""
    if not connection.lrem(Queue(queue_name, connection=connection).key, 1, candidate_id):
        return False
    _delete_job(connection, candidate_id)
    return True


def waiting(connection: Redis, candidate_id: str) -> bool:
    """The job (or its follow-up) waits to run: queued, scheduled or deferred."""
    return any(_status_of(connection, i)[0] in _WAITING for i in (candidate_id, candidate_id + FOLLOW_UP_SUFFIX))


def _status_of(connection: Redis, candidate_id: str) -> tuple[JobStatus | None, str | None]:
    status, origin = connection.hmget(Job.key_for(candidate_id), ["status", "origin"])
    return (
        None if status is None else JobStatus(_text(status)),
        None if origin is None else _text(origin),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _delete_job(connection: Redis, candidate_id: str) -> None:
    with contextlib.suppress(NoSuchJobError):
        Job.fetch(candidate_id, connection=connection).delete()
