"""Scopes: read or write, per resource family. Write implies read.

Tenant families cover an account's own data. The ``operator`` family opens the operators' endpoints, and only
for an account that holds the operator role (granted by the ``controlplane operator`` command, never through the
API): an operator scope on a key of an account without the role grants nothing.

A session holds every tenant scope, plus the operator scopes when its account is an operator. An API key holds
the scopes it was issued with, and was issued with no more than its issuer held (``controlplane.accounts.grants``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

TENANT_FAMILIES = ("account", "api-keys", "namespaces", "billing")
OPERATOR_FAMILY = "operator"


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


def _scopes(families: Iterable[str]) -> frozenset[str]:
    return frozenset(f"{family}:{access}" for family in families for access in Access)


TENANT_SCOPES: frozenset[str] = _scopes(TENANT_FAMILIES)
OPERATOR_SCOPES: frozenset[str] = _scopes([OPERATOR_FAMILY])
KNOWN_SCOPES: frozenset[str] = TENANT_SCOPES | OPERATOR_SCOPES


def grants(held: frozenset[str], family: str, access: Access) -> bool:
    if f"{family}:{access}" in held:
        return True
    return access is Access.READ and f"{family}:{Access.WRITE}" in held


def implied(held: Iterable[str]) -> frozenset[str]:
    """``held`` with what it implies (write gives read)."""
    scopes = set(held)
    for scope in held:
        family, _, access = scope.partition(":")
        if access == Access.WRITE:
            scopes.add(f"{family}:{Access.READ}")
    return frozenset(scopes)


def effective(held: Iterable[str], *, is_operator: bool) -> frozenset[str]:
    """What a credential really holds: operator scopes count only while the account has the operator role."""
    allowed = KNOWN_SCOPES if is_operator else TENANT_SCOPES
    return frozenset(held) & allowed


def of_session(*, is_operator: bool) -> frozenset[str]:
    return KNOWN_SCOPES if is_operator else TENANT_SCOPES
