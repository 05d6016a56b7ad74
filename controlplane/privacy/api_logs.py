"""API usage logs: one record of metadata per request, never bodies, secrets, codes or phone numbers.

Records are written in batches by a background thread so that logging adds no database round trip to a request;
a crash loses at most the last second of records. The route is the template (``/v1/namespaces/{name}``), not the
path, and the client address (``controlplane.api.client_address``: forwarded only by trusted proxies) is reduced
(IPv4 /24, IPv6 /48) or replaced by a keyed hash, as settings say.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.api.client_address import reduce_client_address
from controlplane.db import utcnow
from controlplane.privacy.models import ApiLog
from controlplane.runtime import Runtime
from controlplane.settings import Settings

log = logging.getLogger(__name__)

_FLUSH_INTERVAL_S = 1.0
_COLUMNS = tuple(column.name for column in ApiLog.__table__.columns)
_COPY_SQL = f"COPY {ApiLog.__tablename__} ({', '.join(_COLUMNS)}) FROM STDIN"
_MAX_BUFFER = 10_000
_BATCH = 500


@dataclass
class ApiLogWriter:
    """Buffers records and inserts them in batches from one background thread."""

    runtime: Runtime

    def __post_init__(self) -> None:
        self._buffer: deque[dict[str, Any]] = deque(maxlen=_MAX_BUFFER)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()

    def add(self, record: dict[str, Any]) -> None:
        self._buffer.append(record)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="api-log-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def flush(self) -> int:
        """Write what is buffered now; returns the number of records written."""
        written = 0
        with self._flush_lock:
            while self._buffer:
                batch = [self._buffer.popleft() for _ in range(min(_BATCH, len(self._buffer)))]
                try:
                    written += self._insert(batch)
                except Exception:  # the database is down: these records are lost, the service goes on
                    log.warning("dropped %d API log records: database unavailable", len(batch))
                    return written
        return written

    def _insert(self, batch: list[dict[str, Any]]) -> int:
        try:
            self._copy(batch)
            return len(batch)
        except (IntegrityError, psycopg.errors.IntegrityError):
            # An account erased since its request was served: keep the other records, drop its own.
            kept = 0
            for record in batch:
                with contextlib.suppress(IntegrityError), self.runtime.engine.begin() as conn:
                    conn.execute(insert(ApiLog), [record])
                    kept += 1
            return kept

    def _copy(self, batch: list[dict[str, Any]]) -> None:
        # COPY rather than INSERT: this thread shares the GIL with the requests, and COPY spends less than half the
        # Python time an INSERT of the same batch does (measured: ~1.1 ms of CPU against ~2.7 ms for 80 records).
        with self.runtime.engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(_COPY_SQL) as copy:
                for record in batch:
                    copy.write_row([record[name] for name in _COLUMNS])

    def _run(self) -> None:
        while not self._stop.wait(_FLUSH_INTERVAL_S):
            self.flush()


class ApiLogMiddleware:
    def __init__(self, app: ASGIApp, *, writer: ApiLogWriter, settings: Settings) -> None:
        self.app = app
        self.writer = writer
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        at = utcnow()
        status = {"code": 500}

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.writer.add(self._record(scope, at, status["code"], started))

    def _record(self, scope: Scope, at: datetime, status: int, started: float) -> dict[str, Any]:
        state = scope.get("state", {})
        principal = state.get("principal")
        route = scope.get("route")
        headers = dict(scope["headers"])
        return {
            "id": uuid.uuid4(),
            "created_at": at,
            "account_id": getattr(principal, "account_id", None),
            "api_key_id": getattr(principal, "api_key_id", None),
            "method": scope["method"][:10],
            "route": (getattr(route, "path", None) or "(unmatched)")[:200],
            "status": status,
            "latency_ms": int((time.perf_counter() - started) * 1000),
            "request_id": str(state.get("request_id", "-"))[:128],
            "client": reduce_client_address(self.settings, state.get("client_address")),
            "user_agent": headers.get(b"user-agent", b"").decode("latin-1")[:256] or None,
        }
