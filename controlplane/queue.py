"""RQ plumbing: jobs are pushed only once the transaction that asked for them has committed.

A service calls :func:`enqueue_after_commit` with the session it works in. The jobs wait in ``session.info`` and are
pushed by the session's ``after_commit`` event, or dropped by a rollback, so a worker never looks for a row
that does not exist yet.

Job ids are deterministic per target (``reconcile-<namespace id>``). Enqueueing an id that already waits in the
queue is absorbed (coalesced); when the job with that id is running, a follow-up id takes the request so that a
change made during a run is never lost.
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

DEFAULT_QUEUE = "default"
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


def bind_queue(session: Session, queue: Queue) -> None:
    """Name the queue that jobs collected in this session go to once it commits."""
    session.info[_QUEUE_KEY] = queue


def enqueue_after_commit(session: Session, job: PendingJob) -> None:
    if not session.in_transaction():
        session.begin()  # so that a rollback, even with no SQL run yet, drops the job
    pending: list[PendingJob] = session.info.setdefault(PENDING_JOBS_KEY, [])
    if job.job_id is None or all(p.job_id != job.job_id for p in pending):
        pending.append(job)


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
    if job.job_id is None:
        return queue.enqueue(cast(Any, job.func), *job.args, job_timeout=job.timeout_s, **job.options)
    for candidate in (job.job_id, job.job_id + FOLLOW_UP_SUFFIX):
        pushed, absorbed = _enqueue_unique(queue, job, candidate)
        if pushed is not None or absorbed:
            return pushed
    # Both ids are running: the second one takes its lock after the first and then reads the newest state.
    log.info("job %s and its follow-up are both running; request absorbed", job.job_id)
    return None


def _enqueue_unique(queue: Queue, job: PendingJob, candidate_id: str) -> tuple[Job | None, bool]:
    if _status_of(queue.connection, candidate_id) in _WAITING:
        # The common case under a burst of edits, in one round trip: the waiting job will read the newest state.
        return None, True
    for _attempt in range(2):
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
            status = _status_of(queue.connection, candidate_id)
            if status in _WAITING:
                return None, True
            if status == JobStatus.STARTED:
                return None, False
            _delete_job(queue.connection, candidate_id)
    return None, False


def _status_of(connection: Redis, candidate_id: str) -> JobStatus | None:
    status = connection.hget(Job.key_for(candidate_id), "status")
    return None if status is None else JobStatus(status.decode() if isinstance(status, bytes) else status)


def _delete_job(connection: Redis, candidate_id: str) -> None:
    with contextlib.suppress(NoSuchJobError):
        Job.fetch(candidate_id, connection=connection).delete()
