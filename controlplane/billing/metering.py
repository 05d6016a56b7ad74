"""Hourly metering: one set-based pass charges every account for what its namespaces declared in that hour.

What is charged (a namespace pays for a resource only while it is both declared *and* applied, so a user never
pays for the platform's lag, in either direction):

- compute (vCPU and memory, ``cpu_millicores x replicas``, ``memory_mib x replicas``): namespaces whose
  ``desired_state`` and ``observed_state`` are both ``active``;
- volumes (``volume_size_gib``, one volume per app whatever its replicas): namespaces whose ``desired_state`` and
  ``observed_state`` are both ``active`` or ``suspended`` (a suspended namespace keeps its volumes);
- nothing for ``volumes_released``, ``deleted``, or a namespace never applied yet (``observed_state`` NULL);
- only namespaces and apps created before the hour ended; the declaration read is the one at the time of the
  pass (configurations are not versioned by hour).

Per account and hour: ``cost = floor((vcpu_mc * P_cpu / 1000) + (mem_mib * P_mem / 1024) + (vol_gib * P_vol / H))``
in micro-credits, computed exactly in NUMERIC (P_cpu per vCPU-hour, P_mem per GiB-hour, P_vol per GiB-month of
H hours) and rounded down once per account and hour.

The pass, in one transaction: (1) create missing balance rows, (2) lock the balance rows of every account with
running namespaces in id order (a top-up or a concurrent pass waits, never interleaves), (3) one
``INSERT ... SELECT ... GROUP BY account`` statement whose CTEs price the usage, insert one ledger entry per
account with ``ON CONFLICT (billing_account_id, idempotency_key) DO NOTHING`` (key ``usage:<hour>``), apply the
inserted entries to the balances (capped at the balance, the rest unpaid), and write the low-balance notices for
accounts that just crossed the threshold. Running it again for the same hour inserts nothing and changes nothing.
Accounts that reached zero get the lifecycle job, queued after the commit.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from controlplane.billing.ledger import sync_job
from controlplane.billing.models import MeteringRun
from controlplane.db import utcnow
from controlplane.queue import enqueue_after_commit
from controlplane.settings import Settings

log = logging.getLogger(__name__)

_METERING_LOCK = 727_275  # pg_advisory_xact_lock key: one metering pass at a time
_HOUR = timedelta(hours=1)

_COMPUTE = "n.desired_state = 'active' AND n.observed_state = 'active'"
_RUNNING = "n.desired_state IN ('active', 'suspended') AND n.observed_state IN ('active', 'suspended')"


def _usage_sql(extra_where: str) -> str:
    """Per account: the declared vCPU millicores, memory MiB (both x replicas, active only) and volume GiB."""
    return f"""
        SELECT n.account_id,
               coalesce(sum(a.replicas::bigint * a.cpu_millicores) FILTER (WHERE {_COMPUTE}), 0) AS cpu_millicores,
               coalesce(sum(a.replicas::bigint * a.memory_mib) FILTER (WHERE {_COMPUTE}), 0) AS memory_mib,
               coalesce(sum(a.volume_size_gib::bigint), 0) AS volume_gib,
               count(*) AS apps
        FROM namespaces n
        JOIN apps a ON a.namespace_id = n.id
        WHERE n.account_id IS NOT NULL AND {_RUNNING} {extra_where}
        GROUP BY n.account_id
    """  # noqa: S608 (constant fragments only; values are bound parameters)


_COST_SQL = (
    "div(u.cpu_millicores::numeric * :cpu_factor + u.memory_mib::numeric * :memory_factor"
    " + u.volume_gib::numeric * :volume_factor, :divisor)::bigint"
)

_ENSURE_ACCOUNTS = text(
    f"""
    INSERT INTO billing_accounts (id, account_id, balance, unpaid, hourly_cost, created_at, updated_at)
    SELECT gen_random_uuid(), s.account_id, 0, 0, 0, :now, :now
    FROM (SELECT DISTINCT n.account_id FROM namespaces n
          WHERE n.account_id IS NOT NULL AND {_RUNNING} AND n.created_at < :hour_end) s
    WHERE NOT EXISTS (SELECT 1 FROM billing_accounts b WHERE b.account_id = s.account_id)
    ON CONFLICT (account_id) DO NOTHING
    """  # noqa: S608
)

_LOCK_ACCOUNTS = text(
    f"""
    SELECT count(*) FROM (
        SELECT b.id FROM billing_accounts b
        WHERE b.account_id IN (SELECT n.account_id FROM namespaces n
                               WHERE n.account_id IS NOT NULL AND {_RUNNING} AND n.created_at < :hour_end)
        ORDER BY b.id
        FOR UPDATE OF b
    ) locked
    """  # noqa: S608
)

_CHARGE = text(
    f"""
    WITH usage AS ({_usage_sql("AND n.created_at < :hour_end AND a.created_at < :hour_end")}),
    priced AS (
        SELECT b.id AS billing_account_id, b.account_id, b.balance, b.low_balance_notified_at,
               u.cpu_millicores, u.memory_mib, u.volume_gib, u.apps, {_COST_SQL} AS cost
        FROM usage u
        JOIN billing_accounts b ON b.account_id = u.account_id
    ),
    charges AS (
        SELECT p.*, least(p.cost, p.balance) AS taken FROM priced p WHERE p.cost > 0
    ),
    entries AS (
        INSERT INTO billing_ledger_entries
            (id, billing_account_id, account_id, kind, source, amount, unpaid, balance_after,
             idempotency_key, reference, details, created_at)
        SELECT gen_random_uuid(), c.billing_account_id, c.account_id, 'usage', 'metering', -c.taken,
               c.cost - c.taken, c.balance - c.taken, :idempotency_key, :reference,
               json_build_object('period_start', CAST(:period_start AS text),
                                 'period_end', CAST(:period_end AS text),
                                 'vcpu_millicores', c.cpu_millicores, 'memory_mib', c.memory_mib,
                                 'volume_gib', c.volume_gib, 'apps', c.apps, 'cost', c.cost,
                                 'unpaid', c.cost - c.taken),
               :now
        FROM charges c
        ON CONFLICT (billing_account_id, idempotency_key) DO NOTHING
        RETURNING billing_account_id
    ),
    updated AS (
        UPDATE billing_accounts b
        SET balance = b.balance - c.taken,
            unpaid = b.unpaid + (c.cost - c.taken),
            hourly_cost = c.cost,
            updated_at = :now,
            low_balance_notified_at = CASE
                WHEN b.balance - c.taken > 0 AND b.balance - c.taken < c.cost * :low_hours
                    THEN coalesce(b.low_balance_notified_at, :now)
                WHEN b.balance - c.taken >= c.cost * :low_hours THEN NULL
                ELSE b.low_balance_notified_at
            END
        FROM entries e
        JOIN charges c ON c.billing_account_id = e.billing_account_id
        WHERE b.id = e.billing_account_id
        RETURNING b.account_id, b.balance, c.cost, c.taken, c.apps,
                  (b.balance > 0 AND b.balance < c.cost * :low_hours AND c.low_balance_notified_at IS NULL)
                      AS low_balance
    ),
    notices AS (
        INSERT INTO notifications (id, account_id, kind, title, body, data, created_at)
        SELECT gen_random_uuid(), u.account_id, 'low_balance', 'Your balance is running low',
               format('Your balance covers about %s more hour(s) of your current usage. Top up to keep your '
                      'namespaces running: at zero they are suspended, and their volumes are deleted '
                      '%s hour(s) later.', u.balance / u.cost, CAST(:release_hours AS integer)),
               json_build_object('balance', u.balance, 'hourly_cost', u.cost, 'hours_left', u.balance / u.cost),
               :now
        FROM updated u
        WHERE u.low_balance AND u.account_id IS NOT NULL
        RETURNING 1
    )
    SELECT u.account_id, u.balance, u.cost, u.taken, u.apps, u.low_balance,
           (SELECT count(*) FROM notices) AS notices
    FROM updated u
    """  # noqa: S608
)

_ESTIMATE = text(
    f"""
    WITH usage AS ({_usage_sql("AND n.account_id = :account_id")})
    SELECT u.cpu_millicores, u.memory_mib, u.volume_gib, {_COST_SQL} AS cost FROM usage u
    """  # noqa: S608
)


@dataclass(frozen=True)
class MeteringResult:
    hour_start: datetime
    accounts: int  # accounts charged by this pass (0 when the hour had been metered)
    apps: int
    charged: int  # micro-credits taken from balances
    unpaid: int  # micro-credits that balances could not cover
    low_balance_notices: int
    depleted: list[uuid.UUID] = field(default_factory=list)  # accounts at zero after the charge


@dataclass(frozen=True)
class Usage:
    cpu_millicores: int
    memory_mib: int
    volume_gib: int
    cost: int  # micro-credits per hour


def price_params(settings: Settings) -> dict[str, int]:
    """Integer factors over one common divisor, so the whole price is exact until the final floor."""
    hours = settings.hours_per_month
    return {
        "cpu_factor": settings.price_vcpu_hour * 1024 * hours,
        "memory_factor": settings.price_memory_gib_hour * 1000 * hours,
        "volume_factor": settings.price_volume_gib_month * 1000 * 1024,
        "divisor": 1000 * 1024 * hours,
    }


def hourly_cost(settings: Settings, cpu_millicores: int, memory_mib: int, volume_gib: int) -> int:
    """The same formula in Python (for estimates and tests): micro-credits per hour, rounded down."""
    p = price_params(settings)
    numerator = cpu_millicores * p["cpu_factor"] + memory_mib * p["memory_factor"] + volume_gib * p["volume_factor"]
    return numerator // p["divisor"]


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def usage_key(hour_start: datetime) -> str:
    return f"usage:{hour_start.astimezone(UTC):%Y-%m-%dT%H}Z"


def meter_hour(
    session: Session, settings: Settings, hour_start: datetime, *, now: datetime | None = None
) -> MeteringResult:
    """Charge every account for the hour starting at ``hour_start`` (UTC, on the hour). Idempotent."""
    if hour_start.tzinfo is None or hour_floor(hour_start) != hour_start:
        raise ValueError(f"hour_start must be an aware datetime on the hour, not {hour_start!r}")
    now = now or utcnow()
    hour_end = hour_start + _HOUR
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _METERING_LOCK})
    session.execute(_ENSURE_ACCOUNTS, {"now": now, "hour_end": hour_end})
    session.execute(_LOCK_ACCOUNTS, {"hour_end": hour_end})
    rows = session.execute(
        _CHARGE,
        {
            **price_params(settings),
            "hour_end": hour_end,
            "idempotency_key": usage_key(hour_start),
            "reference": usage_key(hour_start).removeprefix("usage:"),
            "period_start": hour_start.isoformat(),
            "period_end": hour_end.isoformat(),
            "low_hours": settings.low_balance_hours,
            "release_hours": settings.volume_release_after_hours,
            "now": now,
        },
    ).all()
    depleted = [row.account_id for row in rows if row.balance == 0 and row.account_id is not None]
    for account_id in depleted:
        enqueue_after_commit(session, sync_job(account_id, now))
    result = MeteringResult(
        hour_start=hour_start,
        accounts=len(rows),
        apps=sum(int(row.apps) for row in rows),
        charged=sum(int(row.taken) for row in rows),
        unpaid=sum(int(row.cost) - int(row.taken) for row in rows),
        low_balance_notices=int(rows[0].notices) if rows else 0,
        depleted=depleted,
    )
    session.execute(
        pg_insert(MeteringRun)
        .values(
            hour_start=hour_start,
            accounts=result.accounts,
            charged=result.charged,
            unpaid=result.unpaid,
            ran_at=now,
        )
        .on_conflict_do_nothing(index_elements=[MeteringRun.hour_start])
    )
    log.info(
        "metered %s: %d accounts, %d apps, %d charged, %d unpaid, %d at zero",
        hour_start.isoformat(),
        result.accounts,
        result.apps,
        result.charged,
        result.unpaid,
        len(depleted),
    )
    return result


def due_hours(session: Session, settings: Settings, *, now: datetime | None = None) -> list[datetime]:
    """Complete hours not yet metered, oldest first: from the hour after the last pass (or the last complete
    hour, on the first run), at most ``metering_max_catch_up_hours`` back."""
    now = now or utcnow()
    last_complete = hour_floor(now) - _HOUR
    last_run = session.scalar(select(func.max(MeteringRun.hour_start)))
    start = last_complete if last_run is None else last_run + _HOUR
    oldest = last_complete - _HOUR * (settings.metering_max_catch_up_hours - 1)
    if start < oldest:
        log.warning("metering skipped the hours from %s to %s (older than the catch-up window)", start, oldest)
        start = oldest
    hours = []
    while start <= last_complete:
        hours.append(start)
        start += _HOUR
    return hours


def estimate(session: Session, settings: Settings, account_id: uuid.UUID) -> Usage:
    """What the account's current declaration costs per hour (the same pricing as the pass)."""
    row = session.execute(_ESTIMATE, {**price_params(settings), "account_id": account_id}).one_or_none()
    if row is None:
        return Usage(0, 0, 0, 0)
    return Usage(int(row.cpu_millicores), int(row.memory_mib), int(row.volume_gib), int(row.cost))
