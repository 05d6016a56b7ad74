"""Desired state (namespaces, apps, custom domains) and its revisions, what the engine observed (operations and their
events), and the registry of identities ever issued to a namespace."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event, func, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column, relationship

from controlplane.db import Base, IdMixin, TimestampMixin, utcnow


class DesiredState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # workloads at zero, no public routes, volumes kept
    VOLUMES_RELEASED = "volumes_released"  # suspended, and the volume claims removed
    DELETED = "deleted"  # the stack is destroyed and removed; the configuration is kept


class Status(StrEnum):
    PENDING = "pending"  # a change waits for its reconcile
    RECONCILING = "reconciling"
    READY = "ready"  # observed_generation == generation
    FAILED = "failed"  # the last run failed; a retry is scheduled
    STALLED = "stalled"  # retries exhausted; an operator retry is needed
    WAITING_FOR_ENGINE = "waiting_for_engine"  # the engine's tools are missing: not a failure; resumes on its own
    DELETED = "deleted"


class OperationKind(StrEnum):
    UP = "up"
    PREVIEW = "preview"
    REFRESH = "refresh"
    DESTROY = "destroy"
    DRIFT_CHECK = "drift_check"


class OperationResult(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # the stack already had what the desired state declares (same digest): no Pulumi run


class DomainStatus(StrEnum):
    PENDING = "pending"  # claimed; not routed until the TXT challenge is answered
    VERIFIED = "verified"  # the owner proved control: routed, and reserved to the namespace


class IdentityKind(StrEnum):
    CLUSTER_NAME = "cluster_name"
    HOST_SUFFIX = "host_suffix"


class IssuedIdentity(Base):
    """Every cluster name and host suffix ever issued. Never deleted (not even by account deletion, which erases
    the namespace rows): a value in here is never issued again."""

    __tablename__ = "issued_identities"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(63), primary_key=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Namespace(IdMixin, TimestampMixin, Base):
    __tablename__ = "namespaces"

    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    # The tenant's display name: the API's key, unique among the account's live namespaces only.
    name: Mapped[str] = mapped_column(String(63))
    # What reaches shared space: the Kubernetes namespace and the hostnames' suffix (programs.tenant.identity).
    cluster_name: Mapped[str] = mapped_column(String(63), unique=True)
    host_suffix: Mapped[str] = mapped_column(String(16), unique=True)
    desired_state: Mapped[str] = mapped_column(String(20), default=DesiredState.ACTIVE)
    status: Mapped[str] = mapped_column(String(20), default=Status.PENDING, index=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    observed_generation: Mapped[int] = mapped_column(Integer, default=0)
    # What the last successful run applied, so billing and the lifecycle know what is really out there.
    observed_state: Mapped[str | None] = mapped_column(String(20))
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    drift_detected: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    suspended_at: Mapped[datetime | None]
    volumes_released_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The fleet (controlplane/fleet): the digest of what the last successful update applied (None while an update
    # runs or before the first), when a reconcile last found the stack as desired, and the rollout that has queued
    # an update of this namespace (None when none has).
    applied_digest: Mapped[str | None] = mapped_column(String(64))
    reconciled_at: Mapped[datetime | None]
    rollout_id: Mapped[uuid.UUID | None]

    apps: Mapped[list[App]] = relationship(
        back_populates="namespace", cascade="all, delete-orphan", order_by="App.name", lazy="selectin"
    )
    domains: Mapped[list[CustomDomain]] = relationship(
        back_populates="namespace", order_by="CustomDomain.domain", lazy="selectin", passive_deletes=True
    )

    __table_args__ = (
        # A name is unique among the account's namespaces that exist; a deleted one's configuration is kept.
        Index(
            "uq_namespaces_account_live_name",
            "account_id",
            "name",
            unique=True,
            postgresql_where=text("desired_state <> 'deleted'"),
        ),
    )

    @property
    def queued_by_rollout(self) -> bool:
        return self.rollout_id is not None

    @property
    def stack_name(self) -> str:
        return f"ns-{self.id.hex}"


class App(IdMixin, TimestampMixin, Base):
    __tablename__ = "apps"

    namespace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("namespaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    image: Mapped[str] = mapped_column(String(512))
    replicas: Mapped[int] = mapped_column(Integer)
    cpu_millicores: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    ports: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    env: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    volume_size_gib: Mapped[int | None] = mapped_column(Integer)
    volume_mount_path: Mapped[str | None] = mapped_column(String(255))
    health_check_path: Mapped[str] = mapped_column(String(255), default="/")
    custom_domains: Mapped[list[str]] = mapped_column(JSON, default=list)

    namespace: Mapped[Namespace] = relationship(back_populates="apps")

    __table_args__ = (UniqueConstraint("namespace_id", "name"),)


class CustomDomain(IdMixin, TimestampMixin, Base):
    """A namespace's claim on a custom domain. At most one claim per domain is verified on the whole platform; a
    pending claim blocks nobody (several namespaces may claim a domain; the first to prove control wins). A verified
    claim outlives its namespace's deletion until ``released_at`` (the reservation's end)."""

    __tablename__ = "custom_domains"

    namespace_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("namespaces.id", ondelete="SET NULL"), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    domain: Mapped[str] = mapped_column(String(253))  # normalised: lower-case, IDNA (A-labels), no trailing dot
    status: Mapped[str] = mapped_column(String(20), default=DomainStatus.PENDING)
    token: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]  # a re-check found the record gone; unrouted after the grace
    last_error: Mapped[str | None] = mapped_column(Text)
    released_at: Mapped[datetime | None]  # set when the namespace is deleted: the reservation ends then

    namespace: Mapped[Namespace | None] = relationship(back_populates="domains")

    __table_args__ = (
        UniqueConstraint("namespace_id", "domain"),
        Index("uq_custom_domains_verified", "domain", unique=True, postgresql_where=text("status = 'verified'")),
        Index("ix_custom_domains_status_checked", "status", "last_checked_at"),
    )


class Operation(IdMixin, TimestampMixin, Base):
    __tablename__ = "operations"

    namespace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("namespaces.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    generation: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(20), default=OperationResult.RUNNING)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    changes: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=1)


class OperationEvent(Base):
    __tablename__ = "operation_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    operation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operations.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_operation_events_operation_id_id", "operation_id", "id"),)


class RevisionOutcome(StrEnum):
    PENDING = "pending"  # accepted, not applied yet
    APPLIED = "applied"  # an update of this generation succeeded (``operation_id`` says which)
    SUPERSEDED = "superseded"  # a newer revision was applied before this one ran: coalesced
    FAILED = "failed"  # the run of this generation failed (a retry that succeeds makes it applied)
    REFUSED = "refused"  # the policy pack refused it when it ran


class AuthorKind(StrEnum):
    ACCOUNT = "account"  # the tenant, with a session or an API key
    PLATFORM = "platform"  # billing's lifecycle, a domain check, an account deletion: ``reason`` says which


class Revision(IdMixin, TimestampMixin, Base):
    """One accepted desired-state change of a namespace, as generation ``generation``: the whole spec (the
    configuration document ``GET .../config`` exports, the lifecycle state, the verified domains), who made it, and
    the change against the revision before. Immutable (a trigger refuses any update) except for its outcome, which
    the reconcile writes. Deleted with the namespace's rows (account deletion) or by the history cap."""

    __tablename__ = "namespace_revisions"

    namespace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("namespaces.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(Integer)
    desired_state: Mapped[str] = mapped_column(String(20))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # holds env values: personal data, see docs/PRIVACY.md
    verified_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    diff: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # against the namespace's previous revision
    author_kind: Mapped[str] = mapped_column(String(20))
    author_account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    author_api_key_id: Mapped[uuid.UUID | None]  # the credential, as history (no key: keys are deleted)
    author_session_id: Mapped[uuid.UUID | None]
    reason: Mapped[str | None] = mapped_column(Text)
    rollback_of: Mapped[int | None] = mapped_column(Integer)  # the generation whose spec this one restores
    outcome: Mapped[str] = mapped_column(String(20), default=RevisionOutcome.PENDING)
    operation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operations.id", ondelete="SET NULL"))
    outcome_at: Mapped[datetime | None]
    outcome_message: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("namespace_id", "generation"),)


# Immutable but for the outcome, enforced by the database (the foreign key may also detach the author's account).
# Migration 0007 creates the same function and trigger.
_OUTCOME_COLUMNS = "ARRAY['outcome', 'operation_id', 'outcome_at', 'outcome_message', 'author_account_id']"
REVISION_IMMUTABLE_FUNCTION = f"""
CREATE FUNCTION namespace_revisions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF to_jsonb(NEW) - {_OUTCOME_COLUMNS} = to_jsonb(OLD) - {_OUTCOME_COLUMNS}
       AND (NEW.author_account_id IS NULL OR NEW.author_account_id = OLD.author_account_id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a revision is immutable except for its outcome' USING ERRCODE = 'restrict_violation';
END
$$
"""
REVISION_IMMUTABLE_TRIGGER = """
CREATE TRIGGER namespace_revisions_immutable BEFORE UPDATE ON namespace_revisions
FOR EACH ROW EXECUTE FUNCTION namespace_revisions_immutable()
"""


def _create_immutable_trigger(_table: Any, connection: Connection, **_kw: Any) -> None:
    connection.execute(text(REVISION_IMMUTABLE_FUNCTION))
    connection.execute(text(REVISION_IMMUTABLE_TRIGGER))


event.listen(Revision.__table__, "after_create", _create_immutable_trigger)
