"""Fixtures for sign-in tests: a local Twilio Verify, a local EVM, and an API client configured for both.

``client`` is the shared ``app_client`` whose runtime carries this suite's settings: Twilio pointed at the fake
server, and the EVM's chain accepted for SIWE with its RPC URL (for EIP-1271 contract wallets).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import vyper
from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from pydantic import SecretStr

from controlplane.devstack.evm_rpc import EvmRpc
from controlplane.devstack.fake_twilio import FakeTwilioVerify
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.accounts.helpers import PHONE, SignIn

# A smart-contract wallet (EIP-1271): a signature is its own when its owner key made it.
CONTRACT_WALLET_SOURCE = """
# pragma version ~=0.4.3

owner: public(address)


@deploy
def __init__(owner: address):
    self.owner = owner


@external
@view
def isValidSignature(digest: bytes32, signature: Bytes[65]) -> bytes4:
    if len(signature) != 65:
        return 0xffffffff
    r: uint256 = convert(slice(signature, 0, 32), uint256)
    s: uint256 = convert(slice(signature, 32, 32), uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    if ecrecover(digest, v, r, s) == self.owner:
        return 0x1626ba7e
    return 0xffffffff
"""


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilioVerify]:
    server = FakeTwilioVerify.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def evm() -> Iterator[EvmRpc]:
    rpc = EvmRpc.start()
    yield rpc
    rpc.stop()


@pytest.fixture(scope="session")
def contract_wallet_code() -> dict[str, Any]:
    compiled: dict[str, Any] = vyper.compile_code(CONTRACT_WALLET_SOURCE, output_formats=["abi", "bytecode"])
    return compiled


@pytest.fixture
def twilio(fake_twilio: FakeTwilioVerify) -> FakeTwilioVerify:
    fake_twilio.reset()
    return fake_twilio


@pytest.fixture
def accounts_settings(runtime: Runtime, fake_twilio: FakeTwilioVerify, evm: EvmRpc) -> Settings:
    return runtime.settings.model_copy(
        update={
            "twilio_account_sid": fake_twilio.account_sid,
            "twilio_auth_token": SecretStr(fake_twilio.auth_token),
            "twilio_verify_service_sid": fake_twilio.service_sid,
            "twilio_verify_base_url": fake_twilio.url,
            "twilio_timeout_s": 5.0,
            "siwe_chain_ids": [1, evm.chain_id],
            "ethereum_rpc_urls": {evm.chain_id: evm.url},
            "ethereum_rpc_timeout_s": 5.0,
        }
    )


@pytest.fixture
def use_settings(app_client: TestClient, runtime: Runtime) -> Any:
    """Swap the app's settings (``use_settings(settings)``); the database and Redis stay the test ones."""

    def use(settings: Settings) -> None:
        app_client.app.state.runtime = dataclasses.replace(runtime, settings=settings)  # type: ignore[attr-defined]

    return use


@pytest.fixture
def client(
    app_client: TestClient, use_settings: Any, accounts_settings: Settings, twilio: FakeTwilioVerify
) -> TestClient:
    use_settings(accounts_settings)
    return app_client


@pytest.fixture
def sign_in(client: TestClient, twilio: FakeTwilioVerify) -> SignIn:
    return SignIn(client, twilio)


@pytest.fixture
def eth_key() -> LocalAccount:
    key: LocalAccount = EthAccount.create()
    return key


@pytest.fixture
def phone() -> str:
    return PHONE
