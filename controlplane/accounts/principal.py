"""Who is calling: resolved from an API key (``Authorization: Bearer``) or the session cookie."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from controlplane.accounts.credentials import CredentialStore
from controlplane.accounts.scopes import ALL_SCOPES, Access, grants
from controlplane.accounts.secrets import keyed_hash, same_digest
from controlplane.api.deps import SettingsDep
from controlplane.db import utcnow
from controlplane.errors import BadRequest, Forbidden, Unauthorized
from controlplane.settings import Settings

API_KEY_PREFIX = "cpk_"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    account_id: uuid.UUID
    scopes: frozenset[str]
    is_operator: bool
    api_key_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None

    def require(self, family: str, access: Access) -> None:
        if not grants(self.scopes, family, access):
            raise Forbidden(f"this API key lacks the scope {family}:{access}", code="missing_scope")


def _unauthorized() -> Unauthorized:
    # One answer for unknown, revoked and expired credentials: nothing to learn from the difference.
    return Unauthorized("missing or invalid credentials", code="unauthorized")


def split_api_key(key: str) -> tuple[str, str] | None:
    """``cpk_<public id>_<secret>`` -> (prefix, whole key); None for anything else."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    public_id, sep, secret = key[len(API_KEY_PREFIX) :].partition("_")
    if not sep or not public_id or not secret or len(key) > 200:
        return None
    return f"{API_KEY_PREFIX}{public_id}", key


async def principal_from_api_key(store: CredentialStore, settings: Settings, raw_key: str) -> Principal:
    parts = split_api_key(raw_key)
    if parts is None:
        raise _unauthorized()
    prefix, whole = parts
    digest = keyed_hash(settings.api_key_pepper, whole)  # computed first: the same work whether or not it exists
    record = await store.api_key(prefix)
    now = utcnow()
    if (
        record is None
        or not same_digest(record.secret_hash, digest)
        or record.revoked_at is not None
        or (record.expires_at is not None and record.expires_at <= now)
        or record.status != "active"
    ):
        raise _unauthorized()
    if record.last_used_at is None or now - record.last_used_at > _LAST_USED_RESOLUTION:
        await store.touch_api_key(record.id, now)
    return Principal(record.account_id, frozenset(record.scopes), record.is_operator, api_key_id=record.id)


async def principal_from_cookie(request: Request, store: CredentialStore, settings: Settings, token: str) -> Principal:
    now = utcnow()
    record = await store.session(keyed_hash(settings.session_secret, token))
    if record is None or record.expires_at <= now or record.status != "active":
        raise _unauthorized()
    if request.method in _UNSAFE_METHODS:
        _check_csrf(request, settings, record.csrf_hash)
    if now - record.last_seen_at > _LAST_USED_RESOLUTION:
        await store.touch_session(record.id, now)
    return Principal(record.account_id, ALL_SCOPES, record.is_operator, session_id=record.id)


def check_origin(request: Request, settings: Settings) -> None:
    """A browser's request from another site is refused (its ``Origin`` header says where it comes from)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != settings.public_url.rstrip("/"):
        raise Forbidden("cross-origin request refused", code="csrf_failed")


def _check_csrf(request: Request, settings: Settings, csrf_hash: bytes) -> None:
    """Cookie-authenticated writes must echo the session's CSRF token and come from our own origin."""
    check_origin(request, settings)
    supplied = request.headers.get(CSRF_HEADER, "")
    if not supplied or not same_digest(csrf_hash, keyed_hash(settings.session_secret, supplied)):
        raise Forbidden(f"the {CSRF_HEADER} header is missing or wrong", code="csrf_failed")


async def get_credential_store(request: Request) -> CredentialStore:
    store: CredentialStore = request.app.state.credentials
    return store


CredentialStoreDep = Annotated[CredentialStore, Depends(get_credential_store)]


async def current_principal(request: Request, settings: SettingsDep, store: CredentialStoreDep) -> Principal:
    """The caller, resolved on the event loop (see ``controlplane.accounts.credentials``)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise _unauthorized()
        principal = await principal_from_api_key(store, settings, credential.strip())
    elif token := request.cookies.get(settings.session_cookie_name):
        principal = await principal_from_cookie(request, store, settings, token)
    else:
        raise _unauthorized()
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def require_operator(principal: CurrentPrincipal) -> Principal:
    if not principal.is_operator:
        raise Forbidden("operators only", code="operator_only")
    return principal


OperatorPrincipal = Annotated[Principal, Depends(require_operator)]


async def require_session(principal: CurrentPrincipal) -> Principal:
    if principal.session_id is None:
        raise BadRequest("this needs the session cookie, not an API key", code="session_required")
    return principal


SessionPrincipal = Annotated[Principal, Depends(require_session)]


class RequireScope:
    """A dependency: the caller, once the API key's scopes are checked (sessions hold every scope)."""

    def __init__(self, family: str, access: Access) -> None:
        self.family = family
        self.access = access

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        principal.require(self.family, self.access)
        return principal
