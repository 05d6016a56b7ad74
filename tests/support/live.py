"""The `Live` helper: an API client on real commits, an account with its key, and real RQ workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from rq import Worker
from rq.scheduler import RQScheduler
from sqlalchemy.orm import Session

from controlplane.accounts.api_keys import issue_api_key
from controlplane.accounts.principal import account_owner
from controlplane.accounts.scopes import TENANT_SCOPES
from controlplane.accounts.service import create_account
from controlplane.deployments.models import Namespace
from controlplane.runtime import Runtime

APP: dict[str, Any] = {
    "name": "web",
    "image": "ghcr.io/acme/web:1.2.3",
    "replicas": 2,
    "cpu_millicores": 250,
    "memory_mib": 256,
    "ports": [{"name": "http", "port": 8080, "public": True}],
    "env": {"MODE": "production"},
    "volume": {"size_gib": 5, "mount_path": "/data"},
    "health_check_path": "/healthz",
}


class Live:
    """An API client on real commits (jobs see the rows), with an account and its key, and a worker to drive."""

    def __init__(self, runtime: Runtime, client: TestClient, new_session: Callable[[], Session]) -> None:
        self.runtime = runtime
        self.client = client
        self.new_session = new_session
        self.headers = self.new_key()

    def new_key(self, scopes: frozenset[str] | list[str] = TENANT_SCOPES) -> dict[str, str]:
        with self.new_session() as session:
            account = create_account(session)
            owner = account_owner(account.id)
            key = issue_api_key(session, self.runtime.settings, owner, name="t", scopes=list(scopes), expires_at=None)
            session.commit()
        return {"Authorization": f"Bearer {key.key}"}

    def new_operator_key(self, scopes: list[str]) -> dict[str, str]:
        """A new operator account (the role is granted outside the API) with a key holding ``scopes``."""
        with self.new_session() as session:
            account = create_account(session)
            account.is_operator = True
            owner = account_owner(account.id, is_operator=True)
            key = issue_api_key(session, self.runtime.settings, owner, name="ops", scopes=scopes, expires_at=None)
            session.commit()
        return {"Authorization": f"Bearer {key.key}"}

    def work(self) -> None:
        """Run every queued job in real RQ work-horses (one forked process per job), then return."""
        Worker([self.runtime.queue], connection=self.runtime.redis).work(burst=True)

    def work_scheduled(self, within_s: float = 5.0) -> None:
        """Wait for scheduled retries to fall due, move them to the queue, and run them."""
        scheduler = RQScheduler([self.runtime.queue], connection=self.runtime.redis)
        assert scheduler.acquire_locks(), "another RQ scheduler holds the lock"
        try:
            deadline = time.monotonic() + within_s
            while time.monotonic() < deadline and self.runtime.queue.scheduled_job_registry.count:
                scheduler.enqueue_scheduled_jobs()
                if self.runtime.queue.count:
                    break
                time.sleep(0.1)
        finally:
            scheduler.release_locks()
        self.work()

    def namespace(self, name: str) -> Namespace:
        with self.new_session() as session:
            namespace = session.query(Namespace).filter_by(name=name).order_by(Namespace.created_at.desc()).first()
            assert namespace is not None
            session.expunge_all()
            return namespace

    def create(self, name: str = "shop", apps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        response = self.client.post("/v1/namespaces", json={"name": name, "apps": apps or [APP]},
                                    headers=self.headers)  # fmt: skip
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body
