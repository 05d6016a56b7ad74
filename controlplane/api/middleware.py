"""ASGI middleware: request ids, the client's address, request logging, the body size limit, HEAD as GET."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.api.client_address import client_address, reduce_client_address
from controlplane.errors import PayloadTooLarge, error_body
from controlplane.logs import request_id_var
from controlplane.settings import Settings

log = logging.getLogger("controlplane.access")

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


async def send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestContextMiddleware:
    """Gives every request an id (the caller's, when it is sane) and its client's address, echoes the id, logs
    the request (one JSON line: see ``controlplane.logs``), caps the body."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.header = settings.request_id_header.lower().encode()
        self.max_body_bytes = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        token = request_id_var.set(request_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_address"] = client_address(scope, self.settings.trusted_proxies)
        echo = (self.header, request_id.encode())
        started = time.perf_counter()
        status_holder = {"status": 500}
        response_started = {"value": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                response_started["value"] = True
                message["headers"] = [*message.get("headers", []), echo]
            await send(message)

        try:
            declared = self._declared_length(scope)
            if declared is None and scope["method"] in _BODY_METHODS:
                buffered = await self._buffered(receive)
                if buffered is None:
                    await send_json(send_with_id, 413, self._too_large().to_body(), [])
                    return
                receive = buffered
            elif declared is not None and declared > self.max_body_bytes:
                await send_json(send_with_id, 413, self._too_large().to_body(), [])
                return
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answer here rather than in Starlette's outermost handler, so a 500 still carries the request id.
            log.exception("unhandled error")
            if not response_started["value"]:
                body = error_body("internal_error", "an unexpected error occurred; quote the request id")
                await send_json(send_with_id, 500, body, [])
        finally:
            log.info("request", extra={"fields": self._line(scope, status_holder["status"], started)})
            request_id_var.reset(token)

    def _line(self, scope: Scope, status: int, started: float) -> dict[str, Any]:
        route = scope.get("route")
        return {
            "event": "request",
            "method": scope["method"],
            "route": getattr(route, "path", None) or "(unmatched)",  # the template: no ids, names or addresses
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "client": reduce_client_address(self.settings, scope["state"].get("client_address")),
        }

    def _request_id(self, scope: Scope) -> str:
        for name, value in scope["headers"]:
            if name == self.header:
                candidate: str = value.decode("latin-1")
                if _VALID_REQUEST_ID.fullmatch(candidate):
                    return candidate
        return uuid.uuid4().hex

    @staticmethod
    def _declared_length(scope: Scope) -> int | None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"request bodies are limited to {self.max_body_bytes} bytes")

    async def _buffered(self, receive: Receive) -> Receive | None:
        """Read a body of undeclared length (chunked) up to the cap; None when it is over the cap."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


class HeadAsGetMiddleware:
    """``HEAD`` is answered as ``GET`` would be, without the body (RFC 9110): same status, headers, checks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # In place, and restored: the middleware around this one reads the method and the matched route from it.
        scope["method"] = "GET"
        try:
            await self.app(scope, receive, without_body)
        finally:
            scope["method"] = "HEAD"
