from __future__ import annotations

from collections.abc import Callable

import pytest
from rq import Worker
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account
from controlplane.queue import FOLLOW_UP_SUFFIX, PendingJob, enqueue, enqueue_after_commit, job_id
from controlplane.runtime import Runtime
from tests.foundation import jobs_for_tests


def queued_ids(runtime: Runtime) -> list[str]:
    return list(runtime.queue.get_job_ids())


def test_job_ids_are_deterministic_and_rq_safe() -> None:
    assert job_id("reconcile", "ns/1:a") == "reconcile-ns_1_a"
    assert job_id("reconcile", "x") == job_id("reconcile", "x")


def test_jobs_are_pushed_only_after_commit(runtime: Runtime, committed: Callable[[], Session]) -> None:
    with committed() as session:
        enqueue_after_commit(session, PendingJob(jobs_for_tests.record, ("a",), job_id="after-commit"))
        session.flush()
        assert queued_ids(runtime) == []
        session.commit()
    assert queued_ids(runtime) == ["after-commit"]


def test_jobs_are_dropped_on_rollback(runtime: Runtime, committed: Callable[[], Session]) -> None:
    with committed() as session:
        enqueue_after_commit(session, PendingJob(jobs_for_tests.record, ("a",), job_id="rolled-back"))
        session.rollback()
        session.commit()
    assert queued_ids(runtime) == []


def test_same_id_in_one_transaction_is_collected_once(runtime: Runtime, committed: Callable[[], Session]) -> None:
    with committed() as session:
        for _ in range(3):
            enqueue_after_commit(session, PendingJob(jobs_for_tests.record, ("a",), job_id="once"))
        session.commit()
    assert queued_ids(runtime) == ["once"]


def test_waiting_job_absorbs_later_enqueues(runtime: Runtime) -> None:
    job = PendingJob(jobs_for_tests.record, ("x",), job_id="coalesce-me")
    assert enqueue(runtime.queue, job) is not None
    for _ in range(10):
        assert enqueue(runtime.queue, job) is None
    assert queued_ids(runtime) == ["coalesce-me"]


def test_running_job_gets_one_follow_up(runtime: Runtime) -> None:
    job = PendingJob(jobs_for_tests.record, ("x",), job_id="busy")
    pushed = enqueue(runtime.queue, job)
    assert pushed is not None
    pushed.set_status("started")  # as a worker would while running it
    runtime.queue.remove(pushed)
    for _ in range(5):
        enqueue(runtime.queue, job)
    assert queued_ids(runtime) == ["busy" + FOLLOW_UP_SUFFIX]


def test_finished_job_id_can_run_again(runtime: Runtime, committed: Callable[[], Session]) -> None:
    job = PendingJob(jobs_for_tests.record, ("first",), job_id="again")
    enqueue(runtime.queue, job)
    Worker([runtime.queue], connection=runtime.redis).work(burst=True)
    enqueue(runtime.queue, PendingJob(jobs_for_tests.record, ("second",), job_id="again"))
    Worker([runtime.queue], connection=runtime.redis).work(burst=True)
    assert runtime.redis.lrange("test:recorded", 0, -1) == [b"first", b"second"]


@pytest.mark.parametrize("fail", [False, True])
def test_job_wrapper_owns_the_transaction(runtime: Runtime, committed: Callable[[], Session], fail: bool) -> None:
    runtime.queue.enqueue(jobs_for_tests.create_account_then, fail)
    Worker([runtime.queue], connection=runtime.redis).work(burst=True)
    with committed() as session:
        accounts = session.scalar(select(func.count()).select_from(Account))
    # The follow-up job ran in the same burst when (and only when) the first one committed.
    recorded = runtime.redis.lrange("test:recorded", 0, -1)
    if fail:
        assert accounts == 0
        assert recorded == []
    else:
        assert accounts == 1
        assert len(recorded) == 1
