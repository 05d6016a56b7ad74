"""Jobs that the queue tests run in real RQ workers."""

from __future__ import annotations

from sqlalchemy.orm import Session

from controlplane.accounts.service import create_account
from controlplane.queue import PendingJob, enqueue_after_commit, job_id
from controlplane.runtime import get_runtime
from controlplane.worker.jobs import transactional_job


@transactional_job
def create_account_then(session: Session, fail: bool) -> str:
    account = create_account(session)
    enqueue_after_commit(session, PendingJob(record, (str(account.id),), job_id=job_id("record", account.id)))
    if fail:
        raise RuntimeError("the job failed after writing")
    return str(account.id)


def record(value: str) -> None:
    get_runtime().redis.rpush("test:recorded", value)
