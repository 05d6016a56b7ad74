"""One account can never read or change another's data, whatever the endpoint."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account import Account as EthAccount
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account, ApiKey, Wallet
from controlplane.accounts.service import create_account
from tests.accounts.helpers import SignIn, error_code


@pytest.fixture
def alice(account: Account, db: Session) -> Account:
    db.add(Wallet(account_id=account.id, address=EthAccount.create().address))
    db.add(Wallet(account_id=account.id, address=EthAccount.create().address))
    db.flush()
    return account


@pytest.fixture
def bob(db: Session) -> Account:
    return create_account(db)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_another_accounts_key_cannot_be_revoked_or_listed(
    client: TestClient, alice: Account, bob: Account, make_key: Callable[..., str], db: Session
) -> None:
    alices_key, bobs_key = make_key(alice), make_key(bob)
    alices_id = db.scalars(select(ApiKey.id).where(ApiKey.account_id == alice.id)).one()
    response = client.delete(f"/v1/api-keys/{alices_id}", headers=bearer(bobs_key))
    assert response.status_code == 404
    assert error_code(response) == "not_found"
    listed = client.get("/v1/api-keys", headers=bearer(bobs_key)).json()["items"]
    assert str(alices_id) not in {item["id"] for item in listed}
    assert client.get("/v1/account", headers=bearer(alices_key)).status_code == 200


def test_another_accounts_wallet_cannot_be_read_or_unlinked(
    client: TestClient, alice: Account, bob: Account, make_key: Callable[..., str], db: Session, sign_in: SignIn
) -> None:
    bobs_key = make_key(bob)
    body = client.get("/v1/account", headers=bearer(bobs_key)).json()
    assert body["id"] == str(bob.id)
    assert body["wallets"] == []
    signed = sign_in.with_wallet(EthAccount.create())  # someone else's session, recent enough to unlink
    csrf = {"X-CSRF-Token": signed.json()["csrf_token"]}
    for wallet in alice.wallets:
        with_key = client.delete(f"/v1/account/wallets/{wallet.address}", headers=bearer(bobs_key))
        assert with_key.status_code == 403  # no key unlinks anything
        with_session = client.delete(f"/v1/account/wallets/{wallet.address}", headers=csrf)
        assert with_session.status_code == 404  # and a session finds no wallet of another account
    assert len(db.scalars(select(Wallet).where(Wallet.account_id == alice.id)).all()) == 2


def test_sessions_speak_only_for_their_own_account(
    client: TestClient, alice: Account, bob: Account, make_key: Callable[..., str]
) -> None:
    assert client.get("/v1/auth/session", headers=bearer(make_key(bob))).json()["account_id"] == str(bob.id)


def test_an_ordinary_account_cannot_list_accounts(
    client: TestClient, alice: Account, bob: Account, make_key: Callable[..., str]
) -> None:
    response = client.get("/v1/operator/accounts", headers=bearer(make_key(bob)))
    assert response.status_code == 403
    assert str(alice.id) not in response.text
