"""Dry runs: a request's session marked so that its edge rolls it back instead of committing.

Everything the request did goes with the rollback: rows written, identities issued, and the jobs collected with
``enqueue_after_commit`` (a rollback drops them, see ``controlplane.queue``). The session's edge (the API's
``get_session``) calls :func:`take` to decide.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from sqlalchemy.orm import Session

DRY_RUN_KEY = "controlplane.dry_run"
QUERY_PARAMETER = "dry_run"
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})  # what the API's boolean query parameters read as true


def requested(query_string: bytes) -> bool:
    """Whether a request's query asks for a dry run (for middleware, which runs before the parameter is parsed)."""
    pairs = parse_qsl(query_string.decode("latin-1"))
    return any(name == QUERY_PARAMETER and value.lower() in _TRUE for name, value in pairs)


def mark(session: Session) -> None:
    session.info[DRY_RUN_KEY] = True


def take(session: Session) -> bool:
    """Whether the session's work is a dry run (to be rolled back); clears the mark."""
    return bool(session.info.pop(DRY_RUN_KEY, False))
