"""The process's shared handles: settings, the database engine, Redis and the job queue.

The API, the worker and the scheduler each build one :class:`Runtime` at start. Jobs reach it through
:func:`get_runtime`, which builds it from the environment on first use (RQ forks a work-horse per job, and the
child builds fresh connections rather than sharing the parent's sockets).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from redis import Redis
from rq import Queue
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from controlplane.db import create_db_engine
from controlplane.queue import DEFAULT_QUEUE, WORKER_QUEUES, bind_queue
from controlplane.settings import Settings, get_settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: Redis
    queue: Queue
    pid: int = field(default_factory=os.getpid)

    @property
    def autocommit_engine(self) -> Engine:
        # Same pool as ``engine``; execution options are cached per engine by SQLAlchemy's own option engines.
        return self._autocommit_engine

    def __post_init__(self) -> None:
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    def connect(cls, settings: Settings) -> Runtime:
        # Every mapper must be known before the first query: a job may import one feature's models only, and
        # their foreign keys name another feature's tables.
        import controlplane.models  # noqa: F401

        if settings.database_url is None or settings.redis_url is None:
            raise RuntimeError(
                "DATABASE_URL and REDIS_URL must be set (in the folder where `controlplane dev` runs, every "
                "controlplane command finds them in .data/dev.env)"
            )
        engine = create_db_engine(settings, settings.database_url)
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_socket_timeout_s,
            socket_connect_timeout=settings.redis_socket_timeout_s,
            health_check_interval=30,
        )
        return cls(settings, engine, redis, Queue(DEFAULT_QUEUE, connection=redis))

    @property
    def worker_queues(self) -> list[Queue]:
        """Every queue, highest priority first: the order workers serve them in."""
        return [Queue(name, connection=self.redis) for name in WORKER_QUEUES]

    def new_session(self, *, autocommit: bool = False) -> Session:
        """A session whose commit pushes the jobs it collected; ``autocommit`` for reads (no BEGIN/COMMIT)."""
        bind = self.autocommit_engine if autocommit else self.engine
        session = Session(bind=bind, expire_on_commit=False)
        bind_queue(session, self.queue)
        return session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success (pushing its jobs), roll back on any error."""
        session = self.new_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()
        self.redis.close()


_runtime: Runtime | None = None


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime


def get_runtime() -> Runtime:
    """The process's runtime; a forked work-horse rebuilds its connection pools instead of sharing sockets."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.connect(get_settings())
    elif _runtime.pid != os.getpid():
        _runtime.engine.dispose(close=False)
        _runtime.pid = os.getpid()
    return _runtime
