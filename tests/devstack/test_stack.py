"""Which stand-ins ``controlplane dev`` runs: only in development, and only for vendors that are not configured;
the real SDKs reach them through the settings the stack hands out."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from controlplane.accounts.twilio_verify import TwilioVerify
from controlplane.devstack.stack import DevStack, DevStackRefused, mask_phone
from controlplane.settings import Settings

CONFIGURED = {
    "twilio_account_sid": "AC" + "9" * 32,
    "twilio_auth_token": SecretStr("real-token"),
    "twilio_verify_service_sid": "VA" + "9" * 32,
    "stripe_api_key": SecretStr("sk_live_real"),
    "deposit_rpc_url": "https://rpc.example.invalid",
}


@pytest.mark.parametrize("env", ["test", "production"])
def test_the_stand_ins_are_refused_outside_development(env: str) -> None:
    settings = Settings.model_construct(env=env)  # production's own checks are not what this is about
    with pytest.raises(DevStackRefused, match=f"CONTROLPLANE_ENV=development; it is '{env}'"):
        DevStack.start(settings, print)


def test_configured_vendors_get_no_stand_in() -> None:
    stack = DevStack.start(Settings(env="development", **CONFIGURED), print)
    try:
        assert (stack.twilio, stack.stripe, stack.chain) == (None, None, None)
        assert stack.settings_env == {}
    finally:
        stack.stop()


def test_one_missing_vendor_gets_its_stand_in_which_the_real_sdk_reaches() -> None:
    said: list[str] = []
    given = {name: value for name, value in CONFIGURED.items() if not name.startswith("twilio")}
    stack = DevStack.start(Settings(env="development", **given), said.append)
    try:
        assert stack.twilio is not None
        assert (stack.stripe, stack.chain) == (None, None)
        assert set(stack.settings_env) == {
            "CONTROLPLANE_TWILIO_ACCOUNT_SID",
            "CONTROLPLANE_TWILIO_AUTH_TOKEN",
            "CONTROLPLANE_TWILIO_VERIFY_SERVICE_SID",
            "CONTROLPLANE_TWILIO_VERIFY_BASE_URL",
        }
        pointed = Settings(
            env="development",
            twilio_account_sid=stack.settings_env["CONTROLPLANE_TWILIO_ACCOUNT_SID"],
            twilio_auth_token=SecretStr(stack.settings_env["CONTROLPLANE_TWILIO_AUTH_TOKEN"]),
            twilio_verify_service_sid=stack.settings_env["CONTROLPLANE_TWILIO_VERIFY_SERVICE_SID"],
            twilio_verify_base_url=stack.settings_env["CONTROLPLANE_TWILIO_VERIFY_BASE_URL"],
        )
        verifier = TwilioVerify.from_settings(pointed)
        verifier.send_code("+14155552671")
        [sent] = stack.twilio.outbox("+14155552671")
        assert verifier.check_code("+14155552671", sent.code)
        assert said == [f"SMS code {sent.code} to +1******2671 (also at GET /v1/dev/phone-codes)"]
    finally:
        stack.stop()


def test_numbers_are_masked_in_the_console() -> None:
    assert mask_phone("+14155552671") == "+1******2671"
