"""Rate limits under concurrency, and the client address they are keyed on (forwarded only by trusted proxies)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from controlplane.api.app import create_app
from controlplane.devstack.fake_twilio import FakeTwilioVerify
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.accounts.helpers import PHONE, error_code

PROXY = ("10.1.2.3", 40000)
STRANGER = ("203.0.113.9", 40000)
NUMBERS = ["+14155552671", "+12025550143", "+16502530000", "+33612345678", "+442071838750", "+61412345678"]


@pytest.fixture(autouse=True)
def _empty_tables_after(committed: Callable[[], Session]) -> None:
    """These tests run on real commits (accounts, API log records): every table is emptied after each."""


@contextmanager
def client_for(runtime: Runtime, settings: Settings, peer: tuple[str, int]) -> Iterator[TestClient]:
    """The real app on real commits (every thread gets its own database session), seen from ``peer``."""
    app = create_app(dataclasses.replace(runtime, settings=settings))
    with TestClient(app, base_url=settings.public_url, client=peer) as client:
        yield client


def check_requests(twilio: FakeTwilioVerify) -> int:
    return len([r for r in twilio.requests if r.path.endswith("/VerificationCheck")])


def test_parallel_wrong_codes_reach_twilio_at_most_the_allowed_times(
    runtime: Runtime, accounts_settings: Settings, twilio: FakeTwilioVerify
) -> None:
    allowed = accounts_settings.otp_wrong_codes_before_cooldown
    with client_for(runtime, accounts_settings, STRANGER) as client:
        assert client.post("/v1/auth/otp/start", json={"phone": PHONE}).status_code == 202
        right = twilio.code_for(PHONE)
        wrong = "000000" if right != "000000" else "111111"

        def guess(_: int) -> int:
            return client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": wrong}).status_code

        with ThreadPoolExecutor(max_workers=40) as pool:
            answers = list(pool.map(guess, range(40)))
        assert check_requests(twilio) <= allowed
        assert answers.count(400) == check_requests(twilio)
        assert answers.count(429) == 40 - check_requests(twilio)
        # The right code is refused too during the cool-down, without asking Twilio.
        before = check_requests(twilio)
        cooled = client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": right})
        assert cooled.status_code == 429
        assert check_requests(twilio) == before


def test_a_right_code_clears_the_count(runtime: Runtime, accounts_settings: Settings, twilio: FakeTwilioVerify) -> None:
    allowed = accounts_settings.otp_wrong_codes_before_cooldown
    with client_for(runtime, accounts_settings, STRANGER) as client:
        client.post("/v1/auth/otp/start", json={"phone": PHONE})
        right = twilio.code_for(PHONE)
        wrong = "000000" if right != "000000" else "111111"
        for _ in range(allowed - 1):
            assert error_code(client.post("/v1/auth/otp/verify", json={"phone": PHONE, "code": wrong})) == (
                "invalid_code"
            )
        body = {"phone": PHONE, "code": right, "confirm_age_18": True}
        assert client.post("/v1/auth/otp/verify", json=body).status_code == 200


def test_forwarded_addresses_count_only_from_trusted_proxies(
    runtime: Runtime, accounts_settings: Settings, twilio: FakeTwilioVerify
) -> None:
    settings = accounts_settings.model_copy(update={"otp_sends_per_ip_per_hour": 2, "trusted_proxies": ["10.0.0.0/8"]})

    def start(client: TestClient, number: str, forwarded_for: str) -> int:
        response = client.post("/v1/auth/otp/start", json={"phone": number}, headers={"X-Forwarded-For": forwarded_for})
        return response.status_code

    # Behind the trusted proxy, each client has its own bucket.
    with client_for(runtime, settings, PROXY) as proxy:
        first = [start(proxy, number, "198.51.100.7") for number in NUMBERS[:3]]
        second = [start(proxy, number, "198.51.100.8, 10.9.9.9") for number in NUMBERS[3:]]
    assert first == [202, 202, 429]
    assert second == [202, 202, 429]
    # Anyone else's forwarded header is ignored: a caller cannot pick a fresh bucket per request.
    with client_for(runtime, settings, STRANGER) as stranger:
        spoofed = [start(stranger, number, f"192.0.2.{i}") for i, number in enumerate(NUMBERS[:3])]
    assert spoofed == [202, 202, 429]


def test_without_trusted_proxies_forwarded_headers_are_ignored(
    runtime: Runtime, accounts_settings: Settings, twilio: FakeTwilioVerify
) -> None:
    settings = accounts_settings.model_copy(update={"otp_sends_per_ip_per_hour": 2})
    assert settings.trusted_proxies == []
    with client_for(runtime, settings, PROXY) as proxy:
        answers = [
            proxy.post("/v1/auth/otp/start", json={"phone": n}, headers={"X-Forwarded-For": f"198.51.100.{i}"})
            for i, n in enumerate(NUMBERS[:3])
        ]
    assert [answer.status_code for answer in answers] == [202, 202, 429]


def test_the_api_log_keeps_the_forwarded_client_reduced(runtime: Runtime, settings: Settings) -> None:
    from sqlalchemy import text

    trusting = settings.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]})
    for peer, expected in ((PROXY, "198.51.100.0/24"), (STRANGER, "203.0.113.0/24")):
        with client_for(runtime, trusting, peer) as client:
            request_id = f"fwd-{peer[0]}"
            client.get("/healthz", headers={"X-Forwarded-For": "198.51.100.77", "X-Request-ID": request_id})
            client.app.state.api_logs.flush()  # type: ignore[attr-defined]
        with runtime.engine.connect() as conn:
            client_column = conn.execute(
                text("SELECT client FROM api_logs WHERE request_id = :id"), {"id": request_id}
            ).scalar_one()
        assert client_column == expected


def test_trusted_proxies_must_be_networks() -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        Settings(trusted_proxies=["10.0.0.0/8", "not-a-network"])
