"""Retention of revisions (they hold env values): the newest ``revision_history_limit`` per namespace and the one
running, by the periodic job; everything with the namespace's rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from controlplane.deployments.models import Namespace, Revision
from controlplane.deployments.revisions import prune_revisions
from controlplane.worker.scheduler import periodic_tasks
from tests.support.live import Live


def generations(live: Live, name: str) -> list[int]:
    with live.new_session() as session:
        namespace_id = live.namespace(name).id
        return list(
            session.scalars(
                select(Revision.generation).where(Revision.namespace_id == namespace_id).order_by(Revision.generation)
            )
        )


def edit(live: Live, name: str, times: int) -> None:
    """``times`` changes of the app's replicas (each to another value: an unchanged write makes no revision)."""
    for _ in range(times):
        current = live.client.get(f"/v1/namespaces/{name}", headers=live.headers).json()["apps"][0]["replicas"]
        response = live.client.patch(f"/v1/namespaces/{name}/apps/web", json={"replicas": current % 10 + 1},
                                     headers=live.headers)  # fmt: skip
        assert response.status_code == 202


def test_the_job_keeps_the_newest_and_the_running_revision(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live.runtime.settings, "revision_history_limit", 3)
    monkeypatch.setattr(live.runtime.settings, "retention_batch_size", 2)  # several batches
    live.create("shop")
    edit(live, "shop", 1)
    live.work()  # generation 2 runs
    edit(live, "shop", 6)  # 3..8, not applied
    live.create("blog")
    edit(live, "blog", 2)  # 1..3: within the limit
    assert generations(live, "shop") == [1, 2, 3, 4, 5, 6, 7, 8]

    assert prune_revisions() == 4
    assert generations(live, "shop") == [2, 6, 7, 8]  # the one running, and the newest three
    assert generations(live, "blog") == [1, 2, 3]
    assert prune_revisions() == 0
    live.work()  # 8 is applied: 2 is no longer running, and goes at the next run
    assert prune_revisions() == 1
    assert generations(live, "shop") == [6, 7, 8]
    with live.new_session() as session:
        namespace = session.get(Namespace, live.namespace("shop").id)
        assert namespace is not None
        assert namespace.observed_generation == 8


def test_the_job_is_scheduled_by_its_setting(live: Live) -> None:
    [task] = [task for task in periodic_tasks(live.runtime.settings) if task.name == "prune-revisions"]
    assert task.func == "controlplane.deployments.revisions.prune_revisions"
    assert task.interval_s == live.runtime.settings.revision_prune_interval_s
