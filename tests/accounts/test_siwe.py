"""Sign-In with Ethereum: every check of EIP-4361 on the way in, for ordinary and contract wallets."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account, Wallet
from controlplane.accounts.wallets import NONCE_PREFIX
from controlplane.devstack.evm_rpc import EvmRpc
from controlplane.runtime import Runtime
from tests.accounts.helpers import DOMAIN, SignIn, error_code, sign, siwe_message


def test_nonce_is_issued_with_what_the_message_must_say(client: TestClient, runtime: Runtime) -> None:
    body = client.get("/v1/auth/siwe/nonce").json()
    assert len(body["nonce"]) >= 8
    assert body["nonce"].isalnum()
    assert body["domain"] == DOMAIN
    assert body["uri"] == "http://127.0.0.1:8000"
    assert 1 in body["chain_ids"]
    ttl = runtime.redis.ttl(NONCE_PREFIX + body["nonce"])
    assert 0 < ttl <= 300


def test_nonces_differ(client: TestClient) -> None:
    assert len({client.get("/v1/auth/siwe/nonce").json()["nonce"] for _ in range(5)}) == 5


def test_first_sign_in_creates_the_account_with_the_checksummed_address(
    sign_in: SignIn, eth_key: LocalAccount, db: Session
) -> None:
    response = sign_in.with_wallet(eth_key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["new_account"] is True
    assert body["account"]["has_phone"] is False
    assert [w["address"] for w in body["account"]["wallets"]] == [eth_key.address]
    stored = db.scalars(select(Wallet.address)).all()
    assert stored == [eth_key.address]  # EIP-55 form, as signed


def test_second_sign_in_finds_the_same_account_without_age_confirmation(
    sign_in: SignIn, eth_key: LocalAccount, db: Session
) -> None:
    first = sign_in.with_wallet(eth_key).json()
    again = sign_in.with_wallet(eth_key, confirm_age_18=False)
    assert again.status_code == 200, again.text
    assert again.json()["account"]["id"] == first["account"]["id"]
    assert again.json()["new_account"] is False
    assert len(db.scalars(select(Account)).all()) == 1


def test_new_account_needs_the_age_confirmation(sign_in: SignIn, eth_key: LocalAccount, db: Session) -> None:
    response = sign_in.with_wallet(eth_key, confirm_age_18=False)
    assert response.status_code == 422
    assert error_code(response) == "age_confirmation_required"
    assert "confirm_age_18" in response.json()["error"]["message"]
    assert response.json()["error"]["details"][0]["location"] == ["body", "confirm_age_18"]
    assert db.scalars(select(Account)).all() == []


def test_replayed_message_is_refused(client: TestClient, sign_in: SignIn, eth_key: LocalAccount) -> None:
    payload = {**sign_in.siwe_payload(eth_key), "confirm_age_18": True}
    assert client.post("/v1/auth/siwe/verify", json=payload).status_code == 200
    replay = client.post("/v1/auth/siwe/verify", json=payload)
    assert replay.status_code == 400
    assert error_code(replay) == "siwe_nonce_invalid"


def test_nonce_not_issued_by_us_is_refused(client: TestClient, eth_key: LocalAccount) -> None:
    message = siwe_message(eth_key.address, "madeUpNonce12345")
    response = client.post(
        "/v1/auth/siwe/verify", json={"message": message, "signature": sign(eth_key, message), "confirm_age_18": True}
    )
    assert response.status_code == 400
    assert error_code(response) == "siwe_nonce_invalid"


def test_expired_nonce_is_refused(client: TestClient, sign_in: SignIn, eth_key: LocalAccount, runtime: Runtime) -> None:
    nonce = sign_in.nonce()
    runtime.redis.pexpire(NONCE_PREFIX + nonce, 1)
    time.sleep(0.02)
    message = siwe_message(eth_key.address, nonce)
    response = client.post(
        "/v1/auth/siwe/verify", json={"message": message, "signature": sign(eth_key, message), "confirm_age_18": True}
    )
    assert response.status_code == 400
    assert error_code(response) == "siwe_nonce_invalid"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"domain": "evil.example"}, "siwe_domain_mismatch"),
        ({"domain": "127.0.0.1:9000"}, "siwe_domain_mismatch"),
        ({"uri": "https://evil.example/login"}, "siwe_uri_mismatch"),
        ({"uri": "http://127.0.0.1:8000@evil.example/login"}, "siwe_uri_mismatch"),
        ({"chain_id": 5}, "siwe_chain_not_allowed"),
        ({"expiration_time": datetime.now(UTC) - timedelta(seconds=1)}, "siwe_expired"),
        ({"issued_at": datetime.now(UTC) - timedelta(hours=1)}, "siwe_expired"),
        ({"not_before": datetime.now(UTC) + timedelta(minutes=5)}, "siwe_not_yet_valid"),
        ({"issued_at": datetime.now(UTC) + timedelta(minutes=10)}, "siwe_not_yet_valid"),
    ],
    ids=["domain", "port", "uri", "uri-prefix-trick", "chain", "expired", "stale", "not-before", "issued-future"],
)
def test_message_for_elsewhere_or_another_time_is_refused(
    sign_in: SignIn, eth_key: LocalAccount, fields: dict[str, Any], code: str, db: Session
) -> None:
    response = sign_in.with_wallet(eth_key, **fields)
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert db.scalars(select(Wallet)).all() == []


def test_message_with_time_windows_that_hold_is_accepted(sign_in: SignIn, eth_key: LocalAccount) -> None:
    now = datetime.now(UTC)
    response = sign_in.with_wallet(
        eth_key, expiration_time=now + timedelta(minutes=5), not_before=now - timedelta(seconds=5)
    )
    assert response.status_code == 200, response.text


def test_another_keys_signature_is_refused(client: TestClient, sign_in: SignIn, eth_key: LocalAccount) -> None:
    message = siwe_message(eth_key.address, sign_in.nonce())
    impostor = EthAccount.create()
    response = client.post(
        "/v1/auth/siwe/verify", json={"message": message, "signature": sign(impostor, message), "confirm_age_18": True}
    )
    assert response.status_code == 400
    assert error_code(response) == "siwe_bad_signature"


def test_signature_of_another_message_is_refused(client: TestClient, sign_in: SignIn, eth_key: LocalAccount) -> None:
    message = siwe_message(eth_key.address, sign_in.nonce())
    other = siwe_message(eth_key.address, sign_in.nonce())
    response = client.post(
        "/v1/auth/siwe/verify", json={"message": message, "signature": sign(eth_key, other), "confirm_age_18": True}
    )
    assert error_code(response) == "siwe_bad_signature"


def test_lowercase_address_is_refused(client: TestClient, sign_in: SignIn, eth_key: LocalAccount) -> None:
    message = siwe_message(eth_key.address.lower(), sign_in.nonce())
    response = client.post(
        "/v1/auth/siwe/verify", json={"message": message, "signature": sign(eth_key, message), "confirm_age_18": True}
    )
    assert response.status_code == 400
    assert error_code(response) == "siwe_address_not_checksummed"
    assert "EIP-55" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "message",
    ["garbage", "", "127.0.0.1:8000 wants you to sign in with your Ethereum account:\n0x123", "a" * 4096],
    ids=["word", "empty", "truncated", "long"],
)
def test_garbage_message_is_refused(client: TestClient, eth_key: LocalAccount, message: str) -> None:
    body = {"message": message, "signature": sign(eth_key, message or "x"), "confirm_age_18": True}
    response = client.post("/v1/auth/siwe/verify", json=body)
    assert response.status_code in (400, 422)
    assert error_code(response) in ("siwe_malformed", "validation_error")


@pytest.mark.parametrize("signature", ["0x", "0x1234", "0x" + "00" * 65, "0x" + "ff" * 65, "0x" + "ab" * 70])
def test_garbage_signature_is_refused(
    client: TestClient, sign_in: SignIn, eth_key: LocalAccount, signature: str
) -> None:
    message = siwe_message(eth_key.address, sign_in.nonce())
    response = client.post(
        "/v1/auth/siwe/verify", json={"message": message, "signature": signature, "confirm_age_18": True}
    )
    assert response.status_code == 400
    assert error_code(response) == "siwe_bad_signature"


def test_signature_that_is_not_hex_is_a_422(client: TestClient, sign_in: SignIn, eth_key: LocalAccount) -> None:
    message = siwe_message(eth_key.address, sign_in.nonce())
    response = client.post("/v1/auth/siwe/verify", json={"message": message, "signature": "0xnothex"})
    assert response.status_code == 422
    assert ["body", "signature"] in [p["location"] for p in response.json()["error"]["details"]]


# --- Contract wallets (EIP-1271) -----------------------------------------------------------------------------------


@pytest.fixture
def contract_wallet(evm: EvmRpc, contract_wallet_code: dict[str, Any], eth_key: LocalAccount) -> str:
    """A contract wallet owned by ``eth_key``, deployed on the local chain; its address."""
    contract = evm.deploy(contract_wallet_code["abi"], contract_wallet_code["bytecode"], eth_key.address)
    address: str = contract.address
    return address


def test_contract_wallet_signs_in_through_eip1271(
    client: TestClient, sign_in: SignIn, evm: EvmRpc, contract_wallet: str, eth_key: LocalAccount
) -> None:
    message = siwe_message(contract_wallet, sign_in.nonce(), chain_id=evm.chain_id)
    response = client.post(
        "/v1/auth/siwe/verify", json={"message": message, "signature": sign(eth_key, message), "confirm_age_18": True}
    )
    assert response.status_code == 200, response.text
    assert [w["address"] for w in response.json()["account"]["wallets"]] == [contract_wallet]
    assert "eth_call" in evm.requests  # the contract was asked


def test_contract_wallet_refuses_a_stranger(
    client: TestClient, sign_in: SignIn, evm: EvmRpc, contract_wallet: str
) -> None:
    message = siwe_message(contract_wallet, sign_in.nonce(), chain_id=evm.chain_id)
    stranger = EthAccount.create()
    response = client.post(
        "/v1/auth/siwe/verify", json={"message": message, "signature": sign(stranger, message), "confirm_age_18": True}
    )
    assert response.status_code == 400
    assert error_code(response) == "siwe_bad_signature"


def test_contract_wallet_on_a_chain_without_rpc_is_refused(
    client: TestClient, sign_in: SignIn, contract_wallet: str, eth_key: LocalAccount
) -> None:
    # Chain 1 is accepted but has no RPC configured here: only ordinary accounts can sign in on it.
    message = siwe_message(contract_wallet, sign_in.nonce(), chain_id=1)
    response = client.post(
        "/v1/auth/siwe/verify", json={"message": message, "signature": sign(eth_key, message), "confirm_age_18": True}
    )
    assert error_code(response) == "siwe_bad_signature"


def test_address_without_code_is_not_asked(
    client: TestClient, sign_in: SignIn, evm: EvmRpc, eth_key: LocalAccount
) -> None:
    message = siwe_message(eth_key.address, sign_in.nonce(), chain_id=evm.chain_id)
    evm.requests.clear()
    response = client.post(
        "/v1/auth/siwe/verify",
        json={"message": message, "signature": sign(EthAccount.create(), message), "confirm_age_18": True},
    )
    assert error_code(response) == "siwe_bad_signature"
    assert "eth_call" not in evm.requests


def test_unreachable_rpc_is_a_502(
    client: TestClient, sign_in: SignIn, evm: EvmRpc, accounts_settings: Any, use_settings: Any, eth_key: LocalAccount
) -> None:
    use_settings(accounts_settings.model_copy(update={"ethereum_rpc_urls": {evm.chain_id: "http://127.0.0.1:9"}}))
    message = siwe_message(eth_key.address, sign_in.nonce(), chain_id=evm.chain_id)
    response = client.post(
        "/v1/auth/siwe/verify",
        json={"message": message, "signature": sign(EthAccount.create(), message), "confirm_age_18": True},
    )
    assert response.status_code == 502
    assert error_code(response) == "upstream_error"


def test_message_is_checked_exactly_as_signed(client: TestClient, sign_in: SignIn, eth_key: LocalAccount) -> None:
    # Nothing is trimmed before the checks: the EIP-4361 grammar has no trailing newline, so this one is refused as
    # malformed rather than silently trimmed (which would then fail as a signature of some other text).
    message = siwe_message(eth_key.address, sign_in.nonce()) + "\n"
    response = client.post(
        "/v1/auth/siwe/verify", json={"message": message, "signature": sign(eth_key, message), "confirm_age_18": True}
    )
    assert response.status_code == 400
    assert error_code(response) == "siwe_malformed"
