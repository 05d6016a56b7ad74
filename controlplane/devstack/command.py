"""``controlplane dev``: the whole platform on this machine, with no outside account.

Embedded PostgreSQL and Redis under the data folder, the migrations, the vendors' stand-ins (``stack.DevStack``),
the API with the development endpoints, one worker and the scheduler; the engine's tools installed in the background
when they are missing (``tools.ToolsInstaller``: the worker is restarted with them on ``PATH``, and namespaces that
waited for the engine are picked up at once). Where everything is goes to the console and to ``.data/dev.env``
(``envfile``), which every other ``controlplane`` command run here reads. Ctrl-C stops all of it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import typer

from controlplane.devstack.envfile import dev_env_path, remove_dev_env, write_dev_env
from controlplane.devstack.stack import DevStack, DevStackRefused, refuse_outside_development
from controlplane.devstack.tools import ToolsInstaller
from controlplane.engine.tools import missing_tools
from controlplane.logs import configure_logging
from controlplane.metrics.process import use_metrics_dir
from controlplane.queue import PendingJob, enqueue, job_id
from controlplane.runtime import Runtime
from controlplane.settings import Settings, get_settings

RESYNC_JOB = "controlplane.deployments.reconcile.resync"
# What dev.env passes on to other commands (with the stand-ins' settings and the tenant CLI's API URL).
_SHARED = ("DATABASE_URL", "REDIS_URL", "CONTROLPLANE_ENV", "CONTROLPLANE_DATA_DIR", "CONTROLPLANE_PUBLIC_URL")


def run_dev(data_dir: Path, host: str, port: int) -> None:
    try:
        refuse_outside_development(os.environ.get("CONTROLPLANE_ENV", "development"))
    except DevStackRefused as exc:
        typer.echo(f"controlplane dev: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging()
    console = Console()
    data_dir = data_dir.resolve()
    public_url = os.environ.get("CONTROLPLANE_PUBLIC_URL") or f"http://{_address_for_urls(host)}:{port}"
    os.environ.update(CONTROLPLANE_ENV="development", CONTROLPLANE_DATA_DIR=str(data_dir),
                      CONTROLPLANE_PUBLIC_URL=public_url)  # fmt: skip
    # Every process dev starts writes its metrics there (before anything creates one); it starts empty with them.
    use_metrics_dir(_fresh_settings().resolved_metrics_dir, clean=True)
    tools = _start_tools(_fresh_settings(), console)
    try:
        with _embedded_servers(_fresh_settings(), data_dir):
            stack = DevStack.start(_fresh_settings(), lambda text: console.line("dev", text))
            try:
                os.environ.update(stack.settings_env)
                _run(_fresh_settings(), stack, tools, console, host, port)
            finally:
                stack.stop()
    finally:
        if tools is not None:
            tools.stop()


def _run(
    settings: Settings, stack: DevStack, tools: ToolsInstaller | None, console: Console, host: str, port: int
) -> None:
    from controlplane.api.serve import serve

    data_dir = settings.resolved_data_dir
    runtime = Runtime.connect(settings)
    shared = {name: os.environ[name] for name in _SHARED if name in os.environ}
    write_dev_env(data_dir, {**shared, **stack.settings_env, "CONTROLPLANE_DEV_API_URL": settings.public_url})
    try:
        with Children(dict(os.environ)) as children:
            children.start("worker", path_add=tools.path_add if tools is not None else None)
            children.start("scheduler")
            console.banner(_banner(settings, stack, tools))
            if host not in ("127.0.0.1", "localhost", "::1"):
                console.line("dev", f"warning: listening on {host}: the development endpoints (phone codes, the "
                                    "faucet) are open to whoever reaches this address")  # fmt: skip
            if tools is not None:
                tools.when_ready(lambda path_add: _tools_ready(children, runtime, console, path_add))
            serve(runtime, host, port, stack)
    finally:
        remove_dev_env(data_dir)


def _fresh_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


def _address_for_urls(host: str) -> str:
    """The address a person types for a server bound to ``host`` (``0.0.0.0`` is every address: use loopback)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


# --- the engine's tools ------------------------------------------------------------------------------------------


def _start_tools(settings: Settings, console: Console) -> ToolsInstaller | None:
    if not settings.engine.startswith("controlplane.engine.pulumi_engine:"):
        return None
    missing = missing_tools(settings)
    if not missing:
        return None
    console.line("tools", f"missing: {', '.join(missing)}. Installing them in the background with "
                          f"{settings.dev_install_tools.name} (seconds when cached, about 40 minutes the first time); "
                          "until then namespaces wait for the engine")  # fmt: skip
    installer = ToolsInstaller(settings.dev_install_tools, lambda text: console.line("tools", text))
    installer.start()
    return installer


def _tools_ready(children: Children, runtime: Runtime, console: Console, path_add: str) -> None:
    if children.has_path("worker", path_add):
        console.line("tools", "the engine's tools are ready")
        return
    console.line("tools", "the engine's tools are ready: restarting the worker with them on PATH")
    if children.restart("worker", path_add=path_add):
        # Namespaces that waited for the engine go on now, not at the scheduler's next resync.
        enqueue(runtime.queue, PendingJob(RESYNC_JOB, job_id=job_id("dev", "tools-ready")))


# --- processes ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _embedded_servers(settings: Settings, data_dir: Path) -> Iterator[None]:
    """PostgreSQL and Redis under the data folder (unless DATABASE_URL/REDIS_URL name servers), migrated; their
    URLs go into the environment, so the children and the settings see them."""
    from controlplane.embedded import EmbeddedPostgres, EmbeddedRedis
    from controlplane.migrations import upgrade

    postgres = None if settings.database_url else EmbeddedPostgres.start(data_dir / "postgres")
    redis = None
    try:
        redis = None if settings.redis_url else EmbeddedRedis.start(data_dir / "redis")
        database_url = settings.database_url or (postgres.url if postgres else "")
        upgrade(database_url)
        os.environ.update(DATABASE_URL=database_url, REDIS_URL=settings.redis_url or (redis.url if redis else ""))
        yield
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()


class Children:
    """The worker and the scheduler as child processes (``python -m controlplane <name>``), stopped on exit."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._paths: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._closing = False

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._closing = True
            processes = list(self._processes.values())
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            _wait_or_kill(process)

    def start(self, name: str, path_add: str | None = None) -> None:
        env = dict(self.env)
        if path_add:
            env["PATH"] = f"{path_add}{os.pathsep}{env.get('PATH', '')}"
        self._processes[name] = subprocess.Popen([sys.executable, "-m", "controlplane", name], env=env)  # noqa: S603
        self._paths[name] = path_add

    def has_path(self, name: str, path_add: str) -> bool:
        return self._paths.get(name) == path_add

    def restart(self, name: str, path_add: str | None) -> bool:
        """Stop ``name`` (a worker finishes its job first) and start it again; False when dev is stopping."""
        with self._lock:
            if self._closing:
                return False
            old = self._processes[name]
            old.terminate()
            _wait_or_kill(old)
            self.start(name, path_add)
            return True


def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the console -------------------------------------------------------------------------------------------------


class Console:
    """The dev console: short prefixed lines, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def line(self, source: str, text: str) -> None:
        with self._lock:
            typer.echo(f"{source:>5} | {text}")

    def banner(self, rows: list[tuple[str, str]]) -> None:
        width = max(len(label) for label, _ in rows)
        with self._lock:
            typer.echo("")
            typer.echo("controlplane dev is running (Ctrl-C stops everything)")
            for label, text in rows:
                typer.echo(f"  {label:<{width}}  {text}")
            typer.echo("")


def _banner(settings: Settings, stack: DevStack, tools: ToolsInstaller | None) -> list[tuple[str, str]]:
    api = settings.public_url.rstrip("/")
    data_dir = settings.resolved_data_dir
    if settings.platform_kubeconfig is not None:
        manifests = "applied to the cluster of CONTROLPLANE_PLATFORM_KUBECONFIG"
    else:
        rendered = (settings.platform_render_dir or data_dir / "rendered").resolve()
        manifests = (f"rendered to {rendered} (no cluster); to apply them to a real cluster, set "
                     "CONTROLPLANE_PLATFORM_KUBECONFIG to a kubeconfig (its contents or its path)")  # fmt: skip
    if tools is None:
        engine = "the pulumi CLI and plugins are on PATH"
    elif tools.path_add is not None:
        engine = "installed (scripts/install-tools)"
    else:
        engine = "being installed in the background (progress above and below); namespaces wait for them"
    return [
        ("API", f"{api}/v1/  (docs: {api}/docs)"),
        ("Data", f"{data_dir}  (PostgreSQL, Redis, Pulumi state; kept between runs)"),
        ("Servers", f"DATABASE_URL={settings.database_url} REDIS_URL={settings.redis_url}"),
        (
            "",
            f"these and the stand-ins' settings are in {dev_env_path(data_dir)}: every controlplane command "
            "run in this folder uses them",
        ),
        ("Manifests", manifests),
        *stack.describe(settings),
        ("Engine tools", engine),
        ("Tenant CLI", "controlplane login --phone <number> --confirm-age-18   (here, it finds this server by itself)"),
    ]
