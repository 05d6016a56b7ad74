"""The privacy promise for phone numbers: kept only as a keyed hash, in the database, in Redis and in the logs."""

from __future__ import annotations

import logging

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from controlplane.devstack.fake_twilio import FakeTwilioVerify
from controlplane.runtime import Runtime
from tests.accounts.helpers import OTHER_PHONE, PHONE, SignIn

# Column types that could hold a number written out, as text or as bytes.
_SCANNED_TYPES = ("text", "character varying", "character", "bytea", "json", "jsonb", "ARRAY")


def spellings(e164: str) -> list[str]:
    digits = e164.removeprefix("+")
    return [e164, digits, digits[1:], f"{digits[1:4]} {digits[4:7]}", "(415) 555"]


def columns_holding(db: Session, needle: str) -> list[str]:
    columns = db.execute(
        text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = ANY(:types)"
        ),
        {"types": list(_SCANNED_TYPES)},
    ).all()
    assert columns, "no columns to scan"
    found = []
    for table, column, data_type in columns:
        as_text = (
            f"position(convert_to(:needle, 'UTF8') in \"{column}\") > 0"
            if data_type == "bytea"
            else f'position(:needle in "{column}"::text) > 0'
        )
        query = f'SELECT count(*) FROM "{table}" WHERE {as_text}'  # noqa: S608 (names from information_schema)
        hits = db.execute(text(query), {"needle": needle}).scalar_one()
        if hits:
            found.append(f"{table}.{column}")
    return found


@pytest.fixture
def phone_everywhere(
    client: TestClient, sign_in: SignIn, twilio: FakeTwilioVerify, eth_key: LocalAccount
) -> httpx.Response:
    """Sign in by phone (with an Idempotency-Key, whose record keeps the answer), link a wallet, link another phone
    to a wallet account, and fail a Twilio call whose error message quotes the number."""
    started = client.post("/v1/auth/otp/start", json={"phone": PHONE}, headers={"Idempotency-Key": "otp-1"})
    assert started.status_code == 202
    code = twilio.code_for(PHONE)
    signed = client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": code, "confirm_age_18": True})
    assert signed.status_code == 200, signed.text
    headers = {"X-CSRF-Token": signed.json()["csrf_token"]}
    assert client.post("/v1/account/wallets", json=sign_in.siwe_payload(eth_key), headers=headers).status_code == 200
    twilio.fail_next(400, 60200, f"Invalid parameter `To`: {OTHER_PHONE}")
    assert client.post("/v1/account/phone/start", json={"phone": OTHER_PHONE}, headers=headers).status_code == 422
    client.cookies.clear()
    assert sign_in.with_phone(OTHER_PHONE).status_code == 200
    return signed


def test_no_clear_phone_number_in_any_column(
    phone_everywhere: httpx.Response, db: Session, eth_key: LocalAccount
) -> None:
    for number in (PHONE, OTHER_PHONE):
        for spelling in spellings(number):
            assert columns_holding(db, spelling) == [], spelling
    # The scan does find what is there: it is not vacuously empty.
    assert columns_holding(db, eth_key.address) == ["wallets.address"]
    assert "idempotency_records.response_body" in columns_holding(db, "a code is on its way")


def test_no_clear_phone_number_in_the_logs(
    caplog: pytest.LogCaptureFixture,
    client: TestClient,
    sign_in: SignIn,
    twilio: FakeTwilioVerify,
    eth_key: LocalAccount,
) -> None:
    caplog.set_level(logging.DEBUG)
    started = client.post("/v1/auth/otp/start", json={"phone": PHONE})
    signed = client.post(
        "/v1/auth/otp/verify", json={"phone": PHONE, "code": twilio.code_for(PHONE), "confirm_age_18": True}
    )
    assert signed.status_code == 200
    twilio.fail_next(400, 60200, f"Invalid parameter `To`: {OTHER_PHONE}")
    headers = {"X-CSRF-Token": signed.json()["csrf_token"]}
    client.post("/v1/account/phone/start", json={"phone": OTHER_PHONE}, headers=headers)
    twilio.fail_next(500, 20500, f"Internal error for {OTHER_PHONE}")
    client.post("/v1/account/phone/start", json={"phone": OTHER_PHONE}, headers=headers)
    client.post("/v1/auth/otp/verify", json={"phone": OTHER_PHONE, "code": "000000"})
    assert started.status_code == 202
    assert caplog.records, "nothing was logged: the test would prove nothing"
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    for number in (PHONE, OTHER_PHONE):
        for spelling in spellings(number)[:3]:
            assert spelling not in logged


def test_no_clear_phone_number_in_redis(phone_everywhere: httpx.Response, runtime: Runtime) -> None:
    keys = runtime.redis.keys("*")
    assert keys
    for key in keys:
        values = [key]
        if runtime.redis.type(key) == b"string":
            values.append(runtime.redis.get(key) or b"")
        for number in (PHONE, OTHER_PHONE):
            for spelling in spellings(number)[:3]:
                assert all(spelling.encode() not in value for value in values)


def test_answers_never_echo_the_number(phone_everywhere: httpx.Response, client: TestClient) -> None:
    assert PHONE.removeprefix("+") not in phone_everywhere.text
    assert PHONE.removeprefix("+") not in client.get("/v1/account").text
