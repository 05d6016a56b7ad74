"""Fixtures for billing: settings with Stripe pointed at a local stand-in and deposits on an in-process EVM, an
ERC-20 token compiled from Vyper by the test, accounts with linked wallets, and a moved clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from controlplane.accounts.api_keys import issue_api_key
from controlplane.accounts.models import Account, Wallet
from controlplane.accounts.principal import account_owner
from controlplane.accounts.scopes import TENANT_SCOPES
from controlplane.accounts.service import create_account
from controlplane.devstack.chain import compile_token
from controlplane.devstack.evm_rpc import EvmRpc
from controlplane.devstack.fake_stripe import FakeStripe
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.support.chain import Chain, deploy_chain


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[FakeStripe]:
    server = FakeStripe.start()
    yield server
    server.stop()


@pytest.fixture
def stripe_api(fake_stripe: FakeStripe) -> FakeStripe:
    fake_stripe.reset()
    return fake_stripe


@pytest.fixture(scope="session")
def evm() -> Iterator[EvmRpc]:
    rpc = EvmRpc.start()
    yield rpc
    rpc.stop()


@pytest.fixture(scope="session")
def token_code() -> dict[str, Any]:
    return compile_token()  # the dev chain's token: one source for both


@pytest.fixture(scope="session")
def chain(evm: EvmRpc, token_code: dict[str, Any]) -> Chain:
    return deploy_chain(evm, token_code)


@pytest.fixture
def billing_settings(runtime: Runtime, stripe_api: FakeStripe, chain: Chain) -> Settings:
    return runtime.settings.model_copy(
        update={
            "stripe_api_key": SecretStr(stripe_api.api_key),
            "stripe_api_base": stripe_api.url,
            "stripe_timeout_s": 5.0,
            **chain.deposit_settings(),
        }
    )


@pytest.fixture
def client(app_client: TestClient, runtime: Runtime, billing_settings: Settings) -> TestClient:
    """The shared ``app_client`` (one rolled-back transaction per test) with the billing settings."""
    app_client.app.state.runtime = dataclasses.replace(runtime, settings=billing_settings)  # type: ignore[attr-defined]
    return app_client


@dataclasses.dataclass
class Customer:
    account: Account
    headers: dict[str, str]

    @property
    def id(self) -> Any:
        return self.account.id


@pytest.fixture
def make_customer(db: Session, settings: Settings) -> Callable[..., Customer]:
    def make(scopes: frozenset[str] | list[str] = TENANT_SCOPES) -> Customer:
        account = create_account(db)
        key = issue_api_key(db, settings, account_owner(account.id), name="t", scopes=list(scopes), expires_at=None).key
        return Customer(account, {"Authorization": f"Bearer {key}"})

    return make


@pytest.fixture
def customer(make_customer: Callable[..., Customer]) -> Customer:
    return make_customer()


def link_wallet(db: Session, account_id: Any, address: str) -> None:
    db.add(Wallet(account_id=account_id, address=address))
    db.flush()


class Clock:
    """A moved clock for the services' explicit ``now``: starts on the next full hour after the real time."""

    def __init__(self) -> None:
        real = datetime.now(UTC)
        self.now = real.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    @property
    def hour(self) -> datetime:
        """The start of the hour that ended most recently."""
        return self.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()
