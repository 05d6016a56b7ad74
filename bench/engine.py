"""Engine timings with the real `pulumi` CLI, for a namespace with 5 apps (manifests rendered to a folder):
first `up`, `up` with no changes, a one-object change, `destroy`; and the share of each reconcile spent outside
Pulumi (the control plane's own work: locks, database, spec, events).

Needs the tools on PATH:  eval "$(scripts/install-tools | tail -n1)"; PATH="$PATH_ADD:$PATH" \\
    .venv/bin/python -m bench.engine
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench._support import embedded_servers, seed_api_key
from controlplane.engine.interface import EventSink, RunKind, RunResult
from controlplane.engine.pulumi_engine import PulumiEngine
from programs.tenant import TenantSpec

APPS = 5
ENGINE_SECONDS = "bench:engine-seconds"


class TimedPulumiEngine(PulumiEngine):
    """The real engine, timing each run so that the rest of the reconcile is the control plane's share."""

    def run(self, kind: RunKind, stack_name: str, spec: TenantSpec | None, on_event: EventSink) -> RunResult:
        started = time.perf_counter()
        try:
            return super().run(kind, stack_name, spec, on_event)
        finally:
            TIMINGS.append(time.perf_counter() - started)


TIMINGS: list[float] = []


def app(index: int, image_tag: str = "1.0.0") -> dict[str, object]:
    return {
        "name": f"app{index}",
        "image": f"ghcr.io/acme/app{index}:{image_tag}",
        "ports": [{"name": "http", "port": 8080, "public": index % 2 == 0}],
        "volume": {"size_gib": 5, "mount_path": "/data"} if index % 3 == 0 else None,
    }


def main() -> None:
    if shutil.which("pulumi") is None:
        sys.exit("pulumi is not on PATH: see this module's docstring")
    with embedded_servers() as (postgres, redis), tempfile.TemporaryDirectory(prefix="cp-engine-") as tmp:
        os.environ.update(
            DATABASE_URL=postgres.url,
            REDIS_URL=redis.url,
            CONTROLPLANE_ENV="development",
            CONTROLPLANE_DATA_DIR=str(Path(tmp) / "data"),
            CONTROLPLANE_PLATFORM_RENDER_DIR=str(Path(tmp) / "rendered"),
            CONTROLPLANE_ENGINE="bench.engine:TimedPulumiEngine",
        )
        seed_api_key(postgres.url, redis.url)
        rows = measure()
    print(f"namespace with {APPS} apps, real pulumi CLI, manifests rendered to a folder")
    for label, total, engine_s in rows:
        share = (total - engine_s) / total * 100
        print(f"{label:<22} {total:6.2f} s   in Pulumi {engine_s:6.2f} s   control plane {total - engine_s:5.3f} s "
              f"({share:4.1f} %)")  # fmt: skip


def measure() -> list[tuple[str, float, float]]:
    from sqlalchemy import select

    from controlplane.accounts.models import Account
    from controlplane.deployments.models import DesiredState, Namespace
    from controlplane.deployments.reconcile import reconcile
    from controlplane.deployments.schemas import AppIn, AppPatch, NamespaceCreate
    from controlplane.deployments.service import Context, create_namespace, transition, update_app
    from controlplane.runtime import get_runtime

    runtime = get_runtime()
    ctx = Context(runtime.settings, runtime.redis)
    # The engine is loaded by import path: under `python -m` that module is not this __main__ one.
    timings: list[float] = importlib.import_module("bench.engine").TIMINGS
    with runtime.transaction() as session:
        account_id = session.scalars(select(Account.id)).one()
        body = NamespaceCreate(name="bench", apps=[AppIn.model_validate(app(i)) for i in range(APPS)])
        ns_id = create_namespace(session, ctx, account_id, body).id

    def timed(label: str, change: object = None) -> tuple[str, float, float]:
        if change is not None:
            with runtime.transaction() as session:
                change(session)  # type: ignore[operator]
        timings.clear()
        started = time.perf_counter()
        reconcile(str(ns_id))
        total = time.perf_counter() - started
        with runtime.transaction() as session:
            namespace = session.get(Namespace, ns_id)
            assert namespace is not None
            assert namespace.status in ("ready", "deleted"), namespace.last_error
        return label, total, sum(timings)

    def same(session: object) -> None:
        update_app(session, ctx, account_id, "bench", "app1", AppPatch(replicas=1))  # type: ignore[arg-type]

    def new_image(session: object) -> None:
        update_app(session, ctx, account_id, "bench", "app1",  # type: ignore[arg-type]
                   AppPatch(image="ghcr.io/acme/app1:2.0.0"))  # fmt: skip

    def delete(session: object) -> None:
        namespace = session.get(Namespace, ns_id)  # type: ignore[attr-defined]
        transition(session, ctx, namespace, DesiredState.DELETED)  # type: ignore[arg-type]

    return [
        timed("first up"),
        timed("up, no changes", same),
        timed("up, one object", new_image),
        timed("destroy", delete),
    ]


if __name__ == "__main__":
    main()
