"""Shared pieces of the benchmarks: embedded servers in a temporary folder and a bounded HTTP load."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from controlplane.embedded import EmbeddedPostgres, EmbeddedRedis
from controlplane.migrations import upgrade


@contextmanager
def embedded_servers() -> Iterator[tuple[EmbeddedPostgres, EmbeddedRedis]]:
    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        postgres = EmbeddedPostgres.start(Path(tmp) / "pg", database="bench")
        redis = EmbeddedRedis.start(Path(tmp) / "redis")
        try:
            upgrade(postgres.url)
            yield postgres, redis
        finally:
            redis.stop()
            postgres.stop()


@dataclass
class LoadResult:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    server_cpu_ms: float = 0.0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.name:<30} {self.per_second:8.0f} req/s   p50 {statistics.median(self.latencies_ms):6.2f} ms"
            f"   p99 {self.percentile(0.99):6.2f} ms   server CPU {self.server_cpu_ms:5.2f} ms/req"
            f"   errors {self.errors}"
        )


def drive(name: str, url: str, headers: dict[str, str], requests: int, concurrency: int) -> LoadResult:
    """Send exactly ``requests`` GETs over ``concurrency`` keep-alive connections; bounded, then stops."""
    per_worker = requests // concurrency

    def worker(_: int) -> tuple[list[float], int]:
        latencies, errors = [], 0
        with httpx.Client(headers=headers, timeout=10) as client:
            for _ in range(per_worker):
                started = time.perf_counter()
                response = client.get(url)
                latencies.append((time.perf_counter() - started) * 1000)
                errors += response.status_code != 200
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(worker, range(concurrency)))
    seconds = time.perf_counter() - started
    latencies = [value for part, _ in results for value in part]
    return LoadResult(name, len(latencies), seconds, latencies, sum(errors for _, errors in results))


def fund(session: Any, settings: Any, account_id: uuid.UUID) -> None:
    """Credit for the namespaces the account declares (a change that raises the price needs some)."""
    from controlplane.billing.ledger import credit
    from controlplane.billing.models import EntryKind, EntrySource

    credit(session, settings, account_id, 10**12, source=EntrySource.OPERATOR, kind=EntryKind.ADJUSTMENT,
           idempotency_key=f"bench-funds-{account_id}")  # fmt: skip


def seed_api_key(database_url: str, redis_url: str, keys: int = 1) -> str:
    """An account with ``keys`` API keys (so a list endpoint returns a real page); returns the first key."""
    from controlplane.accounts.api_keys import issue_api_key
    from controlplane.accounts.principal import account_owner
    from controlplane.accounts.scopes import TENANT_SCOPES
    from controlplane.accounts.service import create_account
    from controlplane.runtime import Runtime
    from controlplane.settings import Settings

    settings = Settings(env="development", database_url=database_url, redis_url=redis_url)
    runtime = Runtime.connect(settings)
    with runtime.transaction() as session:
        account = create_account(session)
        fund(session, settings, account.id)
        issued = [
            issue_api_key(
                session,
                settings,
                account_owner(account.id),
                name=f"k{i}",
                scopes=sorted(TENANT_SCOPES),
                expires_at=None,
            )
            for i in range(keys)
        ]
    runtime.close()
    return issued[0].key


def wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    sys.exit(f"{url} did not answer in time")
