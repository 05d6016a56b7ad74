"""Revision 0007 on a database holding namespaces and balances from before revisions: each namespace starts with one
revision, its current generation, and an account told it was low is not told that again."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from controlplane.db import sqlalchemy_url
from controlplane.embedded import EmbeddedPostgres
from controlplane.migrations import upgrade
from tests.support.migrations import database_at

DATABASE = "migration_0007"
WEB = {
    "name": "web", "image": "ghcr.io/acme/web:1.2.3", "replicas": 2, "cpu_millicores": 250, "memory_mib": 256,
    "ports": [{"name": "http", "port": 8080, "public": True}], "env": {"MODE": "production"},
    "volume_size_gib": 5, "volume_mount_path": "/data", "health_check_path": "/healthz",
    "custom_domains": ["shop.example.com", "pending.example.com"],
}  # fmt: skip


@pytest.fixture
def old_database(postgres: EmbeddedPostgres) -> Iterator[str]:
    """A database migrated up to 0006 (the revision before revisions); dropped afterwards."""
    with database_at(postgres, DATABASE, "0006") as url:
        yield url


def test_each_namespace_starts_with_its_current_generation_as_a_revision(old_database: str) -> None:
    engine = create_engine(sqlalchemy_url(old_database))
    account_id, applied_id, pending_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, age_confirmed_at) VALUES (:id, now())"), {"id": account_id})
        for namespace_id, name, generation, observed in ((applied_id, "shop", 4, 4), (pending_id, "blog", 2, 1)):
            conn.execute(
                text(
                    "INSERT INTO namespaces (id, account_id, name, cluster_name, host_suffix, desired_state, status,"
                    " generation, observed_generation, outputs, conditions, failure_count, updated_at)"
                    " VALUES (:id, :account, :name, :cluster, :suffix, 'active', 'ready', :generation, :observed,"
                    " '{}', '[]', 0, now())"
                ),
                {"id": namespace_id, "account": account_id, "name": name, "cluster": f"t-{name}0000",
                 "suffix": f"{name}0000", "generation": generation, "observed": observed},
            )  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO apps (id, namespace_id, name, image, replicas, cpu_millicores, memory_mib, ports, env,"
                " volume_size_gib, volume_mount_path, health_check_path, custom_domains, created_at)"
                " VALUES (:id, :ns, :name, :image, :replicas, :cpu, :memory, :ports, :env, :size, :path, :health,"
                " :domains, now())"
            ),
            {"id": uuid.uuid4(), "ns": applied_id, "name": WEB["name"], "image": WEB["image"],
             "replicas": WEB["replicas"], "cpu": WEB["cpu_millicores"], "memory": WEB["memory_mib"],
             "ports": json.dumps(WEB["ports"]), "env": json.dumps(WEB["env"]), "size": WEB["volume_size_gib"],
             "path": WEB["volume_mount_path"], "health": WEB["health_check_path"],
             "domains": json.dumps(WEB["custom_domains"])},
        )  # fmt: skip
        for domain, status in (("shop.example.com", "verified"), ("pending.example.com", "pending")):
            conn.execute(
                text(
                    "INSERT INTO custom_domains (id, namespace_id, account_id, domain, status, token, created_at)"
                    " VALUES (:id, :ns, :account, :domain, :status, 'token', now())"
                ),
                {"id": uuid.uuid4(), "ns": applied_id, "account": account_id, "domain": domain, "status": status},
            )
        conn.execute(
            text(
                "INSERT INTO billing_accounts (id, account_id, balance, unpaid, hourly_cost, low_balance_notified_at,"
                " updated_at) VALUES (:id, :account, 10, 0, 5, now(), now())"
            ),
            {"id": uuid.uuid4(), "account": account_id},
        )
    engine.dispose()

    upgrade(old_database, "0007")

    engine = create_engine(sqlalchemy_url(old_database))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT namespace_id, generation, desired_state, document, verified_domains, diff, author_kind,"
                " outcome FROM namespace_revisions ORDER BY generation"
            )
        ).all()
        notified = conn.execute(text("SELECT runway_notice_hours FROM billing_accounts")).scalar_one()
    engine.dispose()
    by_namespace = {row.namespace_id: row for row in rows}
    assert len(rows) == 2
    blog, shop = by_namespace[pending_id], by_namespace[applied_id]
    assert (blog.generation, blog.outcome, blog.author_kind, blog.document["apps"]) == (2, "pending", "platform", [])
    assert (shop.generation, shop.outcome, shop.diff) == (4, "applied", {})
    assert shop.verified_domains == ["shop.example.com"]
    # The document as GET .../config exports it.
    assert shop.document == {
        "apiVersion": "controlplane.io/v1",
        "kind": "Namespace",
        "name": "shop",
        "apps": [
            {
                "name": "web", "image": WEB["image"], "replicas": 2, "cpu_millicores": 250, "memory_mib": 256,
                "ports": WEB["ports"], "env": WEB["env"], "volume": {"size_gib": 5, "mount_path": "/data"},
                "health_check_path": "/healthz", "custom_domains": WEB["custom_domains"],
            }
        ],
    }  # fmt: skip
    assert notified == 24
