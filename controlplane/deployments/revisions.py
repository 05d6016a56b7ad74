"""Revisions: every accepted desired-state change of a namespace, kept as its whole spec, who made it, and the change.

A revision is recorded for each generation (``deployments.changes.accept``, called by every change the service
accepts: tenant writes, rollbacks, billing's lifecycle moves, custom domain checks), so generation N of a namespace
is revision N. Its spec is what a reconcile of that generation applies: the configuration document (the YAML of
``GET .../config``: apps with their env and custom domains), the desired lifecycle state, and the custom domains
verified at the time. ``diff`` is the change against the revision before it.

Rows are immutable (a database trigger) except for their outcome, which the reconcile writes: ``applied`` with the
operation for the generation an update applied, ``superseded`` for older ones still pending then (coalesced edits
that never ran on their own), ``failed`` or ``refused`` (by the policy pack) for a run that failed.

Retention (docs/PRIVACY.md): kept while the namespace exists, the newest ``revision_history_limit`` per namespace
(and always the one running), deleted with the namespace's rows at account deletion.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from controlplane.api.pagination import PageParams, paginate
from controlplane.db import utcnow
from controlplane.deployments.domains import verified_domains
from controlplane.deployments.models import AuthorKind, Namespace, Revision, RevisionOutcome
from controlplane.deployments.schemas import AppIn, NamespaceConfig
from controlplane.deployments.spec import app_document
from controlplane.errors import NotFound
from controlplane.runtime import get_runtime

# A bounded number of bounded batches per run: a larger backlog is finished by the next run.
_PRUNE_BATCHES = 100


@dataclass(frozen=True)
class Author:
    """Who made a change: an account with its session or API key, or the platform (with the reason)."""

    kind: AuthorKind
    account_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None

    @classmethod
    def platform(cls) -> Author:
        return cls(AuthorKind.PLATFORM)


@dataclass(frozen=True)
class Spec:
    """What a generation asks for: the configuration document, the lifecycle state, the verified domains."""

    desired_state: str
    document: dict[str, Any]
    verified_domains: tuple[str, ...]

    @classmethod
    def of_namespace(cls, namespace: Namespace) -> Spec:
        return cls(namespace.desired_state, config_document(namespace), tuple(sorted(verified_domains(namespace))))

    @classmethod
    def of_revision(cls, revision: Revision) -> Spec:
        return cls(revision.desired_state, revision.document, tuple(revision.verified_domains))

    @property
    def apps(self) -> dict[str, dict[str, Any]]:
        return {app["name"]: app for app in self.document.get("apps", [])}


def config_document(namespace: Namespace) -> dict[str, Any]:
    """The namespace's configuration document, as ``GET .../config`` exports it (apps in name order)."""
    apps = sorted(namespace.apps, key=lambda app: app.name)
    document = NamespaceConfig(name=namespace.name, apps=[AppIn(**app_document(app)) for app in apps])
    dumped: dict[str, Any] = document.model_dump(mode="json", exclude_none=True)
    return dumped


# --- the change between two specs ----------------------------------------------------------------------------


def diff_specs(old: Spec | None, new: Spec) -> dict[str, Any]:
    """A structured diff: the lifecycle state, apps added and removed, each changed app's fields as
    ``{"from": old, "to": new}`` (maps such as ``env`` and ``volume`` key by key), verified domains added and
    removed. Empty when nothing differs."""
    diff: dict[str, Any] = {}
    if old is None or old.desired_state != new.desired_state:
        diff["desired_state"] = {"from": old.desired_state if old else None, "to": new.desired_state}
    old_apps, new_apps = (old.apps if old else {}), new.apps
    apps: dict[str, Any] = {}
    if added := sorted(new_apps.keys() - old_apps.keys()):
        apps["added"] = added
    if removed := sorted(old_apps.keys() - new_apps.keys()):
        apps["removed"] = removed
    changed = {name: fields for name in sorted(old_apps.keys() & new_apps.keys())
               if (fields := _value_diff(old_apps[name], new_apps[name]))}  # fmt: skip
    if changed:
        apps["changed"] = changed
    if apps:
        diff["apps"] = apps
    old_domains, new_domains = set(old.verified_domains if old else ()), set(new.verified_domains)
    if old_domains != new_domains:
        diff["verified_domains"] = {"added": sorted(new_domains - old_domains),
                                    "removed": sorted(old_domains - new_domains)}  # fmt: skip
    return diff


def _value_diff(old: Any, new: Any) -> dict[str, Any]:
    if old == new:
        return {}
    if isinstance(old, dict) and isinstance(new, dict):
        return {key: sub for key in sorted(old.keys() | new.keys()) if (sub := _value_diff(old.get(key), new.get(key)))}
    return {"from": old, "to": new}


# --- recording -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    generation: int
    diff: dict[str, Any]
    previous: Spec | None  # the spec of the revision before (None for a new namespace)


def record(
    session: Session, namespace: Namespace, author: Author, *, reason: str | None, rollback_of: int | None
) -> Recorded:
    """Record the namespace's current desired state as revision ``namespace.generation``."""
    previous = previous_spec(session, namespace.id, namespace.generation)
    spec = Spec.of_namespace(namespace)
    diff = diff_specs(previous, spec)
    row = {
        "id": uuid.uuid4(),
        "namespace_id": namespace.id,
        "generation": namespace.generation,
        "desired_state": spec.desired_state,
        "document": spec.document,
        "verified_domains": list(spec.verified_domains),
        "diff": diff,
        "author_kind": author.kind,
        "author_account_id": author.account_id,
        "author_api_key_id": author.api_key_id,
        "author_session_id": author.session_id,
        "reason": reason,
        "rollback_of": rollback_of,
        "outcome": RevisionOutcome.PENDING,
        "created_at": utcnow(),
    }
    session.execute(_INSERT, row)
    return Recorded(namespace.generation, diff, previous)


def previous_spec(session: Session, namespace_id: uuid.UUID, generation: int) -> Spec | None:
    """The spec of the newest revision before ``generation``."""
    row = session.execute(_PREVIOUS, {"namespace_id": namespace_id, "generation": generation}).one_or_none()
    return None if row is None else Spec(row.desired_state, row.document, tuple(row.verified_domains))


# Built once: these run in every write.
_INSERT = insert(Revision)
_PREVIOUS = (
    select(Revision.desired_state, Revision.document, Revision.verified_domains)
    .where(Revision.namespace_id == bindparam("namespace_id"), Revision.generation < bindparam("generation"))
    .order_by(Revision.generation.desc())
    .limit(1)
)


# --- outcomes (written by the reconcile) -------------------------------------------------------------------------


def mark_applied(
    session: Session, namespace_id: uuid.UUID, generation: int, operation_id: uuid.UUID, now: datetime | None = None
) -> None:
    """An update of ``generation`` succeeded: it is applied, and older revisions still pending never will be."""
    now = now or utcnow()
    session.execute(
        update(Revision)
        .where(Revision.namespace_id == namespace_id, Revision.generation == generation)
        .values(outcome=RevisionOutcome.APPLIED, operation_id=operation_id, outcome_at=now, outcome_message=None)
    )
    session.execute(
        update(Revision)
        .where(
            Revision.namespace_id == namespace_id,
            Revision.generation < generation,
            Revision.outcome == RevisionOutcome.PENDING,
        )
        .values(
            outcome=RevisionOutcome.SUPERSEDED,
            outcome_at=now,
            outcome_message=f"revision {generation} was applied before this one ran",
        )
    )


def mark_failed(
    session: Session,
    namespace_id: uuid.UUID,
    generation: int,
    operation_id: uuid.UUID | None,
    message: str,
    *,
    refused: bool,
    now: datetime | None = None,
) -> None:
    """The run of ``generation`` failed (``refused``: the policy pack refused it). A later success makes it
    applied; an applied revision stays applied."""
    session.execute(
        update(Revision)
        .where(
            Revision.namespace_id == namespace_id,
            Revision.generation == generation,
            Revision.outcome.in_([RevisionOutcome.PENDING, RevisionOutcome.FAILED]),
        )
        .values(
            outcome=RevisionOutcome.REFUSED if refused else RevisionOutcome.FAILED,
            operation_id=operation_id,
            outcome_at=now or utcnow(),
            outcome_message=message,
        )
    )


# --- reads -------------------------------------------------------------------------------------------------------


def list_revisions(session: Session, namespace: Namespace, page: PageParams) -> tuple[Sequence[Revision], str | None]:
    stmt = select(Revision).where(Revision.namespace_id == namespace.id)
    return paginate(session, stmt, Revision.created_at, Revision.id, page)


def get_revision(session: Session, namespace: Namespace, generation: int) -> Revision:
    revision = session.scalar(
        select(Revision).where(Revision.namespace_id == namespace.id, Revision.generation == generation)
    )
    if revision is None:
        raise NotFound(f"namespace {namespace.name!r} has no revision {generation}")
    return revision


def all_of(session: Session, namespace_id: uuid.UUID) -> Sequence[Revision]:
    """Every stored revision of a namespace, oldest first (the export and the configs archive)."""
    return session.scalars(
        select(Revision).where(Revision.namespace_id == namespace_id).order_by(Revision.generation)
    ).all()


# --- retention ---------------------------------------------------------------------------------------------------

_PRUNE = text(
    """
    DELETE FROM namespace_revisions r
    WHERE r.id IN (
        SELECT ranked.id
        FROM (SELECT id, namespace_id, generation,
                     row_number() OVER (PARTITION BY namespace_id ORDER BY generation DESC) AS newer
              FROM namespace_revisions
              WHERE namespace_id IN (SELECT namespace_id FROM namespace_revisions
                                     GROUP BY namespace_id HAVING count(*) > :keep)) ranked
        JOIN namespaces n ON n.id = ranked.namespace_id
        WHERE ranked.newer > :keep AND ranked.generation <> n.observed_generation
        LIMIT :batch
    )
    """
)


def prune(session: Session, keep: int, batch: int) -> int:
    """Delete one batch of revisions beyond the newest ``keep`` of each namespace (never the one running)."""
    deleted: int = session.execute(_PRUNE, {"keep": keep, "batch": batch}).rowcount  # type: ignore[attr-defined]
    return deleted


def prune_revisions() -> int:
    """Periodic: keep the newest ``revision_history_limit`` revisions per namespace, and the one running."""
    runtime = get_runtime()
    settings = runtime.settings
    deleted = 0
    for _ in range(_PRUNE_BATCHES):
        with runtime.transaction() as session:
            count = prune(session, settings.revision_history_limit, settings.retention_batch_size)
        deleted += count
        if count < settings.retention_batch_size:
            break
    return deleted
