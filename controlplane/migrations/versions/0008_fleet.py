"""fleet: each namespace's applied digest, rollouts and their items

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing namespaces start with no digest: the first rollout (or their next update) records one.
    op.add_column("namespaces", sa.Column("applied_digest", sa.String(length=64), nullable=True))
    op.add_column("namespaces", sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("namespaces", sa.Column("rollout_id", sa.Uuid(), nullable=True))

    op.create_table(
        "rollouts",
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("started_by_account_id", sa.Uuid(), nullable=True),
        sa.Column("credential", sa.String(length=80), nullable=False),
        sa.Column("canary_percent", sa.Float(), nullable=False),
        sa.Column("wave_growth", sa.Float(), nullable=False),
        sa.Column("failure_threshold", sa.Float(), nullable=False),
        sa.Column("program_version", sa.String(length=64), nullable=False),
        sa.Column("current_wave", sa.Integer(), nullable=False),
        sa.Column("waves", sa.Integer(), nullable=False),
        sa.Column("considered", sa.Integer(), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["started_by_account_id"],
            ["accounts.id"],
            name=op.f("fk_rollouts_started_by_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    op.create_index(op.f("ix_rollouts_created_at"), "rollouts", ["created_at"], unique=False)
    op.create_index(op.f("ix_rollouts_status"), "rollouts", ["status"], unique=False)

    op.create_table(
        "rollout_items",
        sa.Column("rollout_id", sa.Uuid(), nullable=False),
        sa.Column("namespace_id", sa.Uuid(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("previous_digest", sa.String(length=64), nullable=True),
        sa.Column("target_digest", sa.String(length=64), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_rollout_items_namespace_id_namespaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name=op.f("fk_rollout_items_rollout_id_rollouts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("rollout_id", "namespace_id", name=op.f("pk_rollout_items")),
    )
    op.create_index(op.f("ix_rollout_items_namespace_id"), "rollout_items", ["namespace_id"], unique=False)
    op.create_index(
        "ix_rollout_items_rollout_wave_state", "rollout_items", ["rollout_id", "wave", "state"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_rollout_items_rollout_wave_state", table_name="rollout_items")
    op.drop_index(op.f("ix_rollout_items_namespace_id"), table_name="rollout_items")
    op.drop_table("rollout_items")
    op.drop_index(op.f("ix_rollouts_status"), table_name="rollouts")
    op.drop_index(op.f("ix_rollouts_created_at"), table_name="rollouts")
    op.drop_table("rollouts")
    op.drop_column("namespaces", "rollout_id")
    op.drop_column("namespaces", "reconciled_at")
    op.drop_column("namespaces", "applied_digest")
