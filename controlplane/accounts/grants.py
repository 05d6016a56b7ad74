"""What a credential may hand on: the one rule every path that issues a credential goes through.

A credential never yields more than it holds. A new API key gets only scopes its issuer holds (write gives read),
and an issuer that expires cannot issue a key that outlives it. Sessions come only from signing in (a phone code
or a wallet's signature), never from another credential; adding a way in needs a recent session
(``RequireRecentSession``), so no key can reach a session either.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from controlplane.accounts.principal import Principal
from controlplane.accounts.scopes import KNOWN_SCOPES, implied
from controlplane.db import utcnow
from controlplane.errors import Forbidden, Unprocessable


def check_key_grant(issuer: Principal, scopes: Collection[str], expires_at: datetime | None) -> None:
    """Refuse a key ``issuer`` may not issue: unknown scopes (422), more than it holds or longer-lived (403)."""
    requested = set(scopes)
    unknown = sorted(requested - KNOWN_SCOPES)
    if unknown:
        raise Unprocessable(f"unknown scopes: {', '.join(unknown)}", details={"allowed": sorted(KNOWN_SCOPES)})
    if not requested:
        raise Unprocessable("an API key needs at least one scope", details={"allowed": sorted(KNOWN_SCOPES)})
    not_held = sorted(requested - implied(issuer.scopes))
    if not_held:
        raise Forbidden(
            f"a credential can only grant scopes it holds itself; not held: {', '.join(not_held)}",
            code="scope_not_held",
            details={"not_held": not_held, "held": sorted(issuer.scopes)},
        )
    if expires_at is not None and expires_at <= utcnow():
        raise Unprocessable("expires_at must be in the future")
    issuer_ends = issuer.expires_at if issuer.api_key_id is not None else None  # a session's keys may outlive it
    if issuer_ends is not None and (expires_at is None or expires_at > issuer_ends):
        raise Forbidden(
            f"this API key expires at {issuer_ends.isoformat()}: a key it creates must expire no later",
            code="expiry_exceeds_grant",
            details={"latest_expiry": issuer_ends.isoformat()},
        )
