"""The `Live` helper: an API client on real commits, an account with its key, and real RQ workers."""

from __future__ import annotations

import time
import uuid
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
from controlplane.billing.ledger import credit
from controlplane.billing.models import EntryKind, EntrySource
from controlplane.deployments.models import Namespace
from controlplane.runtime import Runtime
from controlplane.settings import Settings

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


FUNDS = 100_000_000  # 100 credits: months of APP


def fund(session: Session, settings: Settings, account_id: uuid.UUID, amount: int) -> None:
    """Credit the account (an operator's adjustment), as a test's starting balance."""
    credit(session, settings, account_id, amount, source=EntrySource.OPERATOR, kind=EntryKind.ADJUSTMENT,
           idempotency_key=f"test-funds-{uuid.uuid4()}")  # fmt: skip


class Live:
    """An API client on real commits (jobs see the rows), with an account and its key, and a worker to drive."""

    def __init__(self, runtime: Runtime, client: TestClient, new_session: Callable[[], Session]) -> None:
        self.runtime = runtime
        self.client = client
        self.new_session = new_session
        self.headers = self.new_key()

    def new_key(self, scopes: frozenset[str] | list[str] = TENANT_SCOPES, *, credits: int = FUNDS) -> dict[str, str]:
        """A new account (with ``credits`` micro-credits: changes that raise the price need some) and its key."""
        with self.new_session() as session:
            account = create_account(session)
            owner = account_owner(account.id)
            key = issue_api_key(session, self.runtime.settings, owner, name="t", scopes=list(scopes), expires_at=None)
            if credits:
                fund(session, self.runtime.settings, account.id, credits)
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
        Worker(self.runtime.worker_queues, connection=self.runtime.redis).work(burst=True)

    def work_scheduled(self, within_s: float = 5.0) -> None:
        """Wait for scheduled retries to fall due, move them to the queue, and run them."""
        scheduler = RQScheduler(self.runtime.worker_queues, connection=self.runtime.redis)
        assert scheduler.acquire_locks(), "another RQ scheduler holds the lock"
        try:
            deadline = time.monotonic() + within_s
            while time.monotonic() < deadline and self.scheduled():
                scheduler.enqueue_scheduled_jobs()
                if any(queue.count for queue in self.runtime.worker_queues):
                    break
                time.sleep(0.1)
        finally:
            scheduler.release_locks()
        self.work()

    def queued(self) -> int:
        """Jobs waiting in every queue."""
        return sum(queue.count for queue in self.runtime.worker_queues)

    def empty_queues(self) -> None:
        """Drop every waiting job, in every queue."""
        for queue in self.runtime.worker_queues:
            queue.empty()

    def scheduled(self) -> int:
        """Jobs scheduled for later (retries) in every queue."""
        return sum(queue.scheduled_job_registry.count for queue in self.runtime.worker_queues)

    def namespace(self, name: str) -> Namespace:
        with self.new_session() as session:
            namespace = session.query(Namespace).filter_by(name=name).order_by(Namespace.created_at.desc()).first()
            assert namespace is not None
            session.expunge_all()
            return namespace

    def create(
        self, name: str = "shop", apps: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        response = self.client.post("/v1/namespaces", json={"name": name, "apps": apps or [APP]},
                                    headers=headers or self.headers)  # fmt: skip
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def row(self, name: str, headers: dict[str, str] | None = None) -> Namespace:
        """The caller's namespace ``name`` as stored (names are per account: several accounts may use one)."""
        response = self.client.get(f"/v1/namespaces/{name}", headers=headers or self.headers)
        assert response.status_code == 200, response.text
        with self.new_session() as session:
            namespace = session.get(Namespace, uuid.UUID(response.json()["id"]))
            assert namespace is not None
            session.expunge_all()
            return namespace
