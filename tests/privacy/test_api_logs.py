"""API usage logs: one metadata record per request, nothing more, readable by its account, gone after 90 days."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, text

from controlplane.api.client_address import reduce_client_address
from controlplane.db import utcnow
from controlplane.privacy.api_logs import ApiLogWriter
from controlplane.privacy.models import ApiLog
from controlplane.privacy.retention import purge_api_logs
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.support.live import APP, Live


def flush(live: Live) -> None:
    app = live.client.app
    app.state.api_logs.flush()  # type: ignore[attr-defined]


def my_logs(live: Live, headers: dict[str, str]) -> list[dict[str, object]]:
    flush(live)
    items: list[dict[str, object]] = live.client.get("/v1/account/api-logs", headers=headers).json()["items"]
    return items


def test_each_request_leaves_one_metadata_record(live: Live) -> None:
    live.client.post("/v1/namespaces", json={"name": "shop", "apps": [APP]}, headers={**live.headers,
                     "X-Request-ID": "req-1", "User-Agent": "cli/1.0"})  # fmt: skip
    logs = my_logs(live, live.headers)
    [created] = [log for log in logs if log["request_id"] == "req-1"]
    assert created["method"] == "POST"
    assert created["route"] == "/v1/namespaces"
    assert created["status"] == 202
    assert created["user_agent"] == "cli/1.0"
    assert created["api_key_id"] is not None
    assert isinstance(created["latency_ms"], int)


def test_the_route_is_the_template_not_the_path(live: Live) -> None:
    live.create()
    live.client.get("/v1/namespaces/shop", headers={**live.headers, "X-Request-ID": "req-get"})
    [got] = [log for log in my_logs(live, live.headers) if log["request_id"] == "req-get"]
    assert got["route"] == "/v1/namespaces/{name}"


def test_no_body_or_secret_reaches_the_log(live: Live, runtime: Runtime) -> None:
    secret_env = {"DATABASE_PASSWORD": "hunter2-very-secret"}
    app = {**APP, "env": secret_env}
    live.client.post("/v1/namespaces", json={"name": "shop", "apps": [app]}, headers=live.headers)
    flush(live)
    with runtime.engine.connect() as conn:
        dumped = conn.execute(text("SELECT api_logs::text FROM api_logs")).scalars().all()
    everything = "\n".join(dumped)
    assert "hunter2" not in everything
    assert live.headers["Authorization"].split()[1] not in everything  # the API key itself
    assert "shop" not in everything  # the path's values are not kept, only the route template


def test_another_accounts_logs_are_not_readable(live: Live) -> None:
    live.client.get("/v1/namespaces", headers={**live.headers, "X-Request-ID": "mine"})
    stranger = live.new_key()
    assert all(log["request_id"] != "mine" for log in my_logs(live, stranger))


def test_operators_search_every_account(live: Live, runtime: Runtime) -> None:
    live.client.get("/v1/namespaces", headers={**live.headers, "X-Request-ID": "find-me"})
    operator = live.new_operator_key(["operator:read"])
    flush(live)
    found = live.client.get("/v1/operator/api-logs", params={"request_id": "find-me"}, headers=operator).json()
    assert [log["route"] for log in found["items"]] == ["/v1/namespaces"]
    assert live.client.get("/v1/operator/api-logs", headers=live.headers).status_code == 403


def test_records_past_retention_are_deleted_in_batches(live: Live, runtime: Runtime) -> None:
    now = utcnow()
    with runtime.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_logs (id, created_at, method, route, status, latency_ms, request_id) "
                "SELECT gen_random_uuid(), :at - (g || ' minutes')::interval, 'GET', '/v1/x', 200, 1, 'old' "
                "FROM generate_series(1, 12000) g"
            ),
            {"at": now - timedelta(days=91)},
        )
        conn.execute(
            text("INSERT INTO api_logs (id, created_at, method, route, status, latency_ms, request_id) "
                 "VALUES (gen_random_uuid(), :at, 'GET', '/v1/x', 200, 1, 'recent')"),
            {"at": now - timedelta(days=89)},
        )  # fmt: skip
    assert purge_api_logs(now) == 12000
    with runtime.engine.connect() as conn:
        left = conn.execute(select(ApiLog.request_id, func.count()).group_by(ApiLog.request_id)).all()
    assert dict(left).get("old") is None
    assert dict(left)["recent"] == 1


def test_client_addresses_are_reduced_or_hashed(settings: Settings) -> None:
    assert reduce_client_address(settings, "203.0.113.77") == "203.0.113.0/24"
    assert reduce_client_address(settings, "2001:db8:abcd:12::1") == "2001:db8:abcd::/48"
    hashed = reduce_client_address(settings.model_copy(update={"api_log_client_address": "hash"}), "203.0.113.77")
    assert hashed is not None
    assert hashed.startswith("h:")
    assert "203.0.113" not in hashed
    assert reduce_client_address(settings.model_copy(update={"api_log_client_address": "none"}), "203.0.113.7") is None


def test_a_record_of_an_erased_account_is_dropped_and_the_rest_of_its_batch_kept(live: Live, runtime: Runtime) -> None:
    writer = ApiLogWriter(runtime)
    account_id = live.client.get("/v1/auth/session", headers=live.headers).json()["account_id"]
    for request_id, owner in (("kept-1", account_id), ("erased", str(uuid.uuid4())), ("kept-2", None)):
        writer.add(
            {
                "id": uuid.uuid4(),
                "created_at": utcnow(),
                "account_id": owner,
                "api_key_id": None,
                "method": "GET",
                "route": "/v1/x",
                "status": 200,
                "latency_ms": 1,
                "request_id": request_id,
                "client": None,
                "user_agent": None,
            }
        )
    assert writer.flush() == 2
    with runtime.engine.connect() as conn:
        stored = conn.scalars(select(ApiLog.request_id).where(ApiLog.request_id.in_(["kept-1", "erased", "kept-2"])))
        assert sorted(stored) == ["kept-1", "kept-2"]
