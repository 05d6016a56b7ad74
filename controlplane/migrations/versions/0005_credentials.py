"""credentials: sessions a person can see, idempotency records that go with the account, the operators' audit log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("auth_sessions", sa.Column("user_agent", sa.String(length=200), nullable=True))
    op.add_column("auth_sessions", sa.Column("client", sa.String(length=64), nullable=True))

    # Records made before this revision are scoped to a credential's header and may hold a new key's secret:
    # they are dropped rather than kept under rules they were not written for (they live 24 hours anyway).
    op.execute("DELETE FROM idempotency_records")
    op.add_column("idempotency_records", sa.Column("account_id", sa.Uuid(), nullable=True))
    op.add_column(
        "idempotency_records", sa.Column("replayable", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.create_index(op.f("ix_idempotency_records_account_id"), "idempotency_records", ["account_id"], unique=False)

    op.create_table(
        "operator_audit_log",
        sa.Column("actor_account_id", sa.Uuid(), nullable=True),
        sa.Column("credential", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_audit_log")),
    )
    op.create_index(op.f("ix_operator_audit_log_created_at"), "operator_audit_log", ["created_at"], unique=False)
    op.execute(
        """
        CREATE FUNCTION operator_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'operator_audit_log is append-only (% refused)', TG_OP;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER operator_audit_log_append_only BEFORE UPDATE OR DELETE ON operator_audit_log
        FOR EACH ROW EXECUTE FUNCTION operator_audit_log_append_only()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER operator_audit_log_append_only ON operator_audit_log")
    op.execute("DROP FUNCTION operator_audit_log_append_only()")
    op.drop_index(op.f("ix_operator_audit_log_created_at"), table_name="operator_audit_log")
    op.drop_table("operator_audit_log")
    op.drop_index(op.f("ix_idempotency_records_account_id"), table_name="idempotency_records")
    op.drop_column("idempotency_records", "replayable")
    op.drop_column("idempotency_records", "account_id")
    op.drop_column("auth_sessions", "client")
    op.drop_column("auth_sessions", "user_agent")
