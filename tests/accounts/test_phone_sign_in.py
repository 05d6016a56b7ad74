"""Phone sign-in through Twilio Verify (the real SDK, against a local stand-in)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account
from controlplane.accounts.phone import phone_hash
from controlplane.devstack.fake_twilio import FakeTwilioVerify
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.accounts.helpers import OTHER_PHONE, PHONE, PHONE_AS_TYPED, SignIn, error_code


def test_start_sends_the_number_to_twilio_in_e164(client: TestClient, twilio: FakeTwilioVerify) -> None:
    response = client.post("/v1/auth/otp/start", json={"phone": PHONE_AS_TYPED})
    assert response.status_code == 202
    assert twilio.sent_to() == [PHONE]
    sent = twilio.requests[0]
    assert sent.form == {"To": PHONE, "Channel": "sms"}
    assert sent.account_sid == twilio.account_sid
    assert sent.path == f"/v2/Services/{twilio.service_sid}/Verifications"


def test_a_number_is_taken_as_typed_spaces_around_it_included(client: TestClient, twilio: FakeTwilioVerify) -> None:
    # Strings are no longer trimmed for everyone; a phone number keeps working as people type it.
    response = client.post("/v1/auth/otp/start", json={"phone": f"  {PHONE_AS_TYPED} "})
    assert response.status_code == 202, response.text
    assert twilio.sent_to() == [PHONE]


def test_start_answers_the_same_whether_or_not_the_number_has_an_account(client: TestClient, sign_in: SignIn) -> None:
    assert sign_in.with_phone(PHONE).status_code == 200
    client.cookies.clear()
    known = client.post("/v1/auth/otp/start", json={"phone": PHONE})
    unknown = client.post("/v1/auth/otp/start", json={"phone": OTHER_PHONE})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert PHONE not in known.text


@pytest.mark.parametrize("number", ["4155552671", "+1 415", "+44 7700 900123", "not a number", "+999999999999"])
def test_invalid_numbers_are_refused_naming_the_field(
    client: TestClient, twilio: FakeTwilioVerify, number: str
) -> None:
    response = client.post("/v1/auth/otp/start", json={"phone": number})
    assert response.status_code == 422
    assert error_code(response) == "invalid_phone"
    assert response.json()["error"]["details"][0]["location"] == ["body", "phone"]
    assert twilio.requests == []


def test_first_sign_in_creates_the_account(sign_in: SignIn, db: Session, settings: Settings) -> None:
    response = sign_in.with_phone(PHONE_AS_TYPED)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["new_account"] is True
    assert body["account"]["has_phone"] is True
    assert body["account"]["wallets"] == []
    assert body["csrf_token"]
    account = db.scalars(select(Account)).one()
    assert account.phone_hash == phone_hash(settings, PHONE)


def test_later_sign_in_finds_the_account_without_age_confirmation(sign_in: SignIn, client: TestClient) -> None:
    first = sign_in.with_phone(PHONE).json()["account"]["id"]
    client.cookies.clear()
    again = sign_in.with_phone(PHONE_AS_TYPED, confirm_age_18=False)
    assert again.status_code == 200, again.text
    assert again.json()["account"]["id"] == first
    assert again.json()["new_account"] is False


def test_new_account_needs_the_age_confirmation(sign_in: SignIn, db: Session) -> None:
    response = sign_in.with_phone(PHONE, confirm_age_18=False)
    assert response.status_code == 422
    assert error_code(response) == "age_confirmation_required"
    assert "confirm_age_18" in response.json()["error"]["message"]
    assert db.scalars(select(Account)).all() == []


def test_wrong_code_is_refused(client: TestClient, twilio: FakeTwilioVerify) -> None:
    client.post("/v1/auth/otp/start", json={"phone": PHONE})
    wrong = "000000" if twilio.code_for(PHONE) != "000000" else "111111"
    response = client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": wrong, "confirm_age_18": True})
    assert response.status_code == 400
    assert error_code(response) == "invalid_code"
    assert twilio.requests[-1].path.endswith("/VerificationCheck")
    assert twilio.requests[-1].form == {"To": PHONE, "Code": wrong}


def test_code_without_a_pending_verification_is_refused(client: TestClient) -> None:
    response = client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": "123456", "confirm_age_18": True})
    assert response.status_code == 400
    assert error_code(response) == "invalid_code"


def test_a_code_works_once(client: TestClient, twilio: FakeTwilioVerify) -> None:
    client.post("/v1/auth/otp/start", json={"phone": PHONE})
    body = {"phone": PHONE, "code": twilio.code_for(PHONE), "confirm_age_18": True}
    assert client.post("/v1/auth/otp/verify", json=body).status_code == 200
    assert error_code(client.post("/v1/auth/otp/verify", json=body)) == "invalid_code"


def test_wrong_codes_lead_to_a_cool_down(
    client: TestClient, twilio: FakeTwilioVerify, accounts_settings: Settings
) -> None:
    client.post("/v1/auth/otp/start", json={"phone": PHONE})
    right = twilio.code_for(PHONE)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(accounts_settings.otp_wrong_codes_before_cooldown):
        response = client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": wrong})
        assert error_code(response) == "invalid_code"
    client.post("/v1/auth/otp/start", json={"phone": PHONE})
    checks_before = len(twilio.requests)
    cooled = client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": twilio.code_for(PHONE)})
    assert cooled.status_code == 429
    assert error_code(cooled) == "rate_limited"
    assert cooled.json()["error"]["details"]["retry_after_s"] > 0
    assert len(twilio.requests) == checks_before  # Twilio was not even asked
    # Another number is not affected.
    client.post("/v1/auth/otp/start", json={"phone": OTHER_PHONE})
    other = {"phone": OTHER_PHONE, "code": twilio.code_for(OTHER_PHONE), "confirm_age_18": True}
    assert client.post("/v1/auth/otp/verify", json=other).status_code == 200


def test_sends_per_number_are_limited(
    client: TestClient, twilio: FakeTwilioVerify, accounts_settings: Settings
) -> None:
    limit = accounts_settings.otp_sends_per_number_per_hour
    for _ in range(limit):
        assert client.post("/v1/auth/otp/start", json={"phone": PHONE_AS_TYPED}).status_code == 202
    response = client.post("/v1/auth/otp/start", json={"phone": PHONE})  # the same number, however it is written
    assert response.status_code == 429
    assert error_code(response) == "rate_limited"
    assert len(twilio.sent_to()) == limit


def test_sends_per_client_address_are_limited(
    client: TestClient, twilio: FakeTwilioVerify, accounts_settings: Settings, use_settings: Any
) -> None:
    use_settings(accounts_settings.model_copy(update={"otp_sends_per_ip_per_hour": 3}))
    numbers = ["+14155552671", "+12025550143", "+16502530000", "+33612345678"]
    answers = [client.post("/v1/auth/otp/start", json={"phone": n}).status_code for n in numbers]
    assert answers == [202, 202, 202, 429]
    assert len(twilio.sent_to()) == 3


@pytest.mark.parametrize(
    ("status", "twilio_code", "expected_status", "expected_code"),
    [
        (400, 60200, 422, "invalid_phone"),
        (400, 60205, 422, "invalid_phone"),
        (429, 60203, 429, "rate_limited"),
        (500, 20500, 502, "upstream_error"),
        (401, 20003, 502, "upstream_error"),
    ],
)
def test_twilio_errors_become_clear_answers(
    client: TestClient,
    twilio: FakeTwilioVerify,
    status: int,
    twilio_code: int,
    expected_status: int,
    expected_code: str,
) -> None:
    twilio.fail_next(status, twilio_code, f"Invalid parameter `To`: {PHONE}")
    response = client.post("/v1/auth/otp/start", json={"phone": PHONE})
    assert response.status_code == expected_status
    assert error_code(response) == expected_code
    assert PHONE not in response.text


def test_twilio_failure_on_check_is_a_502(client: TestClient, twilio: FakeTwilioVerify) -> None:
    client.post("/v1/auth/otp/start", json={"phone": PHONE})
    twilio.fail_next(503, 20503, "Service unavailable")
    response = client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": "123456", "confirm_age_18": True})
    assert response.status_code == 502
    assert error_code(response) == "upstream_error"


def test_unreachable_twilio_is_a_502(client: TestClient, accounts_settings: Settings, use_settings: Any) -> None:
    use_settings(accounts_settings.model_copy(update={"twilio_verify_base_url": "http://127.0.0.1:9"}))
    response = client.post("/v1/auth/otp/start", json={"phone": PHONE})
    assert response.status_code == 502
    assert error_code(response) == "upstream_error"


def test_phone_sign_in_is_unavailable_until_configured(app_client: TestClient) -> None:
    response = app_client.post("/v1/auth/otp/start", json={"phone": PHONE})
    assert response.status_code == 503
    assert error_code(response) == "phone_unavailable"


@pytest.mark.parametrize("code", ["12", "12345678901", "12 34", "../../x"])
def test_malformed_codes_never_reach_twilio(client: TestClient, twilio: FakeTwilioVerify, code: str) -> None:
    response = client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": code})
    assert response.status_code == 422
    assert twilio.requests == []


def test_rate_limit_keys_never_hold_the_number(client: TestClient, runtime: Runtime, twilio: FakeTwilioVerify) -> None:
    client.post("/v1/auth/otp/start", json={"phone": PHONE})
    client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": "000001"})
    keys = runtime.redis.keys("*")
    assert keys
    digits = PHONE.removeprefix("+")
    for key in keys:
        assert digits.encode() not in key
        value = runtime.redis.get(key) if runtime.redis.type(key) == b"string" else b""
        assert digits.encode() not in (value or b"")
