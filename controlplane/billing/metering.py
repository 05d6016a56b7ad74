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

The price is ``billing.prices.hourly_price``, the function every shown price uses: the statement below is built
from it. Each namespace's hour is priced and rounded down on its own, and an account pays the sum, so the charge
for an hour equals the sum of the ``hourly_cost`` its applied namespaces show.

The pass, in one transaction: (1) create missing balance rows, (2) lock the balance rows of every account with
running namespaces in id order (a top-up or a concurrent pass waits, never interleaves), (3) one
``INSERT ... SELECT ... GROUP BY account`` statement whose CTEs price the usage, insert one ledger entry per
account with ``ON CONFLICT (billing_account_id, idempotency_key) DO NOTHING`` (key ``usage:<hour>``), apply the
inserted entries to the balances (capped at the balance, the rest unpaid), and write the runway notices.
Running it again for the same hour inserts nothing and changes nothing. Accounts that reached zero get the
lifecycle job, queued after the commit.

Runway notices: the runway is the balance after the charge over the hour's cost. An account is told when its runway
falls below one of ``runway_notice_hours`` (72, 24, 2) that it had not been told about in this descent
(``billing_accounts.runway_notice_hours`` holds the lowest threshold below the runway at the last pass; a pass that
finds the runway higher again, after a top-up or a cheaper declaration, raises it, which re-arms the thresholds in
between). A runway that jumps past several thresholds in one hour is told once, for the lowest. At zero the
suspension notice speaks instead. The notice predicts the suspension: the end of the hour whose charge empties the
balance, ``period_end + ceil(balance / cost)`` hours.
"""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import TextClause, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from controlplane.billing.ledger import sync_job
from controlplane.billing.models import MeteringRun
from controlplane.billing.prices import COMPUTE_STATES, VOLUME_STATES, PriceList, cost_sql, hourly_price, states_sql
from controlplane.db import utcnow
from controlplane.queue import enqueue_after_commit
from controlplane.settings import Settings

log = logging.getLogger(__name__)

_METERING_LOCK = 727_275  # pg_advisory_xact_lock key: one metering pass at a time
_HOUR = timedelta(hours=1)

RUNWAY_NOTICE = "runway"

_COMPUTE = f"{states_sql('n.desired_state', COMPUTE_STATES)} AND {states_sql('n.observed_state', COMPUTE_STATES)}"
_RUNNING = f"{states_sql('n.desired_state', VOLUME_STATES)} AND {states_sql('n.observed_state', VOLUME_STATES)}"


def _usage_sql(prices: PriceList, extra_where: str) -> str:
    """Per account: the declared vCPU millicores, memory MiB (both x replicas, active only) and volume GiB, and the
    cost: each namespace priced on its own (``hourly_price``), summed."""
    namespace_cost = cost_sql(prices, "ns.cpu_millicores", "ns.memory_mib", "ns.volume_gib")
    return f"""
        SELECT ns.account_id,
               sum(ns.cpu_millicores) AS cpu_millicores, sum(ns.memory_mib) AS memory_mib,
               sum(ns.volume_gib) AS volume_gib, sum(ns.apps) AS apps, sum({namespace_cost}) AS cost
        FROM (
            SELECT n.account_id,
                   coalesce(sum(a.replicas::bigint * a.cpu_millicores) FILTER (WHERE {_COMPUTE}), 0) AS cpu_millicores,
                   coalesce(sum(a.replicas::bigint * a.memory_mib) FILTER (WHERE {_COMPUTE}), 0) AS memory_mib,
                   coalesce(sum(a.volume_size_gib::bigint), 0) AS volume_gib,
                   count(*) AS apps
            FROM namespaces n
            JOIN apps a ON a.namespace_id = n.id
            WHERE n.account_id IS NOT NULL AND {_RUNNING} {extra_where}
            GROUP BY n.account_id, n.id
        ) ns
        GROUP BY ns.account_id
    """  # noqa: S608 (constant fragments and integer prices only; values are bound parameters)


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


@functools.lru_cache(maxsize=8)
def _charge_statement(prices: PriceList) -> TextClause:
    return text(
        f"""
    WITH usage AS ({_usage_sql(prices, "AND n.created_at < :hour_end AND a.created_at < :hour_end")}),
    priced AS (
        SELECT b.id AS billing_account_id, b.account_id, b.balance, b.runway_notice_hours AS notified_hours,
               u.cpu_millicores, u.memory_mib, u.volume_gib, u.apps, u.cost::bigint AS cost
        FROM usage u
        JOIN billing_accounts b ON b.account_id = u.account_id
    ),
    charges AS (
        SELECT p.*, least(p.cost, p.balance) AS taken, p.balance - least(p.cost, p.balance) AS balance_after
        FROM priced p WHERE p.cost > 0
    ),
    runways AS (
        -- The lowest notice threshold above the runway left after the charge (NULL: above them all).
        SELECT c.billing_account_id,
               (SELECT min(t) FROM unnest(CAST(:notice_hours AS integer[])) AS t
                WHERE c.balance_after < c.cost * t) AS below_hours
        FROM charges c
    ),
    entries AS (
        INSERT INTO billing_ledger_entries
            (id, billing_account_id, account_id, kind, source, amount, unpaid, balance_after,
             idempotency_key, reference, details, created_at)
        SELECT gen_random_uuid(), c.billing_account_id, c.account_id, 'usage', 'metering', -c.taken,
               c.cost - c.taken, c.balance_after, :idempotency_key, :reference,
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
        SET balance = c.balance_after,
            unpaid = b.unpaid + (c.cost - c.taken),
            hourly_cost = c.cost,
            updated_at = :now,
            runway_notice_hours = r.below_hours
        FROM entries e
        JOIN charges c ON c.billing_account_id = e.billing_account_id
        JOIN runways r ON r.billing_account_id = e.billing_account_id
        WHERE b.id = e.billing_account_id
        RETURNING b.account_id, b.balance, c.cost, c.taken, c.apps, r.below_hours,
                  (b.balance > 0 AND r.below_hours IS NOT NULL
                   AND (c.notified_hours IS NULL OR r.below_hours < c.notified_hours)) AS crossed
    ),
    notices AS (
        INSERT INTO notifications (id, account_id, kind, title, body, data, created_at)
        SELECT gen_random_uuid(), u.account_id, '{RUNWAY_NOTICE}',
               format('Your balance lasts less than %s hours', u.below_hours),
               format('At your current usage (%s micro-credits per hour) your balance lasts about %s more hour(s): '
                      'your namespaces are suspended at zero, predicted at %s UTC, and their volumes are deleted '
                      '%s hour(s) later. Top up to keep them running.',
                      u.cost, u.balance / u.cost,
                      to_char(s.suspension_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
                      CAST(:release_hours AS integer)),
               json_build_object('threshold_hours', u.below_hours, 'balance', u.balance, 'hourly_cost', u.cost,
                                 'runway_hours', u.balance / u.cost, 'suspension_at', s.suspension_at),
               :now
        FROM updated u
        CROSS JOIN LATERAL (
            -- Capped so that no plan evaluating this for an account with years of runway can overflow.
            SELECT CAST(:period_end_at AS timestamptz)
                   + make_interval(hours => CAST(least(ceil(u.balance::numeric / u.cost), 1000000) AS integer))
                   AS suspension_at
        ) s
        WHERE u.crossed AND u.account_id IS NOT NULL
        RETURNING 1
    )
    SELECT u.account_id, u.balance, u.cost, u.taken, u.apps, u.crossed,
           (SELECT count(*) FROM notices) AS notices
    FROM updated u
    """  # noqa: S608
    )


@dataclass(frozen=True)
class MeteringResult:
    hour_start: datetime
    accounts: int  # accounts charged by this pass (0 when the hour had been metered)
    apps: int
    charged: int  # micro-credits taken from balances
    unpaid: int  # micro-credits that balances could not cover
    runway_notices: int
    depleted: list[uuid.UUID] = field(default_factory=list)  # accounts at zero after the charge


def hourly_cost(settings: Settings, cpu_millicores: int, memory_mib: int, volume_gib: int) -> int:
    """The price of this usage for one namespace-hour (``prices.hourly_price`` with the settings' prices)."""
    return hourly_price(PriceList.of(settings), cpu_millicores, memory_mib, volume_gib)


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
        _charge_statement(PriceList.of(settings)),
        {
            "hour_end": hour_end,
            "idempotency_key": usage_key(hour_start),
            "reference": usage_key(hour_start).removeprefix("usage:"),
            "period_start": hour_start.isoformat(),
            "period_end": hour_end.isoformat(),
            "notice_hours": sorted(set(settings.runway_notice_hours)),
            "period_end_at": hour_end,
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
        runway_notices=int(rows[0].notices) if rows else 0,
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
