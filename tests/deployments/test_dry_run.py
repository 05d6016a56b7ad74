"""``?dry_run=true`` on every write of the namespaces API, through the real app on real commits: validation and
admission run, nothing is stored (row counts of every table), nothing is queued (the queue and every Redis key), and
the answer is the diff, the policy verdict, the price before and after, and the runway."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from controlplane.models import metadata
from controlplane.privacy.models import ApiLog
from tests.support.live import APP, Live

# Every request writes its metadata line (api_logs) from a background thread, dry run or not: that log is the
# request's, not the write's.
_NOT_THE_WRITES = {ApiLog.__tablename__}


def snapshot(live: Live) -> tuple[dict[str, int], list[bytes], int, int]:
    """Rows per table, every Redis key, the queue's length and its scheduled jobs."""
    with live.runtime.engine.connect() as conn:
        counts = {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in metadata.sorted_tables
            if table.name not in _NOT_THE_WRITES
        }
    redis = live.runtime.redis
    return counts, sorted(redis.keys("*")), live.queued(), live.scheduled()


def prepared(live: Live) -> None:
    """A namespace with two revisions, applied, and nothing left in the queue."""
    live.create()
    patch = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 3}, headers=live.headers)
    assert patch.status_code == 202
    live.work()


WORKER = {**copy.deepcopy(APP), "name": "worker", "volume": None}


def config_with_more_replicas(live: Live) -> bytes:
    config = yaml.safe_load(live.client.get("/v1/namespaces/shop/config", headers=live.headers).text)
    config["apps"][0]["replicas"] = 5
    return yaml.safe_dump(config).encode()


WRITES: dict[str, Callable[[Live], httpx.Response]] = {
    "create": lambda live: live.client.post(
        "/v1/namespaces", params={"dry_run": "true"}, json={"name": "blog", "apps": [APP]}, headers=live.headers
    ),
    "add app": lambda live: live.client.post(
        "/v1/namespaces/shop/apps", params={"dry_run": "true"}, json=WORKER, headers=live.headers
    ),
    "update app": lambda live: live.client.patch(
        "/v1/namespaces/shop/apps/web", params={"dry_run": "true"}, json={"replicas": 4}, headers=live.headers
    ),
    "delete app": lambda live: live.client.delete(
        "/v1/namespaces/shop/apps/web", params={"dry_run": "true"}, headers=live.headers
    ),
    "apply config": lambda live: live.client.put(
        "/v1/namespaces/shop/config", params={"dry_run": "true"}, content=config_with_more_replicas(live),
        headers=live.headers,
    ),
    "rollback": lambda live: live.client.post(
        "/v1/namespaces/shop/rollback", params={"dry_run": "true"}, json={"generation": 1}, headers=live.headers
    ),
    "delete namespace": lambda live: live.client.delete(
        "/v1/namespaces/shop", params={"dry_run": "true"}, headers=live.headers
    ),
    "preview": lambda live: live.client.post(
        "/v1/namespaces/shop/preview", params={"dry_run": "true"}, headers=live.headers
    ),
}  # fmt: skip


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_dry_run_stores_nothing_and_queues_nothing(live: Live, write: str) -> None:
    prepared(live)
    if write == "apply config":
        config_with_more_replicas(live)  # (reading the config is not the write)
    before = snapshot(live)
    response = WRITES[write](live)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["dry_run"] is True
    assert report["allowed"] is True, report
    assert snapshot(live) == before
    if write == "preview":  # asks for an operation: no desired-state change to report
        assert (report["changed"], report["diff"]) == (False, {})
        return
    assert report["changed"] is True
    assert report["generation"] == (1 if write == "create" else 3)
    assert report["diff"]
    assert report["policy"] == {"allowed": True, "violations": []}
    assert set(report["price"]) >= {"hourly_cost_before", "hourly_cost_after", "balance", "runway_hours_after"}


def test_the_report_is_what_the_write_then_does(live: Live) -> None:
    prepared(live)
    shop = live.client.get("/v1/namespaces/shop", headers=live.headers).json()
    dry = live.client.post("/v1/namespaces/shop/apps", params={"dry_run": "true"}, json=WORKER, headers=live.headers)
    report = dry.json()
    real = live.client.post("/v1/namespaces/shop/apps", json=WORKER, headers=live.headers)
    assert real.status_code == 202
    assert real.json()["generation"] == report["generation"] == 3
    after = live.client.get("/v1/namespaces/shop", headers=live.headers).json()
    revision = live.client.get("/v1/namespaces/shop/revisions/3", headers=live.headers).json()
    assert report["diff"] == revision["diff"] == {"apps": {"added": ["worker"]}}
    price = report["price"]
    assert price["namespace_hourly_cost_before"] == shop["hourly_cost"]
    assert price["namespace_hourly_cost_after"] == after["hourly_cost"] > shop["hourly_cost"]
    balance = live.client.get("/v1/billing/balance", headers=live.headers).json()
    assert price["hourly_cost_after"] == balance["hourly_cost"]
    assert price["balance"] == balance["balance"]
    assert price["runway_hours_after"] == (balance["balance"] * 100 // balance["hourly_cost"]) / 100


def test_a_policy_refusal_in_a_dry_run_is_a_200_with_the_verdict(live: Live) -> None:
    app = {**APP, "image": "registry.example.com/acme/web:1.0"}  # a valid reference, not an allowed registry
    body = {"name": "shop", "apps": [app]}
    before = snapshot(live)
    dry = live.client.post("/v1/namespaces", params={"dry_run": "true"}, json=body, headers=live.headers)
    assert dry.status_code == 200
    report = dry.json()
    assert report["allowed"] is False
    assert report["policy"]["allowed"] is False
    assert {violation["rule"] for violation in report["policy"]["violations"]} >= {"allowed-image-registries"}
    assert [refusal["code"] for refusal in report["refusals"]] == ["policy_violation"]
    assert report["diff"]["apps"] == {"added": ["web"]}
    assert report["price"]["namespace_hourly_cost_after"] > 0  # the rest of the report is still there
    assert snapshot(live) == before
    real = live.client.post("/v1/namespaces", json=body, headers=live.headers)
    assert real.status_code == 422
    assert real.json()["error"] == report["refusals"][0]


def test_a_credit_refusal_in_a_dry_run_is_a_200_with_what_to_add(live: Live) -> None:
    live.headers = live.new_key(credits=0)
    before = snapshot(live)
    body = {"name": "shop", "apps": [APP]}
    dry = live.client.post("/v1/namespaces", params={"dry_run": "true"}, json=body, headers=live.headers)
    assert dry.status_code == 200
    report = dry.json()
    assert report["allowed"] is False
    assert report["policy"]["allowed"] is True
    [refusal] = report["refusals"]
    assert refusal["code"] == "insufficient_credits"
    assert report["price"]["to_add"] == report["price"]["hourly_cost_after"] > 0  # one hour of it
    assert report["price"]["runway_hours_after"] == 0
    assert snapshot(live) == before
    real = live.client.post("/v1/namespaces", json=body, headers=live.headers)
    assert real.status_code == 402
    assert real.json()["error"] == refusal


@pytest.mark.parametrize(
    ("request_args", "status", "code"),
    [
        ({"method": "POST", "url": "/v1/namespaces", "json": {"name": "x", "apps": [{**APP, "image": "a:latest"}]}},
         422, "validation_error"),
        ({"method": "PATCH", "url": "/v1/namespaces/nope/apps/web", "json": {"replicas": 1}}, 404, "not_found"),
        ({"method": "PATCH", "url": "/v1/namespaces/shop/apps/web", "json": {"volume": {"size_gib": 1,
          "mount_path": "/data"}}}, 422, "volume_shrink"),
    ],
)  # fmt: skip
def test_a_write_that_is_wrong_is_the_usual_error_in_a_dry_run(
    live: Live, request_args: dict[str, Any], status: int, code: str
) -> None:
    live.create()
    response = live.client.request(**request_args, params={"dry_run": "true"}, headers=live.headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_dry_run_is_documented_on_every_write_of_the_namespaces_api(live: Live) -> None:
    document = live.client.get("/openapi.json").json()
    writes = [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith("/v1/namespaces")
        for method, operation in item.items()
        if method in ("post", "put", "patch", "delete")
    ]
    assert len(writes) >= 10
    for path, method, operation in writes:
        names = [parameter["name"] for parameter in operation.get("parameters", [])]
        assert "dry_run" in names, f"{method} {path}"
        assert "DryRunReport" in str(operation["responses"]["200"]), f"{method} {path}"


def test_a_dry_run_keeps_no_idempotency_record(live: Live) -> None:
    headers = {**live.headers, "Idempotency-Key": "dry-1"}
    before = snapshot(live)
    for _ in range(2):
        dry = live.client.post("/v1/namespaces?dry_run=1", json={"name": "shop", "apps": [APP]}, headers=headers)
        assert dry.status_code == 200
        assert "idempotent-replayed" not in dry.headers
    assert snapshot(live) == before
    real = live.client.post("/v1/namespaces", json={"name": "shop", "apps": [APP]}, headers=headers)
    assert real.status_code == 202  # the key was never used
