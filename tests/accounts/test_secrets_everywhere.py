"""No API key, session token, CSRF token or phone number anywhere at rest: the database (idempotency records
included), Redis, or the logs, after a day's worth of ways to leave one behind."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.devstack.fake_twilio import FakeTwilioVerify
from controlplane.idempotency.models import IdempotencyRecord
from controlplane.runtime import Runtime
from tests.accounts.helpers import PHONE
from tests.accounts.test_privacy import columns_holding, spellings


def secret_of(key: str) -> str:
    return key.removeprefix("cpk_").partition("_")[2]


def redis_dump(runtime: Runtime) -> list[bytes]:
    dumped: list[bytes] = []
    for key in runtime.redis.keys("*"):
        dumped.append(key)
        kind = runtime.redis.type(key)
        if kind == b"string":
            dumped.append(runtime.redis.get(key) or b"")
        elif kind == b"hash":
            dumped += [part for pair in runtime.redis.hgetall(key).items() for part in pair]
    return dumped


def test_no_secret_at_rest_anywhere(
    caplog: pytest.LogCaptureFixture, client: TestClient, twilio: FakeTwilioVerify, db: Session, runtime: Runtime
) -> None:
    caplog.set_level(logging.DEBUG)
    assert client.post("/v1/auth/otp/start", json={"phone": PHONE}, headers={"Idempotency-Key": "a"}).is_success
    signed = client.post(
        "/v1/auth/otp/verify",
        json={"phone": PHONE, "code": twilio.code_for(PHONE), "confirm_age_18": True},
        headers={"Idempotency-Key": "b"},
    )
    assert signed.status_code == 200, signed.text
    token, csrf = client.cookies["cp_session"], signed.json()["csrf_token"]
    with_session = {"X-CSRF-Token": csrf, "Idempotency-Key": "c"}
    body = {"name": "ci", "scopes": ["api-keys:write", "namespaces:read"]}
    first = client.post("/v1/api-keys", json=body, headers=with_session).json()["key"]
    assert client.post("/v1/api-keys", json=body, headers=with_session).status_code == 409  # not replayed
    client.cookies.clear()
    with_key = {"Authorization": f"Bearer {first}", "Idempotency-Key": "d"}
    second = client.post("/v1/api-keys", json={"name": "n", "scopes": ["namespaces:read"]}, headers=with_key)
    assert second.status_code == 201
    assert client.get("/v1/namespaces", headers={"Authorization": f"Bearer {second.json()['key']}"}).is_success
    client.app.state.api_logs.flush()  # type: ignore[attr-defined]

    assert db.scalar(select(func.count()).select_from(IdempotencyRecord)) == 4, "the scan would miss the records"
    secrets = [secret_of(first), secret_of(second.json()["key"]), token, csrf, *spellings(PHONE)[:3]]
    for secret in secrets:
        assert columns_holding(db, secret) == [], secret
        assert all(secret.encode() not in value for value in redis_dump(runtime)), secret
        logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
        assert secret not in logged, secret
