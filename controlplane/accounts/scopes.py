"""API key scopes: read or write, per resource family. Write implies read; sessions hold every scope."""

from __future__ import annotations

from enum import StrEnum

FAMILIES = ("account", "api-keys", "namespaces", "billing")


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


ALL_SCOPES: frozenset[str] = frozenset(f"{family}:{access}" for family in FAMILIES for access in Access)


def grants(held: frozenset[str], family: str, access: Access) -> bool:
    if f"{family}:{access}" in held:
        return True
    return access is Access.READ and f"{family}:{Access.WRITE}" in held
