"""Metrics across processes: every process of a host writes its metrics to files in one folder, and the API's
scrape adds them up (prometheus-client's multiprocess mode).

Workers run each job in a forked work-horse that exits when the job ends, so what a job counts must outlive its
process. The library names each process's files by an identifier (the pid by default). A worker forks a horse
per job: named by pid, the folder would gain files with every job. A worker's horses run one at a time, so they
share one identifier (the worker's name), and the worker itself another (``<name>-main``): a horse opens the files
afresh when it starts (the library reopens them when the identifier changes) and adds to what the horses before it
counted. The API and the scheduler keep the pid.

:func:`use_metrics_dir` must run before the first metric exists (the library picks how values are stored when a
metric is created); the ``controlplane`` commands call it first thing. Without it (a bare ``pytest`` import, a
library user) metrics live in the process's memory and the scrape shows that process's only.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class MetricsAlreadyCreated(RuntimeError):
    pass


def use_metrics_dir(directory: Path, *, worker_name: str | None = None, clean: bool = False) -> None:
    """Write this process's metrics (and its children's) under ``directory``; ``clean`` empties it first (only for
    the command that starts every process of the host, ``controlplane dev``)."""
    if "controlplane.metrics.registry" in sys.modules:
        raise MetricsAlreadyCreated("use_metrics_dir() must run before controlplane.metrics.registry is imported")
    if clean and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[DIR_VARIABLE] = str(directory.resolve())
    from prometheus_client import values

    if worker_name is not None:
        values.ValueClass = values.MultiProcessValue(  # type: ignore[no-untyped-call]
            process_identifier=_worker_identity(worker_name, os.getpid())
        )
    else:
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def metrics_dir() -> Path | None:
    configured = os.environ.get(DIR_VARIABLE)
    return Path(configured) if configured else None


def mark_dead(identity: str | int) -> None:
    """A process of this host is gone: its live gauges no longer count (its counters do)."""
    from prometheus_client import multiprocess

    if metrics_dir() is not None:
        multiprocess.mark_process_dead(identity)  # type: ignore[no-untyped-call]


def worker_identities(worker_name: str) -> tuple[str, str]:
    return worker_name, f"{worker_name}-main"


def _worker_identity(worker_name: str, main_pid: int):  # type: ignore[no-untyped-def]
    horse, main = worker_identities(worker_name)

    def identity() -> str:
        return main if os.getpid() == main_pid else horse

    return identity
