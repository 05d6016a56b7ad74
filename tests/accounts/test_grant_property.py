"""Property: whatever scopes a key holds, no chain of requests it can make yields a credential holding more.

Hypothesis draws the key (its scopes, whether its account is an operator, whether it expires) and a sequence of
attempts through the real HTTP app, each made with any credential obtained so far: minting keys with any scopes
and expiry, linking the attacker's wallet or phone number (the way to a session), and signing in with them. After
every step, every credential of the account must hold no more than the first key, and the account must have no
session and no new way in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.accounts.api_keys import issue_api_key
from controlplane.accounts.models import ApiKey, AuthSession, Wallet
from controlplane.accounts.principal import account_owner
from controlplane.accounts.scopes import KNOWN_SCOPES, TENANT_SCOPES, effective, implied
from controlplane.accounts.service import create_account
from controlplane.db import utcnow
from controlplane.devstack.fake_twilio import FakeTwilioVerify
from controlplane.settings import Settings
from tests.accounts.helpers import PHONE, SignIn

SCOPES = sorted(KNOWN_SCOPES)


@st.composite
def first_keys(draw: st.DrawFn) -> tuple[bool, frozenset[str], int | None]:
    is_operator = draw(st.booleans())
    pool = sorted(KNOWN_SCOPES if is_operator else TENANT_SCOPES)
    held = set(draw(st.sets(st.sampled_from(pool), min_size=1)))
    if draw(st.booleans()):
        held.add("api-keys:write")  # half the keys can mint at all: the interesting half
    expires_in_h = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=48)))
    return is_operator, frozenset(held), expires_in_h


attempts = st.lists(
    st.one_of(
        st.tuples(
            st.just("mint"),
            st.integers(min_value=0, max_value=7),  # which credential
            st.sets(st.sampled_from(SCOPES), min_size=1),
            st.one_of(st.none(), st.integers(min_value=-2, max_value=96)),  # expiry, hours from now
        ),
        st.tuples(st.just("link-wallet"), st.integers(min_value=0, max_value=7)),
        st.tuples(st.just("link-phone"), st.integers(min_value=0, max_value=7)),
    ),
    min_size=1,
    max_size=6,
)


@dataclass
class Attack:
    client: TestClient
    sign_in: SignIn
    twilio: FakeTwilioVerify
    keys: list[str]
    attacker: LocalAccount = field(default_factory=EthAccount.create)

    def bearer(self, index: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[index % len(self.keys)]}"}

    def mint(self, index: int, scopes: set[str], expires_in_h: int | None) -> None:
        body: dict[str, Any] = {"name": "chain", "scopes": sorted(scopes)}
        if expires_in_h is not None:
            body["expires_at"] = (utcnow() + timedelta(hours=expires_in_h)).isoformat()
        response = self.client.post("/v1/api-keys", json=body, headers=self.bearer(index))
        assert response.status_code in (201, 403, 422), response.text
        if response.status_code == 201:
            self.keys.append(response.json()["key"])

    def link_wallet(self, index: int) -> None:
        payload = self.sign_in.siwe_payload(self.attacker)
        response = self.client.post("/v1/account/wallets", json=payload, headers=self.bearer(index))
        assert response.status_code == 403, response.text
        self.client.cookies.clear()
        signed = self.sign_in.with_wallet(self.attacker)  # what the attacker would do next
        assert signed.status_code == 200, signed.text
        self.client.cookies.clear()

    def link_phone(self, index: int) -> None:
        started = self.client.post("/v1/account/phone/start", json={"phone": PHONE}, headers=self.bearer(index))
        assert started.status_code == 403, started.text
        verified = self.client.post(
            "/v1/account/phone/verify", json={"phone": PHONE, "code": "123456"}, headers=self.bearer(index)
        )
        assert verified.status_code == 403, verified.text


def check_nothing_exceeds(
    db: Session, account_id: Any, held: frozenset[str], is_operator: bool, ends: datetime | None
) -> None:
    bound = implied(held)
    for key in db.scalars(select(ApiKey).where(ApiKey.account_id == account_id)):
        assert effective(key.scopes, is_operator=is_operator) <= bound, (key.scopes, held)
        if ends is not None:
            assert key.expires_at is not None
            assert key.expires_at <= ends
    assert db.scalars(select(AuthSession).where(AuthSession.account_id == account_id)).all() == []
    assert db.scalars(select(Wallet).where(Wallet.account_id == account_id)).all() == []


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=first_keys(), steps=attempts)
def test_no_chain_of_requests_yields_more_than_the_key_holds(
    client: TestClient,
    sign_in: SignIn,
    twilio: FakeTwilioVerify,
    db: Session,
    settings: Settings,
    first: tuple[bool, frozenset[str], int | None],
    steps: list[tuple[Any, ...]],
) -> None:
    is_operator, held, expires_in_h = first
    account = create_account(db)
    account.is_operator = is_operator
    ends = None if expires_in_h is None else utcnow() + timedelta(hours=expires_in_h)
    owner = account_owner(account.id, is_operator=is_operator)
    root = issue_api_key(db, settings, owner, name="leaked", scopes=sorted(held), expires_at=ends)
    attack = Attack(client, sign_in, twilio, [root.key])
    for step in steps:
        if step[0] == "mint":
            attack.mint(step[1], step[2], step[3])
        elif step[0] == "link-wallet":
            attack.link_wallet(step[1])
        else:
            attack.link_phone(step[1])
        check_nothing_exceeds(db, account.id, held, is_operator, ends)
