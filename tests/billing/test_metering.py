"""Hourly metering: one set-based pass, exact amounts per lifecycle state, idempotent per (account, hour)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.accounts.service import create_account
from controlplane.billing import ledger, metering
from controlplane.billing.ledger import SYNC_JOB
from controlplane.billing.models import EntrySource, LedgerEntry, MeteringRun
from controlplane.notifications.models import Notification
from controlplane.queue import pending_jobs
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.billing.conftest import Clock, Customer
from tests.billing.helpers import AppSize, add_namespace, balance_row, entries, ledger_sums

WEB = AppSize(replicas=2, cpu_millicores=250, memory_mib=256, volume_gib=5)
WORKER = AppSize(replicas=1, cpu_millicores=1000, memory_mib=1024)
DB = AppSize(replicas=3, cpu_millicores=500, memory_mib=512, volume_gib=10)
BIG_VOLUME = AppSize(replicas=1, cpu_millicores=100, memory_mib=128, volume_gib=20)


def fund(db: Session, settings: Settings, account_id: uuid.UUID, amount: int) -> None:
    ledger.credit(db, settings, account_id, amount, source=EntrySource.STRIPE, idempotency_key=f"t-{uuid.uuid4()}")


def test_the_formula_is_exact_integer_arithmetic(settings: Settings) -> None:
    # 0.5 vCPU at 30,000/h + 0.5 GiB at 4,000/h + 5 GiB at 100,000 per 730 h = 15,000 + 2,000 + 684.93...
    assert metering.hourly_cost(settings, cpu_millicores=500, memory_mib=512, volume_gib=5) == 17_684
    assert metering.hourly_cost(settings, 0, 0, 730) == 100_000
    assert metering.hourly_cost(settings, 0, 0, 0) == 0


def test_each_state_pays_for_what_it_holds(
    db: Session, settings: Settings, make_customer: Callable[..., Customer], clock: Clock
) -> None:
    busy, parked, idle = make_customer(), make_customer(), make_customer()
    before = clock.hour - timedelta(minutes=30)
    add_namespace(db, busy.id, [WEB, WORKER], created_at=before)  # active: compute and volumes
    add_namespace(db, busy.id, [DB], desired="suspended", observed="suspended", created_at=before)  # volumes
    add_namespace(db, busy.id, [BIG_VOLUME], desired="volumes_released", observed="volumes_released", created_at=before)
    add_namespace(db, busy.id, [BIG_VOLUME], desired="deleted", observed="active", created_at=before)
    add_namespace(db, busy.id, [BIG_VOLUME], observed=None, created_at=before)  # never applied yet
    add_namespace(db, busy.id, [BIG_VOLUME], desired="suspended", observed="active", created_at=before)  # suspending
    add_namespace(db, parked.id, [DB], desired="suspended", observed="suspended", created_at=before)
    add_namespace(db, idle.id, [BIG_VOLUME], desired="volumes_released", observed="volumes_released", created_at=before)
    for who in (busy, parked, idle):
        fund(db, settings, who.id, 10_000_000)

    result = metering.meter_hour(db, settings, clock.hour, now=clock.now)

    # Each namespace is priced on its own (rounded down), and the account pays the sum.
    busy_cost = (
        metering.hourly_cost(settings, cpu_millicores=2 * 250 + 1000, memory_mib=2 * 256 + 1024, volume_gib=5)
        + metering.hourly_cost(settings, 0, 0, 10)  # the suspended one's volume
        + metering.hourly_cost(settings, 0, 0, 20)  # the suspending one's volume
    )
    parked_cost = metering.hourly_cost(settings, 0, 0, 10)
    assert result.accounts == 2
    assert result.charged == busy_cost + parked_cost
    assert result.unpaid == 0
    [busy_entry] = entries(db, busy.id, kind="usage")
    assert busy_entry.amount == -busy_cost
    assert busy_entry.idempotency_key == metering.usage_key(clock.hour)
    assert busy_entry.details["vcpu_millicores"] == 1500
    assert busy_entry.details["memory_mib"] == 1536
    assert busy_entry.details["volume_gib"] == 35
    [parked_entry] = entries(db, parked.id, kind="usage")
    assert parked_entry.amount == -parked_cost
    assert entries(db, idle.id, kind="usage") == []
    assert balance_row(db, busy.id).balance == 10_000_000 - busy_cost
    assert balance_row(db, busy.id).hourly_cost == busy_cost


def test_running_the_same_hour_twice_charges_once(
    db: Session, settings: Settings, customer: Customer, clock: Clock
) -> None:
    add_namespace(db, customer.id, [WEB], created_at=clock.hour - timedelta(hours=2))
    fund(db, settings, customer.id, 1_000_000)
    first = metering.meter_hour(db, settings, clock.hour, now=clock.now)
    second = metering.meter_hour(db, settings, clock.hour, now=clock.now + timedelta(minutes=5))
    assert first.accounts == 1
    assert (second.accounts, second.charged) == (0, 0)
    assert len(entries(db, customer.id, kind="usage")) == 1
    cost = metering.hourly_cost(settings, 500, 512, 5)
    assert balance_row(db, customer.id).balance == 1_000_000 - cost
    runs = db.scalars(select(MeteringRun).where(MeteringRun.hour_start == clock.hour)).all()
    assert [(run.accounts, run.charged) for run in runs] == [(1, cost)]
    # The next hour is charged again.
    metering.meter_hour(db, settings, clock.hour + timedelta(hours=1), now=clock.now + timedelta(hours=1))
    assert balance_row(db, customer.id).balance == 1_000_000 - 2 * cost


def test_what_did_not_exist_in_the_hour_is_not_charged(
    db: Session, settings: Settings, customer: Customer, clock: Clock
) -> None:
    add_namespace(db, customer.id, [WEB], created_at=clock.hour + timedelta(hours=1, minutes=1))
    fund(db, settings, customer.id, 1_000_000)
    assert metering.meter_hour(db, settings, clock.hour, now=clock.now).accounts == 0


def test_an_hour_must_be_an_aware_whole_hour(db: Session, settings: Settings, clock: Clock) -> None:
    with pytest.raises(ValueError, match="on the hour"):
        metering.meter_hour(db, settings, clock.hour + timedelta(minutes=1))
    with pytest.raises(ValueError, match="on the hour"):
        metering.meter_hour(db, settings, clock.hour.replace(tzinfo=None))


def test_a_charge_is_capped_at_the_balance_and_an_account_at_zero_gets_the_lifecycle_job(
    db: Session, settings: Settings, make_customer: Callable[..., Customer], clock: Clock
) -> None:
    short, never_paid = make_customer(), make_customer()
    add_namespace(db, short.id, [WEB], created_at=clock.hour)
    add_namespace(db, never_paid.id, [WEB], created_at=clock.hour)
    fund(db, settings, short.id, 5_000)
    result = metering.meter_hour(db, settings, clock.hour, now=clock.now)
    cost = metering.hourly_cost(settings, 500, 512, 5)
    [entry] = entries(db, short.id, kind="usage")
    assert (entry.amount, entry.unpaid, entry.balance_after) == (-5_000, cost - 5_000, 0)
    [unpaid_entry] = entries(db, never_paid.id, kind="usage")
    assert (unpaid_entry.amount, unpaid_entry.unpaid) == (0, cost)
    assert ledger_sums(db, never_paid.id) == (0, cost)
    assert set(result.depleted) == {short.id, never_paid.id}
    assert (result.charged, result.unpaid) == (5_000, 2 * cost - 5_000)
    queued = {job.job_id: job for job in pending_jobs(db) if job.func == SYNC_JOB}
    assert set(queued) == {f"billing-sync-{short.id}", f"billing-sync-{never_paid.id}"}


def test_runway_notices_at_each_threshold_once_per_crossing(
    db: Session, settings: Settings, customer: Customer, clock: Clock
) -> None:
    add_namespace(db, customer.id, [WEB], created_at=clock.hour - timedelta(days=1))
    cost = metering.hourly_cost(settings, 500, 512, 5)
    assert settings.runway_notice_hours == [72, 24, 2]
    fund(db, settings, customer.id, 75 * cost)

    def meter(hours: int) -> None:
        for _ in range(hours):
            metering.meter_hour(db, settings, clock.hour, now=clock.now)
            clock.advance(hours=1)

    def notices() -> list[Notification]:
        stmt = (
            select(Notification)
            .where(Notification.account_id == customer.id, Notification.kind == metering.RUNWAY_NOTICE)
            .order_by(Notification.created_at)
        )
        return list(db.scalars(stmt).all())

    meter(3)  # 72 hours of usage left: not below yet
    assert notices() == []
    meter(1)  # 71 hours: below 72, told once
    [first] = notices()
    charged_hour_end = clock.hour  # the pass just made metered the hour ending here
    assert first.data["threshold_hours"] == 72
    assert (first.data["balance"], first.data["hourly_cost"], first.data["runway_hours"]) == (71 * cost, cost, 71)
    predicted = datetime.fromisoformat(first.data["suspension_at"])
    assert predicted == charged_hour_end + timedelta(hours=71)  # the pass that takes the last credit
    assert f"{predicted:%Y-%m-%d %H:%M} UTC" in first.body
    meter(46)  # 25 hours left: nothing new
    assert len(notices()) == 1
    meter(2)  # 23 hours: below 24
    assert [n.data["threshold_hours"] for n in notices()] == [72, 24]
    meter(20)  # 3 hours left
    assert len(notices()) == 2
    meter(2)  # 1 hour: below 2
    assert [n.data["threshold_hours"] for n in notices()] == [72, 24, 2]
    meter(1)  # zero: the suspension notice speaks (lifecycle), not another runway notice
    assert len(notices()) == 3

    # A top-up to 30 hours re-arms the 2-hour and 24-hour notices (the runway rose above them), not the 72-hour one.
    fund(db, settings, customer.id, 30 * cost + balance_row(db, customer.id).unpaid)
    meter(1)  # 29 hours: below 72 and above 24: already told about 72 in this descent
    assert len(notices()) == 3
    assert balance_row(db, customer.id).runway_notice_hours == 72
    meter(6)  # 23 hours: below 24 again, told again
    assert [n.data["threshold_hours"] for n in notices()] == [72, 24, 2, 24]


def test_a_runway_that_jumps_past_thresholds_is_told_once_for_the_lowest(
    db: Session, settings: Settings, customer: Customer, clock: Clock
) -> None:
    add_namespace(db, customer.id, [WEB], created_at=clock.hour - timedelta(days=1))
    cost = metering.hourly_cost(settings, 500, 512, 5)
    fund(db, settings, customer.id, 11 * cost)
    assert metering.meter_hour(db, settings, clock.hour, now=clock.now).runway_notices == 1
    [notice] = db.scalars(select(Notification).where(Notification.account_id == customer.id)).all()
    assert (notice.kind, notice.data["threshold_hours"], notice.data["runway_hours"]) == ("runway", 24, 10)


def test_due_hours_catch_up_within_the_window(db: Session, settings: Settings, clock: Clock) -> None:
    now = datetime(2031, 5, 4, 10, 20, tzinfo=UTC)
    assert metering.due_hours(db, settings, now=now) == [datetime(2031, 5, 4, 9, tzinfo=UTC)]
    metering.meter_hour(db, settings, datetime(2031, 5, 4, 6, tzinfo=UTC), now=now)
    assert metering.due_hours(db, settings, now=now) == [datetime(2031, 5, 4, hour, tzinfo=UTC) for hour in (7, 8, 9)]
    long_after = now + timedelta(days=3)
    due = metering.due_hours(db, settings, now=long_after)
    assert len(due) == settings.metering_max_catch_up_hours
    assert due[-1] == datetime(2031, 5, 7, 9, tzinfo=UTC)


def test_concurrent_passes_for_the_same_hour_charge_once(runtime: Runtime, committed: Callable[[], Session]) -> None:
    hour = datetime(2031, 1, 1, 12, tzinfo=UTC)
    with committed() as session:
        account_ids = []
        for _ in range(20):
            account = create_account(session)
            add_namespace(session, account.id, [WEB, DB], created_at=hour - timedelta(hours=1))
            fund(session, runtime.settings, account.id, 50_000_000)
            account_ids.append(account.id)
        session.commit()
    start = threading.Barrier(4)

    def run(_: int) -> int:
        start.wait()
        with runtime.transaction() as session:
            return metering.meter_hour(session, runtime.settings, hour, now=hour + timedelta(hours=1)).accounts

    with ThreadPoolExecutor(4) as pool:
        charged = sorted(pool.map(run, range(4)))
    assert charged == [0, 0, 0, 20]
    cost = metering.hourly_cost(runtime.settings, 500 + 1500, 512 + 1536, 15)
    with runtime.new_session() as session:
        usage = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "usage")).all()
        assert len(usage) == 20
        for account_id in account_ids:
            assert balance_row(session, account_id).balance == 50_000_000 - cost


def test_metering_races_top_ups_without_losing_either(runtime: Runtime, committed: Callable[[], Session]) -> None:
    hour = datetime(2031, 2, 1, 0, tzinfo=UTC)
    with committed() as session:
        account = create_account(session)
        add_namespace(session, account.id, [WEB, WORKER], created_at=hour - timedelta(hours=1))
        account_id = account.id
        session.commit()
    cost = metering.hourly_cost(runtime.settings, 1500, 1536, 5)

    def pass_for(index: int) -> None:
        with runtime.transaction() as session:
            metering.meter_hour(session, runtime.settings, hour + timedelta(hours=index), now=hour)

    def top_up(index: int) -> None:
        with runtime.transaction() as session:
            ledger.credit(
                session, runtime.settings, account_id, cost // 3, source=EntrySource.STRIPE,
                idempotency_key=f"t{index}",
            )  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(pass_for, index) for index in range(12)]
        futures += [pool.submit(top_up, index) for index in range(30)]
        for future in futures:
            future.result()
    with runtime.new_session() as session:
        row = balance_row(session, account_id)
        assert ledger_sums(session, account_id) == (row.balance, row.unpaid)
        net = 30 * (cost // 3) - 12 * cost
        assert (row.balance, row.unpaid) == (max(net, 0), max(-net, 0))
        assert min(entry.balance_after for entry in entries(session, account_id)) >= 0


def test_the_balance_shows_the_current_hourly_cost(
    client: TestClient, db: Session, settings: Settings, customer: Customer
) -> None:
    add_namespace(db, customer.id, [WEB, WORKER])
    add_namespace(db, customer.id, [DB], desired="suspended", observed="suspended")
    add_namespace(db, customer.id, [BIG_VOLUME], observed=None)  # not applied yet: its price is known at once
    fund(db, settings, customer.id, 1_000_000)
    body = client.get("/v1/billing/balance", headers=customer.headers).json()
    cost = (
        metering.hourly_cost(settings, 1500, 1536, 5)
        + metering.hourly_cost(settings, 0, 0, 10)
        + metering.hourly_cost(settings, 100, 128, 20)
    )
    assert body["hourly_cost"] == cost
    assert body["hours_left"] == 1_000_000 // cost == 16
    assert body["low_balance"] is True  # fewer than 72 hours (the first runway notice) left


def test_a_pass_over_an_account_with_centuries_of_runway_charges_and_tells_nothing(
    db: Session, settings: Settings, customer: Customer, clock: Clock
) -> None:
    tiny = AppSize(replicas=1, cpu_millicores=1, memory_mib=1)  # about 30 micro-credits an hour
    add_namespace(db, customer.id, [tiny], created_at=clock.hour - timedelta(days=1))
    fund(db, settings, customer.id, 2**40)
    result = metering.meter_hour(db, settings, clock.hour, now=clock.now)
    assert (result.accounts, result.runway_notices) == (1, 0)
    assert result.charged == metering.hourly_cost(settings, 1, 1, 0) > 0
