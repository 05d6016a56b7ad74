"""Keyed hashes and tokens. Secrets are compared in constant time and stored only as HMAC-SHA256 digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pydantic import SecretStr


def keyed_hash(pepper: SecretStr, value: str) -> bytes:
    return hmac.new(pepper.get_secret_value().encode(), value.encode(), hashlib.sha256).digest()


def same_digest(left: bytes, right: bytes) -> bool:
    return hmac.compare_digest(left, right)


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
