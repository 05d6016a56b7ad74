"""Wallets: single-use SIWE nonces in Redis, and proof that the caller controls an address."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis

from controlplane import rate_limits
from controlplane.accounts import siwe
from controlplane.db import utcnow
from controlplane.settings import Settings

NONCE_PREFIX = "cp:siwe:nonce:"


@dataclass(frozen=True)
class IssuedNonce:
    nonce: str
    expires_at: datetime
    domain: str
    uri: str
    chain_ids: list[int]


def issue_nonce(redis: Redis, settings: Settings, client_ip: str) -> IssuedNonce:
    """A nonce to put in the next SIWE message: good once, for ``siwe_nonce_ttl_s``."""
    rate_limits.enforce(
        redis,
        rate_limits.subject(settings, "siwe-nonce-ip", client_ip),
        limit=settings.siwe_nonces_per_ip_per_hour,
        window_s=3600,
        what="sign-in attempts from this address",
    )
    nonce = secrets.token_hex(16)  # 32 alphanumerics; EIP-4361 asks for at least 8
    redis.set(NONCE_PREFIX + nonce, b"1", ex=settings.siwe_nonce_ttl_s)
    return IssuedNonce(
        nonce=nonce,
        expires_at=utcnow() + timedelta(seconds=settings.siwe_nonce_ttl_s),
        domain=siwe.expected_domain(settings),
        uri=siwe.expected_uri(settings),
        chain_ids=list(settings.siwe_chain_ids),
    )


def prove_wallet(redis: Redis, settings: Settings, message: str, signature: str) -> str:
    """The EIP-55 address that signed ``message``, once every check passed and its nonce is burnt."""
    checked = siwe.check_message(settings, message, utcnow())
    # GETDEL: of two requests carrying the same nonce, exactly one finds it.
    if redis.getdel(NONCE_PREFIX + checked.nonce) is None:
        raise siwe.refused("nonce_invalid", "the nonce was not issued by this server, was already used, or has expired")
    siwe.check_signature(settings, checked, signature)
    return checked.address
