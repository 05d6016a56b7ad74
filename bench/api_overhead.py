"""API overhead: an authenticated list endpoint against a bare endpoint that only runs SELECT 1.

Starts the real app under uvicorn (one process) on embedded PostgreSQL and Redis, then drives both endpoints from a
second process over loopback with a bounded number of requests. Prints requests/s, p50 and p99 for each, and the
list endpoint's throughput as a share of the bare one's (target: 60% or more).

    .venv/bin/python -m bench.api_overhead [--requests 3000] [--concurrency 8]
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

from bench._support import drive, embedded_servers, seed_api_key, wait_http
from controlplane.embedded import free_port
from controlplane.settings import Settings


def bench_app() -> FastAPI:
    """The real application plus one bare endpoint, the baseline: a request that runs SELECT 1 and nothing else."""
    from controlplane.api.app import create_app
    from controlplane.runtime import Runtime

    runtime = Runtime.connect(Settings(env="development"))
    app = create_app(runtime)

    @app.get("/bench/select1")
    def select1() -> dict[str, int]:
        with runtime.engine.connect() as conn:
            return {"value": int(conn.execute(text("SELECT 1")).scalar_one())}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
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
            cpu = psutil.Process(server.pid)
            before = cpu.cpu_times()
            bare = drive("bare SELECT 1", f"{base}/bench/select1", {}, args.requests, args.concurrency)
            middle = cpu.cpu_times()
            listed = drive("GET /v1/api-keys (auth)", f"{base}/v1/api-keys", auth, args.requests, args.concurrency)
            after = cpu.cpu_times()
            bare.server_cpu_ms = (middle.user + middle.system - before.user - before.system) * 1000 / bare.requests
            listed.server_cpu_ms = (after.user + after.system - middle.user - middle.system) * 1000 / listed.requests
        finally:
            server.terminate()
            server.wait(timeout=30)

    ratio = listed.per_second / bare.per_second
    print(bare.line())
    print(listed.line())
    print(f"list/bare throughput ratio: {ratio:.2f} (target >= 0.60)")
    if args.json:
        print(json.dumps({"bare_rps": bare.per_second, "list_rps": listed.per_second, "ratio": ratio}))


if __name__ == "__main__":
    main()
