"""Issuing a new namespace its identity: its id, its cluster name and its host suffix, none ever issued before.

The short id is the top 41 bits of the namespace's (random) id in base 36, eight characters: the cluster name is
`t-<short id>` and the host suffix is the short id itself (`programs.tenant.identity`). Both are written to the
registry of issued identities, which nothing deletes: when a value was issued before (to a namespace that may be
long gone, its row erased with its account), the namespace gets another id and tries again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.deployments.models import IdentityKind, IssuedIdentity
from programs.tenant.identity import HOST_SUFFIX_LENGTH, cluster_name_for

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_SHORT_ID_BITS = 41  # 36**8 > 2**41: eight base-36 digits always suffice
_ATTEMPTS = 8


class IdentityExhausted(RuntimeError):
    """No fresh identity in several draws: the registry is far fuller than 41 bits should ever be."""


@dataclass(frozen=True)
class NamespaceIdentity:
    namespace_id: uuid.UUID
    cluster_name: str
    host_suffix: str


def stack_name_of(namespace_id: uuid.UUID) -> str:
    """The namespace's Pulumi stack (and stack lock): from its id, like everything that reaches the cluster."""
    return f"ns-{namespace_id.hex}"


def short_id(namespace_id: uuid.UUID) -> str:
    number = namespace_id.int >> (128 - _SHORT_ID_BITS)
    digits = []
    for _ in range(HOST_SUFFIX_LENGTH):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def issue_identity(session: Session, new_id: Callable[[], uuid.UUID] = uuid.uuid4) -> NamespaceIdentity:
    """Register and return a fresh identity. Runs in a savepoint per draw, so a value already issued costs a retry,
    never the caller's transaction."""
    for _ in range(_ATTEMPTS):
        namespace_id = new_id()
        suffix = short_id(namespace_id)
        candidate = NamespaceIdentity(namespace_id, cluster_name_for(suffix), suffix)
        try:
            with session.begin_nested():
                session.add_all(
                    [
                        IssuedIdentity(kind=IdentityKind.CLUSTER_NAME, value=candidate.cluster_name),
                        IssuedIdentity(kind=IdentityKind.HOST_SUFFIX, value=candidate.host_suffix),
                    ]
                )
        except IntegrityError:
            continue
        return candidate
    raise IdentityExhausted(f"no fresh namespace identity in {_ATTEMPTS} draws")
