"""The account and its ways in: link and unlink wallets and a phone, always keeping one way in."""

from __future__ import annotations

import httpx
import pytest
from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account, Wallet
from controlplane.accounts.phone import phone_hash
from controlplane.accounts.service import create_account
from controlplane.devstack.fake_twilio import FakeTwilioVerify
from controlplane.settings import Settings
from tests.accounts.helpers import OTHER_PHONE, PHONE, SignIn, error_code, sign, siwe_message


def csrf(response: httpx.Response) -> dict[str, str]:
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def link_phone(client: TestClient, twilio: FakeTwilioVerify, headers: dict[str, str], number: str) -> httpx.Response:
    started = client.post("/v1/account/phone/start", json={"phone": number}, headers=headers)
    assert started.status_code == 202, started.text
    code = twilio.code_for(twilio.sent_to()[-1])
    return client.post("/v1/account/phone/verify", json={"phone": number, "code": code}, headers=headers)


def test_account_shows_its_ways_in_and_nothing_secret(client: TestClient, sign_in: SignIn) -> None:
    signed = sign_in.with_phone(PHONE)
    body = client.get("/v1/account").json()
    assert set(body) == {"id", "created_at", "age_confirmed_at", "has_phone", "wallets", "is_operator"}
    assert body["id"] == signed.json()["account"]["id"]
    assert body["has_phone"] is True
    assert body["wallets"] == []
    assert body["is_operator"] is False


def test_link_a_wallet_to_a_phone_account(
    client: TestClient, sign_in: SignIn, eth_key: LocalAccount, db: Session
) -> None:
    signed = sign_in.with_phone(PHONE)
    response = client.post("/v1/account/wallets", json=sign_in.siwe_payload(eth_key), headers=csrf(signed))
    assert response.status_code == 200, response.text
    assert [w["address"] for w in response.json()["wallets"]] == [eth_key.address]
    client.cookies.clear()
    again = sign_in.with_wallet(eth_key, confirm_age_18=False)
    assert again.json()["account"]["id"] == signed.json()["account"]["id"]
    assert again.json()["account"]["has_phone"] is True


def test_link_a_phone_to_a_wallet_account(
    client: TestClient, sign_in: SignIn, twilio: FakeTwilioVerify, eth_key: LocalAccount
) -> None:
    signed = sign_in.with_wallet(eth_key)
    response = link_phone(client, twilio, csrf(signed), "+1 202 555 0143")
    assert response.status_code == 200, response.text
    assert response.json()["has_phone"] is True
    assert twilio.sent_to() == [OTHER_PHONE]
    client.cookies.clear()
    again = sign_in.with_phone(OTHER_PHONE, confirm_age_18=False)
    assert again.json()["account"]["id"] == signed.json()["account"]["id"]


def test_linking_the_same_wallet_twice_is_harmless(client: TestClient, sign_in: SignIn, eth_key: LocalAccount) -> None:
    signed = sign_in.with_wallet(eth_key)
    response = client.post("/v1/account/wallets", json=sign_in.siwe_payload(eth_key), headers=csrf(signed))
    assert response.status_code == 200
    assert len(response.json()["wallets"]) == 1


def test_wallet_of_another_account_cannot_be_linked(
    client: TestClient, sign_in: SignIn, eth_key: LocalAccount, db: Session
) -> None:
    other = create_account(db)
    db.add(Wallet(account_id=other.id, address=eth_key.address))
    db.flush()
    signed = sign_in.with_phone(PHONE)
    response = client.post("/v1/account/wallets", json=sign_in.siwe_payload(eth_key), headers=csrf(signed))
    assert response.status_code == 409
    assert error_code(response) == "wallet_in_use"
    assert str(other.id) not in response.text
    assert db.scalars(select(Wallet.account_id).where(Wallet.address == eth_key.address)).one() == other.id


def test_phone_of_another_account_cannot_be_linked(
    client: TestClient,
    sign_in: SignIn,
    twilio: FakeTwilioVerify,
    eth_key: LocalAccount,
    db: Session,
    settings: Settings,
) -> None:
    other = create_account(db, phone_hash=phone_hash(settings, PHONE))
    signed = sign_in.with_wallet(eth_key)
    response = link_phone(client, twilio, csrf(signed), PHONE)
    assert response.status_code == 409
    assert error_code(response) == "phone_number_in_use"
    assert str(other.id) not in response.text
    assert client.get("/v1/account").json()["has_phone"] is False


def test_linking_a_wallet_runs_every_sign_in_check(client: TestClient, sign_in: SignIn, eth_key: LocalAccount) -> None:
    signed = sign_in.with_phone(PHONE)
    headers = csrf(signed)
    payload = sign_in.siwe_payload(eth_key)
    assert client.post("/v1/account/wallets", json=payload, headers=headers).status_code == 200
    assert error_code(client.post("/v1/account/wallets", json=payload, headers=headers)) == "siwe_nonce_invalid"
    wrong_domain = sign_in.siwe_payload(EthAccount.create(), domain="evil.example")
    assert error_code(client.post("/v1/account/wallets", json=wrong_domain, headers=headers)) == "siwe_domain_mismatch"
    message = siwe_message(eth_key.address, sign_in.nonce())
    forged = {"message": message, "signature": sign(EthAccount.create(), message)}
    assert error_code(client.post("/v1/account/wallets", json=forged, headers=headers)) == "siwe_bad_signature"


def test_linking_a_phone_needs_its_code(
    client: TestClient, sign_in: SignIn, twilio: FakeTwilioVerify, eth_key: LocalAccount
) -> None:
    headers = csrf(sign_in.with_wallet(eth_key))
    client.post("/v1/account/phone/start", json={"phone": PHONE}, headers=headers)
    wrong = "000000" if twilio.code_for(PHONE) != "000000" else "111111"
    response = client.post("/v1/account/phone/verify", json={"phone": PHONE, "code": wrong}, headers=headers)
    assert error_code(response) == "invalid_code"
    assert client.get("/v1/account").json()["has_phone"] is False


def test_unlink_while_another_way_in_remains(
    client: TestClient, sign_in: SignIn, twilio: FakeTwilioVerify, eth_key: LocalAccount
) -> None:
    headers = csrf(sign_in.with_wallet(eth_key))
    link_phone(client, twilio, headers, PHONE)
    removed = client.delete(f"/v1/account/wallets/{eth_key.address}", headers=headers)
    assert removed.status_code == 200, removed.text
    assert removed.json()["wallets"] == []
    last = client.delete("/v1/account/phone", headers=headers)
    assert last.status_code == 409
    assert error_code(last) == "last_sign_in_method"
    assert client.get("/v1/account").json()["has_phone"] is True


def test_the_only_wallet_cannot_be_unlinked(client: TestClient, sign_in: SignIn, eth_key: LocalAccount) -> None:
    headers = csrf(sign_in.with_wallet(eth_key))
    response = client.delete(f"/v1/account/wallets/{eth_key.address}", headers=headers)
    assert response.status_code == 409
    assert error_code(response) == "last_sign_in_method"


def test_unlink_phone_then_sign_in_with_it_is_a_new_account(
    client: TestClient, sign_in: SignIn, twilio: FakeTwilioVerify, eth_key: LocalAccount
) -> None:
    signed = sign_in.with_wallet(eth_key)
    headers = csrf(signed)
    link_phone(client, twilio, headers, PHONE)
    assert client.delete("/v1/account/phone", headers=headers).json()["has_phone"] is False
    assert error_code(client.delete("/v1/account/phone", headers=headers)) == "not_found"
    client.cookies.clear()
    fresh = sign_in.with_phone(PHONE)
    assert fresh.json()["new_account"] is True
    assert fresh.json()["account"]["id"] != signed.json()["account"]["id"]


@pytest.mark.parametrize("spelling", [str.lower, str.upper, lambda a: a])
def test_unlink_accepts_any_spelling_of_the_address(
    client: TestClient, sign_in: SignIn, eth_key: LocalAccount, spelling: object
) -> None:
    headers = csrf(sign_in.with_phone(PHONE))
    client.post("/v1/account/wallets", json=sign_in.siwe_payload(eth_key), headers=headers)
    address = "0x" + spelling(eth_key.address[2:])  # type: ignore[operator]
    response = client.delete(f"/v1/account/wallets/{address}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["wallets"] == []


def test_unlinking_a_wallet_not_on_the_account_is_a_404(
    client: TestClient, sign_in: SignIn, eth_key: LocalAccount, db: Session
) -> None:
    other = create_account(db)
    stranger = EthAccount.create()
    db.add(Wallet(account_id=other.id, address=stranger.address))
    db.flush()
    headers = csrf(sign_in.with_phone(PHONE))
    client.post("/v1/account/wallets", json=sign_in.siwe_payload(eth_key), headers=headers)
    for address in (stranger.address, EthAccount.create().address, "not-an-address"):
        response = client.delete(f"/v1/account/wallets/{address}", headers=headers)
        assert response.status_code == 404
        assert error_code(response) == "not_found"
    assert db.scalars(select(Wallet).where(Wallet.account_id == other.id)).one().address == stranger.address


def test_replacing_the_phone_number(
    client: TestClient, sign_in: SignIn, twilio: FakeTwilioVerify, db: Session, settings: Settings
) -> None:
    signed = sign_in.with_phone(PHONE)
    response = link_phone(client, twilio, csrf(signed), OTHER_PHONE)
    assert response.status_code == 200
    account = db.get(Account, signed.json()["account"]["id"])
    assert account is not None
    db.refresh(account)
    assert account.phone_hash == phone_hash(settings, OTHER_PHONE)
