"""Server-side sessions: a random token in the session cookie, only its keyed hash in ``auth_sessions``.

The CSRF token is derived from the session token (an HMAC under the session secret), so it is stored only as a
hash too and ``GET /v1/auth/session`` can hand it out again after a page reload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account, ApiKey, AuthSession
from controlplane.accounts.principal import Principal
from controlplane.accounts.secrets import keyed_hash, new_token
from controlplane.api.pagination import PageParams, paginate
from controlplane.db import utcnow
from controlplane.errors import NotFound
from controlplane.settings import Settings


@dataclass(frozen=True)
class Device:
    """What the person sees of a sign-in in their list of sessions."""

    user_agent: str | None
    client: str | None  # already reduced


@dataclass(frozen=True)
class NewSession:
    account: Account
    token: str
    csrf_token: str
    expires_at: datetime
    new_account: bool


def csrf_token_for(settings: Settings, token: str) -> str:
    digest = hmac.new(settings.session_secret.get_secret_value().encode(), b"csrf:" + token.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def start_session(
    session: Session,
    settings: Settings,
    account: Account,
    *,
    replacing: str | None,
    new_account: bool = False,
    device: Device | None = None,
) -> NewSession:
    """A fresh session for ``account``; the caller's previous one (its cookie's token), if any, ends."""
    if replacing:
        end_session_by_token(session, settings, replacing)
    token = new_token()
    csrf_token = csrf_token_for(settings, token)
    now = utcnow()
    expires_at = now + timedelta(hours=settings.session_ttl_hours)
    session.add(
        AuthSession(
            account_id=account.id,
            token_hash=keyed_hash(settings.session_secret, token),
            csrf_hash=keyed_hash(settings.session_secret, csrf_token),
            expires_at=expires_at,
            last_seen_at=now,
            user_agent=device.user_agent if device else None,
            client=device.client if device else None,
        )
    )
    session.flush()
    return NewSession(account, token, csrf_token, expires_at, new_account)


def end_session(session: Session, account_id: uuid.UUID, session_id: uuid.UUID, *, must_exist: bool = False) -> None:
    ended = session.execute(
        delete(AuthSession).where(AuthSession.id == session_id, AuthSession.account_id == account_id)
    )
    if must_exist and not ended.rowcount:  # type: ignore[attr-defined]
        raise NotFound("no such session")


def end_other_sessions(session: Session, account_id: uuid.UUID, keep: uuid.UUID | None) -> int:
    """End every session of the account but ``keep`` (the caller's own, if it is a session)."""
    stmt = delete(AuthSession).where(AuthSession.account_id == account_id)
    if keep is not None:
        stmt = stmt.where(AuthSession.id != keep)
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def list_sessions(
    session: Session, account_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[AuthSession], str | None]:
    live = select(AuthSession).where(AuthSession.account_id == account_id, AuthSession.expires_at > utcnow())
    return paginate(session, live, AuthSession.created_at, AuthSession.id, page)


def end_session_by_token(session: Session, settings: Settings, token: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_hash == keyed_hash(settings.session_secret, token)))


@dataclass(frozen=True)
class SignedInAs:
    account_id: uuid.UUID
    is_operator: bool
    authenticated_by: str  # "session" or "api_key"
    expires_at: datetime | None
    csrf_token: str | None


def signed_in_as(session: Session, settings: Settings, principal: Principal, cookie_token: str | None) -> SignedInAs:
    """Who is calling, and for a session cookie its expiry and CSRF token (to recover it after a page reload)."""
    if principal.session_id is None:
        expires_at = None
        if principal.api_key_id is not None:
            key = session.get(ApiKey, principal.api_key_id)
            expires_at = key.expires_at if key is not None else None
        return SignedInAs(principal.account_id, principal.is_operator, "api_key", expires_at, None)
    row = session.get(AuthSession, principal.session_id)
    return SignedInAs(
        principal.account_id,
        principal.is_operator,
        "session",
        row.expires_at if row is not None else None,
        csrf_token_for(settings, cookie_token) if cookie_token else None,
    )
