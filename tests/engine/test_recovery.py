"""A worker killed in the middle of an update leaves a lock; the next reconcile recovers from it.

The reconcile job runs in a child process with the real engine; while its `pulumi up` is running, the child and
its `pulumi` process are killed with SIGKILL (as the OOM killer or a lost node would). The next reconcile finds
the run cut short, cancels the stale update, refreshes, and applies the desired state. (A kill that tears a state
file's metadata sidecar: tests/engine/test_state_backend.py.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.accounts.service import create_account
from controlplane.deployments.models import Namespace, Operation
from controlplane.deployments.schemas import AppIn, NamespaceCreate
from controlplane.deployments.service import Context, create_namespace, stack_name_of
from controlplane.engine.pulumi_engine import PROJECT_NAME
from controlplane.engine.state_backend import file_store_folder
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.support.live import APP, FUNDS, fund

RECONCILE = "from controlplane.deployments.reconcile import reconcile; import sys; print(reconcile(sys.argv[1]))"


def child_env(runtime: Runtime, engine_settings: Settings) -> dict[str, str]:
    assert runtime.settings.database_url is not None
    assert runtime.settings.redis_url is not None
    return {
        **os.environ,
        "DATABASE_URL": runtime.settings.database_url,
        "REDIS_URL": runtime.settings.redis_url,
        "CONTROLPLANE_ENV": "test",
        "CONTROLPLANE_ENGINE": "controlplane.engine.pulumi_engine:PulumiEngine",
        "CONTROLPLANE_DATA_DIR": str(engine_settings.data_dir),
        "CONTROLPLANE_PLATFORM_RENDER_DIR": str(engine_settings.platform_render_dir),
        "CONTROLPLANE_PULUMI_BACKEND_URL": str(engine_settings.pulumi_backend_url),
        "CONTROLPLANE_POLICY_PACK_DIR": str(engine_settings.policy_pack_dir or "null"),
        "CONTROLPLANE_STACK_LOCK_LEASE_S": "2",
    }


def wait_until_mid_update(child: subprocess.Popen[str], state: Path, stack: str, timeout_s: float = 120) -> None:
    """Until the update holds Pulumi's lock and has written resources to its checkpoint: the moment to kill.

    Watching the state store (not the clock) keeps the kill inside the update on a fast machine and a slow one."""
    locks = state / ".pulumi" / "locks" / "organization" / PROJECT_NAME / stack
    checkpoint = state / ".pulumi" / "stacks" / PROJECT_NAME / f"{stack}.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert child.poll() is None, "the reconcile finished before it could be interrupted"
        locked = locks.is_dir() and any(path.suffix == ".json" for path in locks.iterdir())
        if locked and checkpoint.exists() and checkpoint.stat().st_size > _EMPTY_CHECKPOINT_BYTES:
            return
        time.sleep(0.02)
    raise AssertionError("the update never got under way")


_EMPTY_CHECKPOINT_BYTES = 2_000  # a new stack's checkpoint is a few hundred bytes; this one's resources, ~100 kB


def test_a_killed_worker_leaves_a_lock_the_next_reconcile_recovers_from(
    runtime: Runtime, committed: Callable[[], Session], engine_settings: Settings, tmp_path: Path
) -> None:
    with committed() as session:
        account = create_account(session)
        fund(session, runtime.settings, account.id, FUNDS)
        body = NamespaceCreate(name="phoenix", apps=[AppIn.model_validate(APP)])
        namespace = create_namespace(
            session,
            Context(runtime.settings.model_copy(update={"platform_render_dir": engine_settings.platform_render_dir})),
            account.id,
            body,
        )
        session.commit()
        namespace_id = str(namespace.id)
    for queue in runtime.worker_queues:
        queue.empty()
    env = child_env(runtime, engine_settings)

    first = subprocess.Popen(
        [sys.executable, "-c", RECONCILE, namespace_id],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    state = file_store_folder(str(engine_settings.pulumi_backend_url))
    assert state is not None
    wait_until_mid_update(first, state, stack_name_of(namespace.id))
    # The worker and everything under it (pulumi, its plugins) die at once, as on a lost node.
    doomed = psutil.Process(first.pid).children(recursive=True)
    os.killpg(first.pid, signal.SIGKILL)
    for process in doomed:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    first.wait(timeout=30)
    time.sleep(2.5)  # the dead worker's lease runs out

    second = subprocess.run(
        [sys.executable, "-c", RECONCILE, namespace_id],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    with committed() as session:
        recovered = session.get(Namespace, namespace.id)
        assert recovered is not None
        assert recovered.status == "ready", recovered.last_error
        assert recovered.observed_generation == recovered.generation
        kinds = session.scalars(
            select(Operation.kind).where(Operation.namespace_id == namespace.id).order_by(Operation.created_at)
        ).all()
    assert kinds == ["up", "refresh", "up"]  # the interrupted run, the recovery refresh, the update
