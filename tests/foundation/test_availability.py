"""A database or Redis that goes away: /readyz says which, requests get a 503, and service resumes by itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.api.app import create_app
from controlplane.embedded import EmbeddedPostgres, EmbeddedRedis
from controlplane.migrations import upgrade
from controlplane.runtime import Runtime
from controlplane.settings import Settings


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[tuple[EmbeddedPostgres, EmbeddedRedis]]:
    postgres = EmbeddedPostgres.start(tmp_path / "pg", database="outage")
    upgrade(postgres.url)
    redis = EmbeddedRedis.start(tmp_path / "redis")
    yield postgres, redis
    redis.stop()
    postgres.stop()


@pytest.fixture
def outage_client(own_servers: tuple[EmbeddedPostgres, EmbeddedRedis]) -> Iterator[TestClient]:
    postgres, redis = own_servers
    settings = Settings(env="test", database_url=postgres.url, redis_url=redis.url, redis_socket_timeout_s=0.5)
    runtime = Runtime.connect(settings)
    with TestClient(create_app(runtime)) as client:
        yield client
    runtime.close()


def test_database_outage_then_recovery(
    own_servers: tuple[EmbeddedPostgres, EmbeddedRedis], outage_client: TestClient, tmp_path: Path
) -> None:
    postgres, _ = own_servers
    assert outage_client.get("/readyz").status_code == 200
    postgres.stop()

    ready = outage_client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "not_ready"
    assert ready.json()["error"]["details"]["redis"] == "ok"
    assert ready.json()["error"]["details"]["database"] != "ok"
    listed = outage_client.get("/v1/api-keys", headers={"Authorization": "Bearer cpk_abc_def"})
    assert listed.status_code == 503
    assert listed.json()["error"]["code"] == "service_unavailable"

    postgres.restart()
    assert outage_client.get("/readyz").status_code == 200
    assert outage_client.get("/v1/api-keys", headers={"Authorization": "Bearer cpk_abc_def"}).status_code == 401


def test_redis_outage_then_recovery(
    own_servers: tuple[EmbeddedPostgres, EmbeddedRedis], outage_client: TestClient, tmp_path: Path
) -> None:
    _, redis = own_servers
    redis.stop()
    ready = outage_client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["database"] == "ok"
    assert ready.json()["error"]["details"]["redis"] != "ok"

    restarted = EmbeddedRedis.start(tmp_path / "redis", port=redis.port)
    try:
        assert outage_client.get("/readyz").status_code == 200
    finally:
        restarted.stop()
