"""``Idempotency-Key`` on POST: a retried create returns the first answer instead of creating twice.

The caller is authenticated first, with the same checks the endpoint makes (CSRF included for the cookie), and the
key is scoped to that credential (a keyed hash of the API key's or session's id; the client address for calls
that present no credential). A request whose credential fails is not looked up at all: the endpoint answers it
(401, 403), so a dead session can never fetch an earlier answer.

The first request claims the key; a retry with the same body replays the stored answer; the same key with another
body is refused (422); a retry while the first is still running gets 409. Only successful answers are kept, so a
failed request can be retried with its key. An answer that shows a secret once (it sets a cookie, or says
``Cache-Control: no-store``, as a new API key does) is never stored: a retry gets 409
``idempotent_secret_not_replayable``. Records expire after ``idempotency_ttl_hours`` and go with the account. A
dry run (``?dry_run=true``) stores nothing, so it keeps no record either: repeating one is always safe.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane import dry_run
from controlplane.accounts.credentials import CredentialStore
from controlplane.accounts.principal import Principal, authenticate, presents_credential
from controlplane.accounts.secrets import keyed_hash
from controlplane.api.middleware import send_json
from controlplane.errors import AppError, error_body
from controlplane.idempotency import service
from controlplane.idempotency.service import Answer, Claim, Outcome
from controlplane.runtime import Runtime

HEADER = b"idempotency-key"
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")  # visible ASCII and spaces: nothing that can break a log or header
# How the OpenAPI document shows it on every POST (controlplane.api.openapi).
OPENAPI_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retrying a POST with the same key and body returns the first answer instead of acting twice "
    "(kept idempotency_ttl_hours, scoped to your credential; an answer that showed a secret is never kept)",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": f"^{KEY_PATTERN.pattern}$"},
}
OPENAPI_ERRORS = {
    400: "The Idempotency-Key header is not 1 to 255 visible ASCII characters (`invalid_idempotency_key`)",
    409: "A request with this Idempotency-Key is still running (`idempotency_key_in_use`), or it succeeded with a "
    "secret that is not kept (`idempotent_secret_not_replayable`)",
    422: "This Idempotency-Key was used with another request (`idempotency_key_reused`)",
}
_KEPT_HEADERS = (b"content-type", b"location")


class IdempotencyMiddleware:
    def __init__(
        self, app: ASGIApp, *, runtime: Callable[[], Runtime], credentials: Callable[[], CredentialStore]
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, HEADER) if scope["type"] == "http" and scope["method"] == "POST" else None
        if key is None:
            await self.app(scope, receive, send)
            return
        if not KEY_PATTERN.fullmatch(key):
            body = error_body("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 visible ASCII characters")
            await send_json(send, 400, body, [])
            return
        if dry_run.requested(scope.get("query_string", b"")):  # a dry run stores nothing, ever
            await self.app(scope, receive, send)
            return
        try:
            request_body = await _read_body(receive)
        except AppError as exc:
            await send_json(send, exc.status_code, exc.to_body(), [])
            return
        runtime = self.runtime()
        request = Request(scope)
        caller: Principal | None = None
        if presents_credential(request, runtime.settings):
            try:
                caller = await authenticate(request, runtime.settings, self.credentials())
            except AppError:
                await self.app(scope, _replaying(request_body), send)  # the endpoint refuses it, as always
                return
            scope.setdefault("state", {})["principal"] = caller  # resolved once per request
        await self._idempotent(scope, send, runtime, caller, key, request_body)

    async def _idempotent(
        self, scope: Scope, send: Send, runtime: Runtime, caller: Principal | None, key: str, request_body: bytes
    ) -> None:
        secret = runtime.settings.session_secret
        scope_hash = keyed_hash(secret, _identity(scope, caller))
        # Keyed: a request body (a phone number, say) must not be recoverable from the stored digest.
        request_hash = keyed_hash(
            secret, "\0".join([scope["path"], scope.get("query_string", b"").decode("latin-1"), request_body.hex()])
        )
        found = await anyio.to_thread.run_sync(
            _claim, runtime, scope_hash, key, request_hash, caller.account_id if caller else None
        )
        if found.outcome is Outcome.MISMATCH:
            message = "this Idempotency-Key was used with a different request"
            await send_json(send, 422, error_body("idempotency_key_reused", message), [])
        elif found.outcome is Outcome.IN_PROGRESS:
            message = "a request with this Idempotency-Key is still in progress"
            await send_json(send, 409, error_body("idempotency_key_in_use", message), [])
        elif found.outcome is Outcome.SECRET:
            message = (
                "the request with this Idempotency-Key succeeded, and its answer showed a secret once; "
                "it is not kept, so it cannot be sent again (list what exists instead)"
            )
            await send_json(send, 409, error_body("idempotent_secret_not_replayable", message), [])
        elif found.outcome is Outcome.REPLAY:
            await _replay(send, found)
        else:
            assert found.record_id is not None
            await self._run_and_settle(scope, send, runtime, found, request_body)

    async def _run_and_settle(
        self, scope: Scope, send: Send, runtime: Runtime, found: Claim, request_body: bytes
    ) -> None:
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": [], "secret": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    [name.decode(), value.decode()] for name, value in message["headers"] if name in _KEPT_HEADERS
                ]
                captured["secret"] = _shows_secret(message["headers"])
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, _replaying(request_body), capture)
        finally:
            answer = Answer(captured["status"], captured["headers"], b"".join(captured["body"]), captured["secret"])
            assert found.record_id is not None
            await anyio.to_thread.run_sync(_settle, runtime, found.record_id, answer)


def _claim(  # on a worker thread
    runtime: Runtime, scope_hash: bytes, key: str, request_hash: bytes, account_id: uuid.UUID | None
) -> Claim:
    ttl = timedelta(hours=runtime.settings.idempotency_ttl_hours)
    with runtime.transaction() as session:
        return service.claim(session, scope_hash, key, request_hash, account_id=account_id, ttl=ttl)


def _settle(runtime: Runtime, record_id: uuid.UUID, answer: Answer) -> None:  # on a worker thread
    with runtime.transaction() as session:
        service.settle(session, record_id, answer)


def _identity(scope: Scope, caller: Principal | None) -> str:
    if caller is not None:
        return caller.identity
    client = scope.get("client") or ("unknown", 0)
    return f"anonymous:{client[0]}"


def _shows_secret(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"set-cookie":
            return True
        if name == b"cache-control" and b"no-store" in value.lower():
            return True
    return False


def _replaying(body: bytes) -> Receive:
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _replay(send: Send, found: Claim) -> None:
    headers = [(name.encode(), value.encode()) for name, value in found.headers or []]
    headers.append((b"idempotent-replayed", b"true"))
    headers.append((b"content-length", str(len(found.body)).encode()))
    await send({"type": "http.response.start", "status": found.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": found.body})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for header, value in scope["headers"]:
        if header == name:
            return str(value.decode("latin-1"))
    return None
