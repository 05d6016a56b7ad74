"""The API's conventions, checked on the first real endpoints."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account
from controlplane.idempotency.models import IdempotencyRecord
from controlplane.idempotency.service import Answer, Outcome, claim, settle


def assert_error_shape(body: dict[str, object], code: str) -> None:
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]


def test_request_id_is_generated_and_echoed(app_client: TestClient) -> None:
    response = app_client.get("/healthz")
    assert response.status_code == 200
    assert len(response.headers["x-request-id"]) == 32


def test_callers_request_id_is_kept(app_client: TestClient) -> None:
    assert app_client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"


def test_unsafe_request_id_is_replaced(app_client: TestClient) -> None:
    echoed = app_client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert echoed != "bad id\twith spaces"


def test_request_id_on_errors_too(app_client: TestClient) -> None:
    response = app_client.get("/v1/nothing-here", headers={"X-Request-ID": "r-404"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "r-404"
    assert_error_shape(response.json(), "not_found")


def test_readyz_reports_both_dependencies(app_client: TestClient) -> None:
    response = app_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_openapi_and_docs_are_served(app_client: TestClient) -> None:
    spec = app_client.get("/openapi.json").json()
    assert "/v1/api-keys" in spec["paths"]
    assert app_client.get("/docs").status_code == 200


def test_missing_credentials_get_the_error_shape(app_client: TestClient) -> None:
    response = app_client.get("/v1/api-keys")
    assert response.status_code == 401
    assert_error_shape(response.json(), "unauthorized")


def test_malformed_json_is_a_400(app_client: TestClient, auth: dict[str, str]) -> None:
    response = app_client.post(
        "/v1/api-keys", content=b'{"name": ', headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert_error_shape(response.json(), "malformed_json")


def test_wrong_types_are_a_422_naming_the_field(app_client: TestClient, auth: dict[str, str]) -> None:
    response = app_client.post("/v1/api-keys", json={"name": "k", "scopes": "not-a-list"}, headers=auth)
    assert response.status_code == 422
    body = response.json()
    assert_error_shape(body, "validation_error")
    assert ["body", "scopes"] in [problem["location"] for problem in body["error"]["details"]]


def test_unknown_fields_are_refused(app_client: TestClient, auth: dict[str, str]) -> None:
    response = app_client.post(
        "/v1/api-keys", json={"name": "k", "scopes": ["account:read"], "colour": "red"}, headers=auth
    )
    assert response.status_code == 422
    assert ["body", "colour"] in [problem["location"] for problem in response.json()["error"]["details"]]


def test_oversized_body_is_a_413(app_client: TestClient, auth: dict[str, str]) -> None:
    limit = app_client.app.state.runtime.settings.max_body_bytes  # type: ignore[attr-defined]
    response = app_client.post("/v1/api-keys", content=b"x" * (limit + 1), headers=auth)
    assert response.status_code == 413
    assert_error_shape(response.json(), "payload_too_large")


def test_oversized_chunked_body_is_a_413(app_client: TestClient, auth: dict[str, str]) -> None:
    limit = app_client.app.state.runtime.settings.max_body_bytes  # type: ignore[attr-defined]

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    response = app_client.post("/v1/api-keys", content=chunks(), headers=auth)
    assert response.status_code == 413
    assert_error_shape(response.json(), "payload_too_large")


def test_wrong_method_is_in_the_error_shape(app_client: TestClient) -> None:
    response = app_client.put("/healthz")
    assert response.status_code == 405
    assert_error_shape(response.json(), "method_not_allowed")


def test_cursor_pagination_walks_every_item_once(
    app_client: TestClient, account: Account, make_key: Callable[..., str]
) -> None:
    keys = [make_key(account) for _ in range(5)]
    headers = {"Authorization": f"Bearer {keys[0]}"}
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = app_client.get("/v1/api-keys", params=params, headers=headers).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5


def test_a_cursor_this_api_did_not_issue_is_a_400(app_client: TestClient, auth: dict[str, str]) -> None:
    response = app_client.get("/v1/api-keys", params={"cursor": "bm90LW91cnM"}, headers=auth)  # base64 "not-ours"
    assert response.status_code == 400
    assert_error_shape(response.json(), "invalid_cursor")
    # Characters a cursor never has: the shape is wrong, and the error names the parameter.
    garbage = app_client.get("/v1/api-keys", params={"cursor": "!!!not-ours"}, headers=auth)
    assert garbage.status_code == 422
    assert ["query", "cursor"] in [problem["location"] for problem in garbage.json()["error"]["details"]]


def test_idempotency_key_replays_the_first_answer(app_client: TestClient, auth: dict[str, str]) -> None:
    body = {"name": "shop", "apps": []}
    headers = {**auth, "Idempotency-Key": "create-shop-1"}
    first = app_client.post("/v1/namespaces", json=body, headers=headers)
    second = app_client.post("/v1/namespaces", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    listed = app_client.get("/v1/namespaces", headers=auth).json()["items"]
    assert [item["name"] for item in listed].count("shop") == 1


def test_idempotency_key_with_another_body_is_refused(app_client: TestClient, auth: dict[str, str]) -> None:
    headers = {**auth, "Idempotency-Key": "reused"}
    assert app_client.post("/v1/api-keys", json={"name": "a", "scopes": ["billing:read"]}, headers=headers).is_success
    response = app_client.post("/v1/api-keys", json={"name": "b", "scopes": ["billing:read"]}, headers=headers)
    assert response.status_code == 422
    assert_error_shape(response.json(), "idempotency_key_reused")


def test_failed_request_does_not_burn_its_idempotency_key(app_client: TestClient, auth: dict[str, str]) -> None:
    headers = {**auth, "Idempotency-Key": "retry-me"}
    body = {"name": "x", "scopes": ["billing:read"]}
    assert app_client.post("/v1/api-keys", json={**body, "scopes": ["nope:read"]}, headers=headers).status_code == 422
    # Same key, corrected body: the failed attempt left nothing behind.
    assert app_client.post("/v1/api-keys", json=body, headers=headers).status_code == 201


def test_idempotency_keys_are_scoped_to_the_caller(
    app_client: TestClient, account: Account, make_key: Callable[..., str]
) -> None:
    body = {"name": "shared", "scopes": ["billing:read"]}
    first = app_client.post(
        "/v1/api-keys",
        json=body,
        headers={"Authorization": f"Bearer {make_key(account)}", "Idempotency-Key": "k"},
    )
    second = app_client.post(
        "/v1/api-keys",
        json=body,
        headers={"Authorization": f"Bearer {make_key(account)}", "Idempotency-Key": "k"},
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


def test_an_answer_that_shows_a_secret_is_never_stored_for_replay(db: Session) -> None:
    scope_hash, request_hash = b"s" * 32, b"r" * 32
    ttl = timedelta(hours=1)
    first = claim(db, scope_hash, "sign-in-1", request_hash, account_id=None, ttl=ttl)
    assert first.outcome is Outcome.NEW
    assert first.record_id is not None
    settle(db, first.record_id, Answer(200, [["content-type", "application/json"]], b'{"csrf_token": "x"}', True))
    record = db.get(IdempotencyRecord, first.record_id)
    assert record is not None
    assert (record.response_body, record.response_headers, record.replayable) == (None, None, False)
    again = claim(db, scope_hash, "sign-in-1", request_hash, account_id=None, ttl=ttl)
    assert again.outcome is Outcome.SECRET  # told it happened, never given the answer again
    assert again.body == b""


def test_the_idempotency_key_is_documented_as_it_is_checked(app_client: TestClient, auth: dict[str, str]) -> None:
    document = app_client.get("/openapi.json").json()
    operation = document["paths"]["/v1/namespaces"]["post"]
    [parameter] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert {"400", "409", "422"} <= set(operation["responses"])
    pattern = re.compile(parameter["schema"]["pattern"])
    for key in ("retry-1", "a" * 255, "x y"):
        assert pattern.fullmatch(key)
        response = app_client.post(
            "/v1/namespaces", json={"name": f"n{len(key)}", "apps": []}, headers={**auth, "Idempotency-Key": key}
        )
        assert response.status_code == 202, response.text
    for key in ("a" * 256, "tab\there", "caf\u00e9"):
        assert not pattern.fullmatch(key)
        response = app_client.post(
            "/v1/namespaces",
            json={"name": "refused", "apps": []},
            headers={**auth, "Idempotency-Key": key.encode()},
        )
        assert response.status_code == 400
        assert_error_shape(response.json(), "invalid_idempotency_key")
