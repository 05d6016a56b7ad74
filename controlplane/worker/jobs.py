"""The job wrapper: a job owns its transaction, and jobs it asks for are pushed after its commit."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from controlplane.runtime import get_runtime

P = ParamSpec("P")
R = TypeVar("R")


def transactional_job(fn: Callable[Concatenate[Session, P], R]) -> Callable[P, R]:
    """Run ``fn(session, *args)`` in one transaction: commit on return, roll back on error."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with get_runtime().transaction() as session:
            return fn(session, *args, **kwargs)

    return run


def purge_idempotency_records() -> int:
    from controlplane.idempotency.service import purge_expired

    with get_runtime().transaction() as session:
        return purge_expired(session)
