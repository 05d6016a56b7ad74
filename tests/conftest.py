"""Shared fixtures: an embedded PostgreSQL migrated once per session, an embedded Redis, a rolled-back session
per test, and an API client wired to that session."""

from __future__ import annotations

import os
import shutil
import tempfile

# Metrics as the controlplane commands keep them (prometheus-client's multiprocess mode), chosen before the first
# metric exists (the imports below create them): what a job counts in a forked RQ work-horse reaches the scrape.
METRICS_DIR = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="cp-test-metrics-"))

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from controlplane import dry_run
from controlplane.accounts.api_keys import issue_api_key
from controlplane.accounts.models import Account
from controlplane.accounts.principal import account_owner
from controlplane.accounts.scopes import TENANT_SCOPES
from controlplane.accounts.service import create_account
from controlplane.api.app import create_app
from controlplane.api.deps import get_session
from controlplane.embedded import EmbeddedPostgres, EmbeddedRedis
from controlplane.migrations import upgrade
from controlplane.models import metadata
from controlplane.queue import bind_queue
from controlplane.runtime import Runtime, set_runtime
from controlplane.settings import Settings
from tests.support.live import Live
from tests.support.session_reads import SessionCredentialStore, SessionPageReader


@pytest.fixture(scope="session", autouse=True)
def _metrics_dir() -> Iterator[None]:
    yield
    shutil.rmtree(METRICS_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres.start(tmp_path_factory.mktemp("pg"), database="controlplane_test")
    upgrade(server.url)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(
    postgres: EmbeddedPostgres, redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    data_dir = tmp_path_factory.mktemp("data")
    os.environ.update(
        {
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis_server.url,
            "CONTROLPLANE_ENV": "test",
            "CONTROLPLANE_DATA_DIR": str(data_dir),
        }
    )
    return Settings(
        env="test",
        database_url=postgres.url,
        redis_url=redis_server.url,
        data_dir=data_dir,
        # The job tests drive a recording double; the real Pulumi engine has its own end-to-end tests.
        engine="tests.support.engine_double:RecordingEngine",
        retry_base_delay_s=0.2,
        retry_max_delay_s=1.0,
        stack_lock_lease_s=3,
        reconcile_max_attempts=3,
    )


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.connect(settings)
    set_runtime(runtime)
    yield runtime
    set_runtime(None)
    runtime.close()


@pytest.fixture(autouse=True)
def _clean_redis(request: pytest.FixtureRequest) -> None:
    if "runtime" in request.fixturenames:
        request.getfixturevalue("runtime").redis.flushdb()


@pytest.fixture
def db(runtime: Runtime) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test; its commits become savepoints."""
    with runtime.engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        bind_queue(session, runtime.queue)
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def committed(runtime: Runtime) -> Iterator[Callable[[], Session]]:
    """For tests whose work crosses processes (real RQ workers): real commits, every table emptied afterwards."""
    yield runtime.new_session
    truncate_all(runtime)


def truncate_all(runtime: Runtime) -> None:
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with runtime.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} CASCADE"))


@pytest.fixture
def app_client(runtime: Runtime, db: Session) -> Iterator[TestClient]:
    app = create_app(runtime)

    def test_session() -> Iterator[Session]:
        yield db
        if dry_run.take(db):  # as the real edge does (controlplane.api.deps.get_session)
            db.rollback()
        else:
            db.commit()

    app.dependency_overrides[get_session] = test_session
    app.state.credentials = SessionCredentialStore(db)
    app.state.page_reader = SessionPageReader(db)
    with TestClient(app, base_url=runtime.settings.public_url) as client:
        yield client
    with runtime.engine.begin() as conn:
        conn.execute(text("DELETE FROM idempotency_records"))


@pytest.fixture
def account(db: Session) -> Account:
    return create_account(db)


@pytest.fixture
def make_key(db: Session, settings: Settings) -> Callable[..., str]:
    def make(account: Account, scopes: frozenset[str] | list[str] = TENANT_SCOPES) -> str:
        owner = account_owner(account.id, is_operator=account.is_operator)
        return issue_api_key(db, settings, owner, name="test", scopes=list(scopes), expires_at=None).key

    return make


@pytest.fixture
def auth(account: Account, make_key: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(account)}"}


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def live(runtime: Runtime, committed: Callable[[], Session]) -> Iterator[Live]:
    """An API client on real commits, with an account and its key, and real RQ workers to drive."""
    with TestClient(create_app(runtime), base_url=runtime.settings.public_url) as client:
        yield Live(runtime, client, committed)
