"""tenant identity: cluster names and host suffixes never reused, names per account, custom domain claims

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:00:00.000000

Existing namespaces keep working (docs/ARCHITECTURE.md, "Tenant identity"):
- a live namespace keeps its name as its cluster name (its Kubernetes namespace and volumes stay where they are;
  live names were unique on the platform, so these are unique too), unless the name is a namespace of the cluster
  or the platform (`kube-*`, `openshift-*`, `cattle-*`, ...), in which case it gets `t-<short id>` and the next
  reconcile moves it;
- a deleted namespace gets `t-<short id>` (its destroy works from the stack's state, not from the name);
- every namespace gets a host suffix derived from its id; its platform hostnames change at the next reconcile;
- every name that ever reached the cluster goes into the registry of issued identities, so none is issued again;
- existing custom domains become pending claims (they were never proved) and their owners are told how to verify
  them; until then they are not routed;
- live namespaces get a new generation, so the resync applies all this.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of programs.tenant.identity at the time of this revision (a migration never imports app code).
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_SUFFIX_LENGTH = 8
_PLATFORM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease", "ingress-nginx"}
_PLATFORM_PREFIXES = ("kube-", "openshift-", "cattle-")
_CHALLENGE_PREFIX = "_controlplane-challenge"


def _base36(number: int) -> str:
    digits = []
    for _ in range(_SUFFIX_LENGTH):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def _short_id(namespace_id: uuid.UUID, attempt: int) -> str:
    if attempt == 0:
        return _base36(namespace_id.int >> 87)  # as controlplane.deployments.identity.short_id
    digest = hashlib.sha256(namespace_id.bytes + attempt.to_bytes(4, "big")).digest()
    return _base36(int.from_bytes(digest[:6], "big") >> 7)


def upgrade() -> None:
    op.create_table(
        "issued_identities",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=63), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_issued_identities")),
    )
    op.add_column("namespaces", sa.Column("cluster_name", sa.String(length=63), nullable=True))
    op.add_column("namespaces", sa.Column("host_suffix", sa.String(length=16), nullable=True))
    _give_existing_namespaces_their_identity()
    op.alter_column("namespaces", "cluster_name", nullable=False)
    op.alter_column("namespaces", "host_suffix", nullable=False)
    op.create_unique_constraint(op.f("uq_namespaces_cluster_name"), "namespaces", ["cluster_name"])
    op.create_unique_constraint(op.f("uq_namespaces_host_suffix"), "namespaces", ["host_suffix"])
    op.drop_index(
        "uq_namespaces_live_name", table_name="namespaces", postgresql_where=sa.text("desired_state <> 'deleted'")
    )
    op.create_index(
        "uq_namespaces_account_live_name",
        "namespaces",
        ["account_id", "name"],
        unique=True,
        postgresql_where=sa.text("desired_state <> 'deleted'"),
    )

    op.create_table(
        "custom_domains",
        sa.Column("namespace_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_custom_domains_account_id_accounts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_custom_domains_namespace_id_namespaces"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_domains")),
        sa.UniqueConstraint("namespace_id", "domain", name=op.f("uq_custom_domains_namespace_id_domain")),
    )
    op.create_index(op.f("ix_custom_domains_account_id"), "custom_domains", ["account_id"], unique=False)
    op.create_index(op.f("ix_custom_domains_created_at"), "custom_domains", ["created_at"], unique=False)
    op.create_index(op.f("ix_custom_domains_namespace_id"), "custom_domains", ["namespace_id"], unique=False)
    op.create_index("ix_custom_domains_status_checked", "custom_domains", ["status", "last_checked_at"], unique=False)
    op.create_index(
        "uq_custom_domains_verified",
        "custom_domains",
        ["domain"],
        unique=True,
        postgresql_where=sa.text("status = 'verified'"),
    )
    _claim_existing_custom_domains()
    # Labels, hostnames and routes change: let the resync apply the new identity to every live namespace.
    op.execute(
        "UPDATE namespaces SET generation = generation + 1, "
        "status = CASE WHEN status IN ('ready', 'failed') THEN 'pending' ELSE status END "
        "WHERE desired_state <> 'deleted'"
    )


def _give_existing_namespaces_their_identity() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name, desired_state FROM namespaces ORDER BY created_at, id")).all()
    names = {row.name for row in rows}
    suffixes: set[str] = set()
    cluster_names: set[str] = set()
    for row in rows:
        namespace_id = row.id if isinstance(row.id, uuid.UUID) else uuid.UUID(str(row.id))
        attempt = 0
        while (suffix := _short_id(namespace_id, attempt)) in suffixes or f"t-{suffix}" in names:
            attempt += 1
        suffixes.add(suffix)
        keeps_name = row.desired_state != "deleted" and not (
            row.name in _PLATFORM_NAMESPACES or row.name.startswith(_PLATFORM_PREFIXES)
        )
        cluster_name = row.name if keeps_name else f"t-{suffix}"
        cluster_names.add(cluster_name)
        bind.execute(
            sa.text("UPDATE namespaces SET cluster_name = :cluster, host_suffix = :suffix WHERE id = :id"),
            {"cluster": cluster_name, "suffix": suffix, "id": row.id},
        )
    issued = [{"kind": "cluster_name", "value": value} for value in sorted(names | cluster_names)]
    issued += [{"kind": "host_suffix", "value": value} for value in sorted(suffixes)]
    if issued:
        bind.execute(sa.text("INSERT INTO issued_identities (kind, value) VALUES (:kind, :value)"), issued)


def _claim_existing_custom_domains() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT n.id AS namespace_id, n.account_id, n.name, a.custom_domains FROM apps a "
            "JOIN namespaces n ON n.id = a.namespace_id WHERE n.desired_state <> 'deleted' ORDER BY n.id, a.name"
        )
    ).all()
    claimed: set[tuple[str, str]] = set()
    for row in rows:
        for raw in row.custom_domains or []:
            domain = str(raw).strip().rstrip(".").lower()
            if not domain or (str(row.namespace_id), domain) in claimed:
                continue
            claimed.add((str(row.namespace_id), domain))
            token = secrets.token_urlsafe(24)
            bind.execute(
                sa.text(
                    "INSERT INTO custom_domains (id, namespace_id, account_id, domain, status, token) "
                    "VALUES (:id, :namespace_id, :account_id, :domain, 'pending', :token)"
                ),
                {
                    "id": uuid.uuid4(),
                    "namespace_id": row.namespace_id,
                    "account_id": row.account_id,
                    "domain": domain,
                    "token": token,
                },
            )
            if row.account_id is not None:
                bind.execute(
                    sa.text(
                        "INSERT INTO notifications (id, account_id, kind, title, body, data) "
                        "VALUES (:id, :account_id, 'domain_verification_needed', :title, :body, CAST(:data AS json))"
                    ),
                    {
                        "id": uuid.uuid4(),
                        "account_id": row.account_id,
                        "title": f"Verify {domain} to keep it routed",
                        "body": (
                            f"Custom domains are now routed only once their owner proves control. Create the TXT "
                            f"record {_CHALLENGE_PREFIX}.{domain} with the value {token}, then ask for "
                            f"POST /v1/namespaces/{row.name}/domains/{domain}/verify. Until then {domain} is not "
                            f"routed to namespace {row.name}."
                        ),
                        "data": json.dumps({"namespace": row.name, "domain": domain}),
                    },
                )


def downgrade() -> None:
    op.drop_index(
        "uq_custom_domains_verified", table_name="custom_domains", postgresql_where=sa.text("status = 'verified'")
    )
    op.drop_index("ix_custom_domains_status_checked", table_name="custom_domains")
    op.drop_index(op.f("ix_custom_domains_namespace_id"), table_name="custom_domains")
    op.drop_index(op.f("ix_custom_domains_created_at"), table_name="custom_domains")
    op.drop_index(op.f("ix_custom_domains_account_id"), table_name="custom_domains")
    op.drop_table("custom_domains")
    op.drop_index(
        "uq_namespaces_account_live_name",
        table_name="namespaces",
        postgresql_where=sa.text("desired_state <> 'deleted'"),
    )
    # Fails if two accounts now hold the same live name: names were global before this revision.
    op.create_index(
        "uq_namespaces_live_name",
        "namespaces",
        ["name"],
        unique=True,
        postgresql_where=sa.text("desired_state <> 'deleted'"),
    )
    op.drop_constraint(op.f("uq_namespaces_host_suffix"), "namespaces", type_="unique")
    op.drop_constraint(op.f("uq_namespaces_cluster_name"), "namespaces", type_="unique")
    op.drop_column("namespaces", "host_suffix")
    op.drop_column("namespaces", "cluster_name")
    op.drop_table("issued_identities")
