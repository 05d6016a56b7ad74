"""API overhead: an authenticated list endpoint against a bare endpoint that only runs SELECT 1.

Starts the real app under uvicorn (one process) on embedded PostgreSQL and Redis, then drives both endpoints from a
second process over loopback with a bounded number of requests. Prints requests/s, p50 and p99 for each, and the
list endpoint's throughput as a share of the bare one's (target: 60% or more).

The two endpoints are driven in alternating rounds, so that a machine whose speed drifts during the run (a shared
VM does) slows both alike instead of skewing the ratio.

    .venv/bin/python -m bench.api_overhead [--requests 3000] [--rounds 6] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import psutil
from fastapi import FastAPI
from sqlalchemy import text

from bench._support import LoadResult, drive, embedded_servers, seed_api_key, wait_http
from controlplane.embedded import free_port
from controlplane.settings import Settings


def bench_app() -> FastAPI:
    """The real application plus two bare endpoints, the baselines: a request that runs SELECT 1 and nothing else,
    once the way a sync endpoint does (a worker thread, the engine's pool) and once the way the API's event-loop
    reads do (``controlplane.api.async_db``), so the list is compared with the cheapest bare request as well."""
    from controlplane.api.app import create_app
    from controlplane.api.async_db import LoopDatabase
    from controlplane.runtime import Runtime

    runtime = Runtime.connect(Settings(env="development"))
    app = create_app(runtime)
    loop_db: LoopDatabase = app.state.loop_db

    @app.get("/bench/select1")
    def select1() -> dict[str, int]:
        with runtime.engine.connect() as conn:
            return {"value": int(conn.execute(text("SELECT 1")).scalar_one())}

    @app.get("/bench/select1-loop")
    async def select1_on_the_loop() -> dict[str, int]:
        rows = await loop_db.all(text("SELECT 1 AS value"))
        return {"value": int(rows[0]["value"])}

    return app


def add_round(
    total: LoadResult, server: psutil.Process, url: str, headers: dict[str, str], requests: int, concurrency: int
) -> None:
    """Drive one round and add its requests, time, latencies and the server's CPU time to ``total``."""
    before = server.cpu_times()
    result = drive(total.name, url, headers, requests, concurrency)
    after = server.cpu_times()
    cpu_ms = (after.user + after.system - before.user - before.system) * 1000
    total.server_cpu_ms = (total.server_cpu_ms * total.requests + cpu_ms) / (total.requests + result.requests)
    total.requests += result.requests
    total.seconds += result.seconds
    total.latencies_ms.extend(result.latencies_ms)
    total.errors += result.errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds the requests are split into")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    args = parser.parse_args()

    with embedded_servers() as (postgres, redis):
        key = seed_api_key(postgres.url, redis.url, keys=20)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": redis.url, "CONTROLPLANE_ENV": "development"}
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.api_overhead:bench_app", "--factory", "--port", str(port),
             "--log-level", "warning", "--no-access-log"],
            env=env,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/healthz", server)
            auth = {"Authorization": f"Bearer {key}"}
            drive("warm-up", f"{base}/v1/api-keys", auth, 200, args.concurrency)
            drive("warm-up", f"{base}/bench/select1", {}, 200, args.concurrency)
            drive("warm-up", f"{base}/bench/select1-loop", {}, 200, args.concurrency)
            server_process = psutil.Process(server.pid)
            per_round = args.requests // args.rounds
            bare = LoadResult("bare SELECT 1 (thread)", 0, 0.0, [], 0)
            bare_loop = LoadResult("bare SELECT 1 (event loop)", 0, 0.0, [], 0)
            listed = LoadResult("GET /v1/api-keys (auth)", 0, 0.0, [], 0)
            for _ in range(args.rounds):
                add_round(bare, server_process, f"{base}/bench/select1", {}, per_round, args.concurrency)
                add_round(bare_loop, server_process, f"{base}/bench/select1-loop", {}, per_round, args.concurrency)
                add_round(listed, server_process, f"{base}/v1/api-keys", auth, per_round, args.concurrency)
        finally:
            server.terminate()
            server.wait(timeout=30)

    ratios = {baseline.name: listed.per_second / baseline.per_second for baseline in (bare, bare_loop)}
    for result in (bare, bare_loop, listed):
        print(result.line())
    for name, ratio in ratios.items():
        print(f"list / {name} throughput ratio: {ratio:.2f} (target >= 0.60)")
    if args.json:
        print(json.dumps({"list_rps": listed.per_second, "ratios": ratios}))


if __name__ == "__main__":
    main()
