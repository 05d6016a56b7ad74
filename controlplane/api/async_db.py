"""The API's reads on the event loop: a small async psycopg pool, and SQLAlchemy Core statements run on it.

The request path's common reads (who is calling, one page of a list) need no transaction and no ORM objects. Run
with the synchronous Session they cost a thread-pool hop and the ORM's bookkeeping, which measured (bench/
api_overhead.py) at more than half of an authenticated list request; run here they cost one statement on the
event loop. Writes, and reads that feed a write, stay with the Session in the thread pool.

Statements are SQLAlchemy Core built from the models (so the models stay the one source of truth), compiled
once per shape for psycopg and cached like SQLAlchemy's own statement cache does. Parameters must be values
psycopg adapts by itself (UUIDs, strings, numbers, datetimes); rows come back as dicts of plain values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from sqlalchemy import ClauseElement
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.sql.compiler import Compiled, SQLCompiler

from controlplane.db import sqlalchemy_url
from controlplane.settings import Settings

T = TypeVar("T")

_COMPILED_CACHE_SIZE = 500


class ConnectionPool:
    """A few autocommit connections, opened on demand, at most ``size`` in use.

    Kept small and fail-fast on purpose: a database that is down fails the request at once (a 503), and the
    first request after it is back connects again. A kept connection the server has dropped since (a restart)
    shows itself by failing; then every kept connection is discarded and the statement runs once more on a new
    one, which is what a ping before each use would buy, without its round trip.
    """

    def __init__(self, conninfo: str, *, size: int, connect_timeout_s: float) -> None:
        self.conninfo = conninfo
        self.connect_timeout_s = connect_timeout_s
        self.idle: list[AsyncConnection[Any]] = []
        self.slots = asyncio.Semaphore(size)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionPool:
        if settings.database_url is None:
            raise RuntimeError("DATABASE_URL must be set (controlplane dev sets it for you)")
        return cls(
            libpq_url(settings.database_url),
            size=settings.database_async_pool_size,
            connect_timeout_s=settings.database_connect_timeout_s,
        )

    async def run(self, use: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        async with self.slots:
            if self.idle:
                try:
                    return await self._use(self.idle.pop(), use)
                except psycopg.OperationalError:
                    await self.close()
            return await self._use(await self._connect(), use)

    async def _connect(self) -> AsyncConnection[Any]:
        return await AsyncConnection.connect(
            self.conninfo, autocommit=True, connect_timeout=max(1, int(self.connect_timeout_s))
        )

    async def _use(self, conn: AsyncConnection[Any], use: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        try:
            result = await use(conn)
        except BaseException:
            await conn.close()  # its state is unknown: never handed out again
            raise
        self.idle.append(conn)
        return result

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            await conn.close()


class StatementCompiler:
    """SQLAlchemy Core statement -> (psycopg SQL, parameters), compiling each statement shape once."""

    def __init__(self) -> None:
        self.dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
        self.compiled: dict[Any, SQLCompiler] = {}

    def __call__(self, statement: ClauseElement, params: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """``params`` fill the statement's named ``bindparam()``s; literal values in it are extracted as usual."""
        cache_key = statement._generate_cache_key()
        if cache_key is None:  # a construct SQLAlchemy cannot cache: compile it every time
            compiled = self._sql_compiler(statement.compile(dialect=self.dialect))
            return compiled.string, dict(compiled.construct_params(params=params))
        compiled = self.compiled.get(cache_key.key) or self._compile(cache_key, statement)
        values = compiled.construct_params(params=params, extracted_parameters=cache_key.bindparams)
        return compiled.string, dict(values)

    def _compile(self, cache_key: CacheKey, statement: ClauseElement) -> SQLCompiler:
        if len(self.compiled) >= _COMPILED_CACHE_SIZE:
            self.compiled.clear()  # shapes come from code paths, so this only happens with unbounded filters
        compiled = self._sql_compiler(statement.compile(dialect=self.dialect, cache_key=cache_key))
        self.compiled[cache_key.key] = compiled
        return compiled

    @staticmethod
    def _sql_compiler(compiled: Compiled) -> SQLCompiler:
        assert isinstance(compiled, SQLCompiler), "only SQL statements run here"
        return compiled


class LoopDatabase:
    """The pool and the compiler together: ``await db.all(statement)``, ``await db.execute(statement)``."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.compile = StatementCompiler()

    async def all(self, statement: ClauseElement, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        sql, values = self.compile(statement, params)

        async def fetch(conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
            async with conn.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(sql, values, prepare=True)
                return await cursor.fetchall()

        return await self.pool.run(fetch)

    async def one_or_none(
        self, statement: ClauseElement, params: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        rows = await self.all(statement, params)
        if len(rows) > 1:
            raise RuntimeError("the statement returned more than one row")
        return rows[0] if rows else None

    async def execute(self, statement: ClauseElement, params: dict[str, Any] | None = None) -> None:
        sql, values = self.compile(statement, params)

        async def run(conn: AsyncConnection[Any]) -> None:
            await conn.execute(sql, values)

        await self.pool.run(run)

    async def close(self) -> None:
        await self.pool.close()


def libpq_url(database_url: str) -> str:
    """The URL libpq reads: SQLAlchemy's form without the ``+psycopg`` driver name."""
    url = make_url(sqlalchemy_url(database_url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)
