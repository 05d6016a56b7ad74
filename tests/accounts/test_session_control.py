"""A person sees where their account is signed in and ends sessions; changing how one signs in needs a session
that signed in recently, and signs out every other session."""

from __future__ import annotations

from datetime import timedelta

from eth_account import Account as EthAccount
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from controlplane.accounts.models import AuthSession
from controlplane.db import utcnow
from controlplane.devstack.fake_twilio import FakeTwilioVerify
from controlplane.notifications.models import Notification
from tests.accounts.helpers import OTHER_PHONE, SignIn, error_code

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"


def test_sessions_show_the_device_and_a_reduced_address(client: TestClient, sign_in: SignIn) -> None:
    client.headers["User-Agent"] = BROWSER
    sign_in.with_wallet(EthAccount.create())
    [listed] = client.get("/v1/account/sessions").json()["items"]
    assert listed["user_agent"] == BROWSER
    assert listed["current"] is True
    assert listed["client"] in (None, "testclient") or listed["client"].endswith("/24")  # never the full address


def test_sign_out_everywhere_else(client: TestClient, sign_in: SignIn, db: Session) -> None:
    wallet = EthAccount.create()
    for _ in range(3):
        client.cookies.clear()
        here = sign_in.with_wallet(wallet)
    ended = client.request("DELETE", "/v1/account/sessions", headers={"X-CSRF-Token": here.json()["csrf_token"]})
    assert ended.json() == {"ended": 2}
    [kept] = client.get("/v1/account/sessions").json()["items"]
    assert kept["current"] is True
    assert len(db.scalars(select(AuthSession)).all()) == 1


def test_another_accounts_session_cannot_be_ended(client: TestClient, sign_in: SignIn, db: Session) -> None:
    sign_in.with_wallet(EthAccount.create())
    theirs = db.scalars(select(AuthSession)).one()
    client.cookies.clear()
    mine = sign_in.with_wallet(EthAccount.create())
    response = client.delete(f"/v1/account/sessions/{theirs.id}", headers={"X-CSRF-Token": mine.json()["csrf_token"]})
    assert response.status_code == 404
    assert db.get(AuthSession, theirs.id) is not None


def test_an_old_session_must_sign_in_again_to_change_ways_in(client: TestClient, sign_in: SignIn, db: Session) -> None:
    signed = sign_in.with_wallet(EthAccount.create())
    csrf = {"X-CSRF-Token": signed.json()["csrf_token"]}
    db.execute(update(AuthSession).values(created_at=utcnow() - timedelta(minutes=11)))
    linked = client.post("/v1/account/wallets", json=sign_in.siwe_payload(EthAccount.create()), headers=csrf)
    deleted = client.request("DELETE", "/v1/account", json={"confirm": "delete my account"}, headers=csrf)
    for response in (linked, deleted):
        assert response.status_code == 403
        assert error_code(response) == "recent_session_required"
        assert "sign in again" in response.json()["error"]["message"]
    assert client.get("/v1/account").status_code == 200  # the session itself still works for everything else


def test_linking_signs_out_every_other_session_and_tells_the_person(
    client: TestClient, sign_in: SignIn, twilio: FakeTwilioVerify, db: Session
) -> None:
    wallet = EthAccount.create()
    elsewhere, csrf = sign_in.twice_with_wallet(wallet)
    started = client.post("/v1/account/phone/start", json={"phone": OTHER_PHONE}, headers=csrf)
    assert started.status_code == 202
    code = twilio.code_for(twilio.sent_to()[-1])
    linked = client.post("/v1/account/phone/verify", json={"phone": OTHER_PHONE, "code": code}, headers=csrf)
    assert linked.status_code == 200, linked.text
    assert client.get("/v1/auth/session", cookies={"cp_session": elsewhere}).status_code == 401
    assert client.get("/v1/auth/session").status_code == 200
    [notice] = db.scalars(select(Notification).where(Notification.kind == "sign_in_methods_changed")).all()
    assert notice.data == {"sessions_ended": 1}
    assert OTHER_PHONE not in notice.body
    unlinked = client.delete(f"/v1/account/wallets/{wallet.address}", headers=csrf)
    assert unlinked.status_code == 200, unlinked.text
    assert len(db.scalars(select(Notification).where(Notification.kind == "sign_in_methods_changed")).all()) == 2
