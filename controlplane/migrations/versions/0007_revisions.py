"""revisions of every namespace's desired state, and runway notices instead of one low-balance notice

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00.000000

- `namespace_revisions`: one row per accepted desired-state change, immutable except for its outcome (a trigger).
  Every existing namespace gets one revision for its current generation (author "platform", reason "revisions
  began"): applied when that generation is applied, pending otherwise. Older generations were never recorded.
- `billing_accounts.runway_notice_hours` replaces `low_balance_notified_at`: an account told it was low is
  treated as told at the 24-hour threshold (the old notice's), so it is not told that again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of controlplane.deployments.models at the time of this revision (a migration never imports app code).
_OUTCOME_COLUMNS = "ARRAY['outcome', 'operation_id', 'outcome_at', 'outcome_message', 'author_account_id']"
_IMMUTABLE_FUNCTION = f"""
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
_IMMUTABLE_TRIGGER = """
CREATE TRIGGER namespace_revisions_immutable BEFORE UPDATE ON namespace_revisions
FOR EACH ROW EXECUTE FUNCTION namespace_revisions_immutable()
"""


def upgrade() -> None:
    op.create_table(
        "namespace_revisions",
        sa.Column("namespace_id", sa.Uuid(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("desired_state", sa.String(length=20), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("verified_domains", sa.JSON(), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=False),
        sa.Column("author_kind", sa.String(length=20), nullable=False),
        sa.Column("author_account_id", sa.Uuid(), nullable=True),
        sa.Column("author_api_key_id", sa.Uuid(), nullable=True),
        sa.Column("author_session_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("rollback_of", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("operation_id", sa.Uuid(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_message", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_account_id"],
            ["accounts.id"],
            name=op.f("fk_namespace_revisions_author_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_namespace_revisions_namespace_id_namespaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operations.id"],
            name=op.f("fk_namespace_revisions_operation_id_operations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_namespace_revisions")),
        sa.UniqueConstraint("namespace_id", "generation", name=op.f("uq_namespace_revisions_namespace_id_generation")),
    )
    op.create_index(op.f("ix_namespace_revisions_created_at"), "namespace_revisions", ["created_at"])
    op.execute(_IMMUTABLE_FUNCTION)
    op.execute(_IMMUTABLE_TRIGGER)
    _record_current_generations()

    op.add_column("billing_accounts", sa.Column("runway_notice_hours", sa.Integer(), nullable=True))
    op.execute("UPDATE billing_accounts SET runway_notice_hours = 24 WHERE low_balance_notified_at IS NOT NULL")
    op.drop_column("billing_accounts", "low_balance_notified_at")


def downgrade() -> None:
    op.add_column("billing_accounts", sa.Column("low_balance_notified_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE billing_accounts SET low_balance_notified_at = now() WHERE runway_notice_hours IS NOT NULL")
    op.drop_column("billing_accounts", "runway_notice_hours")
    op.drop_table("namespace_revisions")
    op.execute("DROP FUNCTION namespace_revisions_immutable()")


# --- the revision every namespace starts with ----------------------------------------------------------------


def _app_document(app: Any) -> dict[str, Any]:
    """An app as ``GET .../config`` exported it at this revision (fields left out when null)."""
    document: dict[str, Any] = {
        "name": app.name,
        "image": app.image,
        "replicas": app.replicas,
        "cpu_millicores": app.cpu_millicores,
        "memory_mib": app.memory_mib,
        "ports": [{"name": p["name"], "port": p["port"], "public": p.get("public", False)} for p in app.ports],
        "env": app.env or {},
    }
    if app.volume_size_gib is not None:
        document["volume"] = {"size_gib": app.volume_size_gib, "mount_path": app.volume_mount_path}
    document["health_check_path"] = app.health_check_path
    document["custom_domains"] = app.custom_domains or []
    return document


def _record_current_generations() -> None:
    bind = op.get_bind()
    namespaces = bind.execute(
        sa.text(
            "SELECT id, account_id, name, desired_state, status, generation, observed_generation, created_at"
            " FROM namespaces"
        )
    ).all()
    revisions = sa.table(
        "namespace_revisions",
        *(sa.column(name) for name in ("id", "namespace_id", "generation", "desired_state", "author_kind", "reason",
                                       "outcome", "outcome_at", "created_at")),
        *(sa.column(name, sa.JSON()) for name in ("document", "verified_domains", "diff")),
    )  # fmt: skip
    for namespace in namespaces:
        apps = bind.execute(
            sa.text(
                "SELECT name, image, replicas, cpu_millicores, memory_mib, ports, env, volume_size_gib,"
                " volume_mount_path, health_check_path, custom_domains FROM apps WHERE namespace_id = :id"
                " ORDER BY name"
            ),
            {"id": namespace.id},
        ).all()
        verified = bind.execute(
            sa.text(
                "SELECT domain FROM custom_domains WHERE namespace_id = :id AND status = 'verified' ORDER BY domain"
            ),
            {"id": namespace.id},
        ).scalars()
        applied = namespace.observed_generation >= namespace.generation or namespace.status == "deleted"
        document = {
            "apiVersion": "controlplane.io/v1",
            "kind": "Namespace",
            "name": namespace.name,
            "apps": [_app_document(app) for app in apps],
        }
        bind.execute(
            revisions.insert().values(
                id=uuid.uuid4(),
                namespace_id=namespace.id,
                generation=namespace.generation,
                desired_state=namespace.desired_state,
                document=document,
                verified_domains=list(verified),
                diff={},
                author_kind="platform",
                reason="revisions began: the state at migration 0007",
                outcome="applied" if applied else "pending",
                outcome_at=sa.func.now() if applied else None,
                created_at=sa.func.now(),
            )
        )
