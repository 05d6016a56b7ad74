"""The message checks on their own, against the example message of EIP-4361 itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controlplane.accounts.siwe import check_message
from controlplane.errors import BadRequest
from controlplane.settings import Settings

# Verbatim from https://eips.ethereum.org/EIPS/eip-4361#example-message
SPEC_EXAMPLE = """service.invalid wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ServiceOrg Terms of Service: https://service.invalid/tos

URI: https://service.invalid/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""
ISSUED = datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)


@pytest.fixture
def service_invalid(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": "https://service.invalid", "siwe_chain_ids": [1]})


def refusal(settings: Settings, message: str, now: datetime = ISSUED) -> str:
    with pytest.raises(BadRequest) as caught:
        check_message(settings, message, now)
    return caught.value.code


def test_the_spec_example_passes(service_invalid: Settings) -> None:
    checked = check_message(service_invalid, SPEC_EXAMPLE, ISSUED + timedelta(seconds=30))
    assert checked.address == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert checked.chain_id == 1
    assert checked.nonce == "32891756"
    assert checked.issued_at == ISSUED
    assert checked.expiration_time is None


def test_the_spec_example_with_its_scheme_passes(service_invalid: Settings) -> None:
    check_message(service_invalid, "https://" + SPEC_EXAMPLE, ISSUED)
    assert refusal(service_invalid, "http://" + SPEC_EXAMPLE) == "siwe_domain_mismatch"


def test_the_spec_example_is_stale_an_hour_later(service_invalid: Settings) -> None:
    assert refusal(service_invalid, SPEC_EXAMPLE, ISSUED + timedelta(hours=1)) == "siwe_expired"


def test_the_spec_example_is_for_another_server_than_ours(settings: Settings) -> None:
    assert refusal(settings, SPEC_EXAMPLE) == "siwe_domain_mismatch"


def test_the_spec_example_with_a_lowercase_address_is_refused(service_invalid: Settings) -> None:
    lowered = SPEC_EXAMPLE.replace(
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
    )
    assert refusal(service_invalid, lowered) == "siwe_address_not_checksummed"


def test_configured_domain_and_uri_win_over_the_public_url(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"siwe_domain": "service.invalid", "siwe_uri": "https://service.invalid/login", "siwe_chain_ids": [1]}
    )
    assert check_message(configured, SPEC_EXAMPLE, ISSUED).nonce == "32891756"
    elsewhere = SPEC_EXAMPLE.replace("URI: https://service.invalid/login", "URI: https://service.invalid/other")
    assert refusal(configured, elsewhere) == "siwe_uri_mismatch"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Version: 1", "Version: 2"),
        ("Chain ID: 1", "Chain ID: one"),
        ("Nonce: 32891756", "Nonce: 123"),
        ("Issued At: 2021-09-30T16:25:24Z", "Issued At: yesterday"),
        ("wants you to sign in", "wants you to log in"),
    ],
)
def test_broken_fields_are_malformed(service_invalid: Settings, old: str, new: str) -> None:
    assert refusal(service_invalid, SPEC_EXAMPLE.replace(old, new)) == "siwe_malformed"
