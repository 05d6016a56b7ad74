"""Dry runs: a request's session marked so that its edge rolls it back instead of committing.

Everything the request did goes with the rollback: rows written, identities issued, and the jobs collected with
``enqueue_after_commit`` (a rollback drops them, see ``controlplane.queue``). The session's edge (the API's
``get_session``) calls :func:`take` to decide.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

DRY_RUN_KEY = "controlplane.dry_run"


def mark(session: Session) -> None:
    session.info[DRY_RUN_KEY] = True


def take(session: Session) -> bool:
    """Whether the session's work is a dry run (to be rolled back); clears the mark."""
    return bool(session.info.pop(DRY_RUN_KEY, False))
