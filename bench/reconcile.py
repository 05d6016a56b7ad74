"""Reconcile benchmarks, on embedded PostgreSQL and Redis:

1. write latency: PATCH of an app to its 202, over a bounded run from a second process, with and without the
   admission policy check (target p99 under 20 ms);
2. the control plane's own overhead per reconcile: job start to the engine call, plus the status write, with an
   engine that returns at once (target under 100 ms);
3. coalescing: 100 quick updates to one namespace while a reconcile runs lead to at most 2 further stack updates.

The embedded PostgreSQL runs as a development server (``synchronous_commit = off``, see
``controlplane.embedded``): a commit does not wait for the disk, so the write latency is the control plane's own.
With commits waiting for the disk, this machine's occasional 100-350 ms disk flushes set the p99 instead.

    .venv/bin/python -m bench.reconcile [--writes 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
from redis import Redis
from sqlalchemy import select

from bench._support import embedded_servers, seed_api_key, wait_http
from controlplane.embedded import free_port
from controlplane.engine.interface import Engine, EngineEvent, EventSink, RunKind, RunResult
from controlplane.settings import Settings
from programs.tenant import TenantSpec

APP = {
    "name": "web",
    "image": "ghcr.io/acme/web:1.2.3",
    "ports": [{"name": "http", "port": 8080, "public": True}],
    "volume": {"size_gib": 5, "mount_path": "/data"},
}
RUNS_KEY = "bench:engine-runs"


class InstantEngine:
    """Returns at once: what remains of a reconcile's time is the control plane's own."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url is not None
        self.redis = Redis.from_url(settings.redis_url)
        self.delay_s = float(os.environ.get("BENCH_ENGINE_DELAY_S", "0"))

    def run(self, kind: RunKind, stack_name: str, spec: TenantSpec | None, on_event: EventSink) -> RunResult:
        self.redis.rpush(RUNS_KEY, f"{kind.value}:{time.time()}")
        time.sleep(self.delay_s)
        on_event(EngineEvent(1, "summary", {"changes": {"same": 1}}))
        return RunResult({"same": 1}, {})

    def check_available(self) -> None:
        """Always available."""

    def cancel(self, stack_name: str) -> None:
        """Nothing to cancel."""


# Named by CONTROLPLANE_ENGINE (a string); this line holds the class to the interface under mypy.
ENGINE: type[Engine] = InstantEngine


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_api(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "controlplane.api.asgi:app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthz", server)
    return server, base


def write_latency(base: str, headers: dict[str, str], writes: int, namespace: str) -> list[float]:
    latencies = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        response = client.post("/v1/namespaces", json={"name": namespace, "apps": [APP]})
        assert response.status_code == 202, response.text
        for index in range(writes):
            started = time.perf_counter()
            # Every write changes something (the app starts with one replica; a no-op write answers 200).
            response = client.patch(f"/v1/namespaces/{namespace}/apps/web", json={"replicas": 2 + index % 5})
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 202, response.text
    return latencies


def reconcile_overhead(env: dict[str, str], count: int) -> list[float]:
    """Reconcile ``count`` namespaces in this process with the instant engine; each job's wall time."""
    os.environ.update(env)
    from controlplane.accounts.models import Account
    from controlplane.deployments.models import Namespace
    from controlplane.deployments.reconcile import reconcile
    from controlplane.deployments.schemas import AppIn, NamespaceCreate
    from controlplane.deployments.service import Context, create_namespace
    from controlplane.runtime import get_runtime
    from controlplane.settings import get_settings

    get_settings.cache_clear()
    runtime = get_runtime()
    ids = []
    with runtime.transaction() as session:
        account_id = session.scalars(select(Account.id).limit(1)).one()
        for index in range(count):
            body = NamespaceCreate(name=f"overhead-{index}", apps=[AppIn.model_validate(APP)])
            ids.append(create_namespace(session, Context(runtime.settings, runtime.redis), account_id, body).id)
    timings = []
    for ns_id in ids:
        started = time.perf_counter()
        reconcile(str(ns_id))
        timings.append((time.perf_counter() - started) * 1000)
    with runtime.transaction() as session:
        done = session.query(Namespace).filter(Namespace.id.in_(ids), Namespace.status == "ready").count()
    assert done == count, f"{done} of {count} namespaces reconciled"
    return timings


def coalescing(base: str, headers: dict[str, str], env: dict[str, str], redis: Redis) -> dict[str, Any]:
    worker = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "worker"],
        env={**env, "BENCH_ENGINE_DELAY_S": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        redis.delete(RUNS_KEY)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            client.post("/v1/namespaces", json={"name": "coalesce", "apps": [APP]}).raise_for_status()
            deadline = time.monotonic() + 30
            while not redis.llen(RUNS_KEY) and time.monotonic() < deadline:
                time.sleep(0.05)  # wait for the first run to start
            for index in range(100):
                client.patch("/v1/namespaces/coalesce/apps/web", json={"replicas": 1 + index % 5}).raise_for_status()
            final_generation = client.get("/v1/namespaces/coalesce").json()["generation"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                state = client.get("/v1/namespaces/coalesce").json()
                if state["observed_generation"] == final_generation and state["status"] == "ready":
                    break
                time.sleep(0.2)
        return {
            "further_updates": int(redis.llen(RUNS_KEY)) - 1,
            "observed": state["observed_generation"],
            "generation": final_generation,
        }
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--reconciles", type=int, default=50)
    args = parser.parse_args()

    with embedded_servers() as (postgres, redis_server):
        key = seed_api_key(postgres.url, redis_server.url)
        headers = {"Authorization": f"Bearer {key}"}
        env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis_server.url,
            "CONTROLPLANE_ENV": "development",
            "CONTROLPLANE_ENGINE": "bench.reconcile:InstantEngine",
        }
        results = {}
        for label, admission in (("with admission", "true"), ("admission off", "false")):
            server, base = start_api({**env, "CONTROLPLANE_ADMISSION_POLICY_CHECK": admission})
            try:
                results[label] = write_latency(base, headers, args.writes, f"w-{admission}")
            finally:
                server.terminate()
                server.wait(timeout=30)
        overhead = reconcile_overhead(env, args.reconciles)
        server, base = start_api({**env, "CONTROLPLANE_ADMISSION_POLICY_CHECK": "false"})
        try:
            coalesced = coalescing(base, headers, env, Redis.from_url(redis_server.url))
        finally:
            server.terminate()
            server.wait(timeout=30)

    for label, latencies in results.items():
        print(
            f"write -> 202 ({label:<14}) p50 {statistics.median(latencies):7.2f} ms   "
            f"p99 {percentile(latencies, 0.99):7.2f} ms   over {len(latencies)} writes (target p99 < 20 ms)"
        )
    print(
        f"reconcile overhead (instant engine)  p50 {statistics.median(overhead):7.2f} ms   "
        f"p99 {percentile(overhead, 0.99):7.2f} ms   over {len(overhead)} reconciles (target < 100 ms)"
    )
    print(
        f"coalescing: 100 updates during a 2 s run -> {coalesced['further_updates']} further stack update(s) "
        f"(target <= 2); observed generation {coalesced['observed']} of {coalesced['generation']}"
    )


if __name__ == "__main__":
    main()
