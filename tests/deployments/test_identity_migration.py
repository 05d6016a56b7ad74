"""Revision 0006 on a database holding namespaces from before tenant identities: existing rows keep working."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from controlplane.db import sqlalchemy_url
from controlplane.embedded import EmbeddedPostgres
from controlplane.migrations import upgrade
from programs.tenant.identity import is_platform_namespace
from tests.support.migrations import database_at

DATABASE = "migration_0006"


@pytest.fixture
def old_database(postgres: EmbeddedPostgres) -> Iterator[str]:
    """A database migrated up to 0004 (the revision before tenant identities); dropped afterwards."""
    with database_at(postgres, DATABASE, "0004") as url:
        yield url


def _account(conn: Connection) -> uuid.UUID:
    account_id = uuid.uuid4()
    conn.execute(text("INSERT INTO accounts (id, age_confirmed_at) VALUES (:id, now())"), {"id": account_id})
    return account_id


def _namespace(conn: Connection, account_id: uuid.UUID, name: str, state: str = "active", **extra: Any) -> uuid.UUID:
    namespace_id = uuid.uuid4()
    conn.execute(
        text(
            "INSERT INTO namespaces (id, account_id, name, desired_state, status, generation, observed_generation, "
            "outputs, conditions, failure_count, updated_at) "
            "VALUES (:id, :account, :name, :state, :status, 3, 3, '{}', '[]', 0, now())"
        ),
        {
            "id": namespace_id,
            "account": account_id,
            "name": name,
            "state": state,
            "status": extra.get("status", "ready"),
        },
    )
    return namespace_id


def _app(conn: Connection, namespace_id: uuid.UUID, domains: list[str]) -> None:
    conn.execute(
        text(
            "INSERT INTO apps (id, namespace_id, name, image, replicas, cpu_millicores, memory_mib, ports, env, "
            "health_check_path, custom_domains) VALUES (:id, :ns, 'web', 'ghcr.io/acme/web:1.0', 1, 250, 256, "
            "'[]', '{}', '/', CAST(:domains AS json))"
        ),
        {"id": uuid.uuid4(), "ns": namespace_id, "domains": json.dumps(domains)},
    )


def test_existing_namespaces_get_their_identity_without_moving(old_database: str) -> None:
    engine = create_engine(sqlalchemy_url(old_database))
    with engine.begin() as conn:
        alice, bob = _account(conn), _account(conn)
        shop = _namespace(conn, alice, "shop")
        _app(conn, shop, ["Shop.Example.COM.", "shop.example.com"])
        old_shop = _namespace(conn, bob, "shop", "deleted", status="deleted")  # deleted earlier: name reused since
        cattle = _namespace(conn, bob, "cattle-x")  # was accepted then; a platform prefix now
    upgrade(old_database)
    with engine.begin() as conn:
        rows = {row.id: row for row in conn.execute(text("SELECT * FROM namespaces"))}
        issued = {(row.kind, row.value) for row in conn.execute(text("SELECT kind, value FROM issued_identities"))}
        claims = conn.execute(text("SELECT namespace_id, account_id, domain, status FROM custom_domains")).all()
        notices = conn.execute(text("SELECT account_id, kind, body FROM notifications")).all()
    engine.dispose()

    # The live namespace keeps its Kubernetes namespace (and so its volumes); the others get a fresh one.
    assert rows[shop].cluster_name == "shop"
    assert rows[old_shop].cluster_name == f"t-{rows[old_shop].host_suffix}"
    assert rows[cattle].cluster_name == f"t-{rows[cattle].host_suffix}"
    assert not is_platform_namespace(rows[cattle].cluster_name)
    assert len({row.host_suffix for row in rows.values()}) == 3
    # Every name that reached the cluster is registered, so none is ever issued again.
    assert {("cluster_name", "shop"), ("cluster_name", "cattle-x")} <= issued
    assert {("host_suffix", row.host_suffix) for row in rows.values()} <= issued
    # The resync applies the new identity.
    assert rows[shop].generation == 4
    assert rows[shop].status == "pending"
    assert rows[old_shop].generation == 3
    # Existing domains were never proved: pending claims, and their owner is told how to verify them.
    assert [(c.namespace_id, c.account_id, c.domain, c.status) for c in claims] == [
        (shop, alice, "shop.example.com", "pending")
    ]
    [(account_id, kind, body)] = notices
    assert (account_id, kind) == (alice, "domain_verification_needed")
    assert "_controlplane-challenge.shop.example.com" in body
