"""A vendor that is not configured answers 503 with a message naming the settings to set.

Found: phone sign-in answered 503 ``phone_unavailable`` without Twilio settings and named no setting; card top-ups
and deposits answered the same way. The test settings configure no vendor, so these go through the real app.
"""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_phone_sign_in_names_the_twilio_settings(app_client: TestClient) -> None:
    response = app_client.post("/v1/auth/otp/start", json={"phone": "+14155552671"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "phone_unavailable"
    for name in ("CONTROLPLANE_TWILIO_ACCOUNT_SID", "CONTROLPLANE_TWILIO_AUTH_TOKEN",
                 "CONTROLPLANE_TWILIO_VERIFY_SERVICE_SID"):  # fmt: skip
        assert name in error["message"]


def test_card_top_ups_name_the_stripe_setting(app_client: TestClient, auth: dict[str, str]) -> None:
    response = app_client.post("/v1/billing/checkout", json={"amount": 1000}, headers=auth)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "card_payments_unavailable"
    assert "CONTROLPLANE_STRIPE_API_KEY" in error["message"]


def test_deposits_name_the_chain_settings(app_client: TestClient, auth: dict[str, str]) -> None:
    response = app_client.post("/v1/billing/deposits", json={"tx_hash": "0x" + "ab" * 32}, headers=auth)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "deposits_unavailable"
    for name in ("CONTROLPLANE_DEPOSIT_CHAIN_ID", "CONTROLPLANE_DEPOSIT_RPC_URL", "CONTROLPLANE_DEPOSIT_ADDRESS"):
        assert name in error["message"]
