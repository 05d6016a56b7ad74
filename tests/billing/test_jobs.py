"""The periodic jobs as the scheduler runs them: by import path, with no arguments but an optional ISO ``now``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.accounts.service import create_account
from controlplane.billing import jobs, ledger
from controlplane.billing.models import EntrySource, LedgerEntry
from controlplane.runtime import Runtime
from controlplane.worker.scheduler import periodic_tasks
from tests.billing.helpers import AppSize, add_namespace


def test_billing_tasks_are_scheduled_and_importable(runtime: Runtime) -> None:
    tasks = {task.name: task for task in periodic_tasks(runtime.settings)}
    for name in ("billing-metering", "billing-release-volumes", "billing-recheck-deposits"):
        module, _, attribute = tasks[name].func.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attribute))
    assert tasks["billing-release-volumes"].func == "controlplane.billing.jobs.release_suspended_volumes"


def test_the_metering_job_charges_each_complete_hour_once(runtime: Runtime, committed: Callable[[], Session]) -> None:
    now = datetime(2031, 6, 1, 10, 5, tzinfo=UTC)
    with committed() as session:
        account = create_account(session)
        add_namespace(session, account.id, [AppSize(1, 500, 512, 2)], created_at=now - timedelta(days=1))
        ledger.credit(session, runtime.settings, account.id, 10**9, source=EntrySource.STRIPE, idempotency_key="t")
        session.commit()

    def usage_entries() -> int:
        with runtime.new_session() as session:
            return int(session.scalar(select(func.count()).where(LedgerEntry.kind == "usage")) or 0)

    assert jobs.meter_due_hours(now.isoformat()) == 1  # 09:00-10:00
    assert jobs.meter_due_hours(now.isoformat()) == 0
    assert jobs.meter_due_hours((now + timedelta(hours=3)).isoformat()) == 3  # 10:00 to 13:00, caught up
    assert usage_entries() == 4
    assert jobs.release_suspended_volumes(now.isoformat()) == 0
    assert jobs.recheck_deposits(now.isoformat()) == 0  # deposits are not configured here: nothing to do
