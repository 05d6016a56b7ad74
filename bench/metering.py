"""Metering benchmark, on embedded PostgreSQL and Redis: one hourly pass over 100,000 running apps.

Seeds accounts, balances, namespaces and apps with set-based SQL (``generate_series``), then times one
``meter_hour`` transaction (commit included, and the lifecycle jobs it pushes to Redis for the accounts it took to
zero), then the same hour again (idempotent: nothing charged). Target: the pass under 3 s.

    .venv/bin/python -m bench.metering [--apps 100000] [--accounts 10000] [--namespaces 25000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench._support import embedded_servers
from controlplane.billing import metering
from controlplane.runtime import Runtime
from controlplane.settings import Settings

HOUR = datetime(2031, 3, 1, 12, tzinfo=UTC)

SEED = [
    # Accounts (only the columns without defaults).
    """
    INSERT INTO accounts (id, age_confirmed_at)
    SELECT md5('account' || i)::uuid, now() FROM generate_series(1, :accounts) AS i
    """,
    # Balances: most accounts have plenty; every 20th has less than an hour (capped, taken to zero, its lifecycle
    # job queued); every 10th of the rest has less than a day of runway left (a notice).
    """
    INSERT INTO billing_accounts (id, account_id, balance, unpaid, hourly_cost, updated_at)
    SELECT md5('billing' || i)::uuid, md5('account' || i)::uuid,
           CASE WHEN i % 20 = 0 THEN 1000 WHEN i % 10 = 0 THEN 500000 ELSE 500000000 END, 0, 0, now()
    FROM generate_series(1, :accounts) AS i
    """,
    """
    INSERT INTO namespaces (id, account_id, name, cluster_name, host_suffix, desired_state, status, generation,
                            observed_generation, observed_state, outputs, conditions, failure_count, updated_at,
                            created_at)
    SELECT md5('namespace' || i)::uuid, md5('account' || (1 + i % :accounts))::uuid, 'bench-' || i,
           't-b' || lpad(i::text, 7, '0'), 'b' || lpad(i::text, 7, '0'),
           'active', 'ready', 1, 1, 'active', '{}', '[]', 0, now(), :created
    FROM generate_series(1, :namespaces) AS i
    """,
    """
    INSERT INTO apps (id, namespace_id, name, image, replicas, cpu_millicores, memory_mib, ports, env,
                      volume_size_gib, volume_mount_path, health_check_path, custom_domains, created_at)
    SELECT md5('app' || i)::uuid, md5('namespace' || (1 + i % :namespaces))::uuid, 'app-' || i,
           'ghcr.io/acme/web:1.0.0', 1 + i % 3, 250 * (1 + i % 4), 256 * (1 + i % 4),
           '[{"name": "http", "port": 8080, "public": true}]', '{}',
           CASE WHEN i % 2 = 0 THEN 1 + i % 50 END, CASE WHEN i % 2 = 0 THEN '/data' END, '/', '[]', :created
    FROM generate_series(1, :apps) AS i
    """,
]


def seed(runtime: Runtime, apps: int, accounts: int, namespaces: int) -> float:
    started = time.perf_counter()
    params = {"apps": apps, "accounts": accounts, "namespaces": namespaces, "created": HOUR - timedelta(days=1)}
    with runtime.engine.begin() as conn:
        for statement in SEED:
            conn.execute(text(statement), params)
    with runtime.autocommit_engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def timed_pass(runtime: Runtime) -> tuple[float, metering.MeteringResult]:
    started = time.perf_counter()
    with runtime.transaction() as session:
        result = metering.meter_hour(session, runtime.settings, HOUR, now=HOUR + timedelta(hours=1))
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--namespaces", type=int, default=25_000)
    args = parser.parse_args()

    with embedded_servers() as (postgres, redis_server):
        settings = Settings(env="development", database_url=postgres.url, redis_url=redis_server.url)
        runtime = Runtime.connect(settings)
        try:
            seeded_s = seed(runtime, args.apps, args.accounts, args.namespaces)
            first_s, first = timed_pass(runtime)
            again_s, again = timed_pass(runtime)
            with runtime.engine.connect() as conn:
                entries = conn.execute(text("SELECT count(*) FROM billing_ledger_entries")).scalar_one()
                negative = conn.execute(text("SELECT count(*) FROM billing_accounts WHERE balance < 0")).scalar_one()
            queued = runtime.queue.count
        finally:
            runtime.close()

    print(
        f"seeded {args.accounts:,} accounts, {args.namespaces:,} namespaces, {args.apps:,} running apps "
        f"in {seeded_s:.2f} s (set-based SQL)"
    )
    print(
        f"metering pass: {first.apps:,} apps of {first.accounts:,} accounts in {first_s:.3f} s "
        f"-> {first.apps / first_s:,.0f} apps/s, {first.accounts / first_s:,.0f} accounts/s (target < 3 s)"
    )
    print(
        f"  charged {first.charged:,} micro-credits, {first.unpaid:,} unpaid; {len(first.depleted):,} accounts at zero "
        f"({queued:,} lifecycle jobs queued); {first.runway_notices:,} runway notices"
    )
    print(
        f"same hour again: {again_s:.3f} s, {again.accounts} accounts charged "
        f"({entries:,} ledger entries in all, {negative} negative balances)"
    )


if __name__ == "__main__":
    main()
