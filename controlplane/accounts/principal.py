"""Who is calling, and what every route requires of them.

The caller is resolved from an API key (``Authorization: Bearer``) or the session cookie. Every route declares
what it requires with exactly the access rules below, as dependencies: a scope, an operator scope, a (recent)
session, any credential, or ``Public`` with the reason it needs none. ``tests/foundation/test_route_guards.py``
walks every route and refuses one that declares nothing, and the OpenAPI document shows each rule
(``controlplane.api.openapi``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import Depends, Request

from controlplane.accounts import scopes as scope_sets
from controlplane.accounts.credentials import ApiKeyRecord, CredentialStore, SessionRecord
from controlplane.accounts.scopes import Access, grants
from controlplane.accounts.secrets import keyed_hash, same_digest
from controlplane.api.deps import SettingsDep
from controlplane.db import utcnow
from controlplane.errors import Forbidden, Unauthorized
from controlplane.settings import Settings

API_KEY_PREFIX = "cpk_"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    account_id: uuid.UUID
    scopes: frozenset[str]  # what the credential holds now (operator scopes only while the role is held)
    is_operator: bool
    api_key_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    expires_at: datetime | None = None  # the credential's own end, if it has one
    signed_in_at: datetime | None = None  # sessions only: when the person proved who they are

    @property
    def identity(self) -> str:
        """The credential itself (not the account): what idempotency records are scoped to."""
        if self.api_key_id is not None:
            return f"api-key:{self.api_key_id}"
        return f"session:{self.session_id}"

    def require(self, family: str, access: Access) -> None:
        if not grants(self.scopes, family, access):
            what = "this API key" if self.api_key_id is not None else "this session"
            raise Forbidden(f"{what} lacks the scope {family}:{access}", code="missing_scope")


def account_owner(account_id: uuid.UUID, *, is_operator: bool = False) -> Principal:
    """The account's person as a fresh sign-in makes them, for work done on their behalf outside a request."""
    now = utcnow()
    return Principal(account_id, scope_sets.of_session(is_operator=is_operator), is_operator, signed_in_at=now)


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


def _key_principal(record: ApiKeyRecord) -> Principal:
    held = scope_sets.effective(record.scopes, is_operator=record.is_operator)
    return Principal(record.account_id, held, record.is_operator, api_key_id=record.id, expires_at=record.expires_at)


def _session_principal(record: SessionRecord) -> Principal:
    return Principal(
        record.account_id,
        scope_sets.of_session(is_operator=record.is_operator),
        record.is_operator,
        session_id=record.id,
        expires_at=record.expires_at,
        signed_in_at=record.created_at,
    )


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
    return _key_principal(record)


async def principal_from_cookie(request: Request, store: CredentialStore, settings: Settings, token: str) -> Principal:
    now = utcnow()
    record = await store.session(keyed_hash(settings.session_secret, token))
    if record is None or record.expires_at <= now or record.status != "active":
        raise _unauthorized()
    if request.method in _UNSAFE_METHODS:
        _check_csrf(request, settings, record.csrf_hash)
    if now - record.last_seen_at > _LAST_USED_RESOLUTION:
        await store.touch_session(record.id, now)
    return _session_principal(record)


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


def presents_credential(request: Request, settings: Settings) -> bool:
    return "authorization" in request.headers or settings.session_cookie_name in request.cookies


async def authenticate(request: Request, settings: Settings, store: CredentialStore) -> Principal:
    """The caller of ``request``; raises 401 for a missing or invalid credential, 403 for a failed CSRF check."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise _unauthorized()
        return await principal_from_api_key(store, settings, credential.strip())
    if token := request.cookies.get(settings.session_cookie_name):
        return await principal_from_cookie(request, store, settings, token)
    raise _unauthorized()


async def get_credential_store(request: Request) -> CredentialStore:
    store: CredentialStore = request.app.state.credentials
    return store


CredentialStoreDep = Annotated[CredentialStore, Depends(get_credential_store)]


async def current_principal(request: Request, settings: SettingsDep, store: CredentialStoreDep) -> Principal:
    """The caller, resolved on the event loop (see ``controlplane.accounts.credentials``), once per request: the
    idempotency middleware may have resolved it already, with the same checks."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        principal = await authenticate(request, settings, store)
        request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


# --- Access rules: what a route requires ---------------------------------------------------------------------------

RuleKind = Literal["public", "authenticated", "scopes", "operator", "session", "recent_session"]


@dataclass(frozen=True)
class Requirement:
    """What a rule asks of the caller, for people (the OpenAPI document) and for the route-walking test."""

    kind: RuleKind
    scopes: tuple[str, ...] = ()
    note: str = ""


class AccessRule:
    """A dependency that admits the caller or raises 401/403; ``requirement`` says what it checks."""

    requirement: Requirement


class Public(AccessRule):
    """No credential: anyone may call (say why in ``reason``)."""

    def __init__(self, reason: str) -> None:
        self.requirement = Requirement("public", note=reason)

    async def __call__(self) -> None:
        return None


class Authenticated(AccessRule):
    """Any valid credential, whatever its scopes (e.g. "who am I")."""

    requirement = Requirement("authenticated")

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        return principal


class RequireScope(AccessRule):
    """The caller, once the credential's scopes are checked (sessions hold every tenant scope)."""

    def __init__(self, family: str, access: Access) -> None:
        self.family = family
        self.access = access
        self.requirement = Requirement("scopes", (f"{family}:{access}",))

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        principal.require(self.family, self.access)
        return principal


class RequireScopes(AccessRule):
    """Every one of several scopes (an endpoint whose answer spans several families)."""

    def __init__(self, *needed: tuple[str, Access]) -> None:
        self.needed = needed
        self.requirement = Requirement("scopes", tuple(f"{family}:{access}" for family, access in needed))

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        for family, access in self.needed:
            principal.require(family, access)
        return principal


class RequireOperator(AccessRule):
    """The operator role (never granted through the API) and the ``operator:<access>`` scope."""

    def __init__(self, access: Access) -> None:
        self.access = access
        self.requirement = Requirement("operator", (f"{scope_sets.OPERATOR_FAMILY}:{access}",))

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        if not principal.is_operator:
            raise Forbidden("operators only", code="operator_only")
        principal.require(scope_sets.OPERATOR_FAMILY, self.access)
        return principal


class RequireSession(AccessRule):
    """The session cookie, not an API key (e.g. signing out)."""

    requirement = Requirement("session")

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        if principal.session_id is None:
            raise Forbidden("this needs the session cookie, not an API key", code="session_required")
        return principal


class RequireRecentSession(AccessRule):
    """A session that signed in recently (``recent_sign_in_s``): changing how one signs in, deleting the account.

    Never an API key: a leaked key must not be able to add a way in (and then a session holding every scope).
    """

    requirement = Requirement(
        "recent_session", note="a session that signed in recently (CONTROLPLANE_RECENT_SIGN_IN_S); never an API key"
    )

    async def __call__(self, principal: CurrentPrincipal, settings: SettingsDep) -> Principal:
        window = settings.recent_sign_in_s
        if principal.session_id is None:
            raise Forbidden(
                f"this needs a session that signed in within the last {_minutes(window)}; an API key can never do it",
                code="recent_session_required",
            )
        if principal.signed_in_at is None or utcnow() - principal.signed_in_at > timedelta(seconds=window):
            raise Forbidden(
                f"this needs a session that signed in within the last {_minutes(window)}: sign in again",
                code="recent_session_required",
            )
        return principal


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} seconds"


AnyCaller = Annotated[Principal, Depends(Authenticated())]
OperatorReader = Annotated[Principal, Depends(RequireOperator(Access.READ))]
OperatorWriter = Annotated[Principal, Depends(RequireOperator(Access.WRITE))]
SessionPrincipal = Annotated[Principal, Depends(RequireSession())]
RecentSession = Annotated[Principal, Depends(RequireRecentSession())]
