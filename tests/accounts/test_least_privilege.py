"""The security review's findings (issue #13), replayed through the real HTTP app as an attacker would.

Each test is one finding: a leaked, narrow API key must never become the whole account.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from eth_account import Account as EthAccount
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account, ApiKey, AuthSession
from controlplane.accounts.service import create_account, set_operator
from controlplane.db import utcnow
from controlplane.deployments.models import Namespace
from controlplane.idempotency.models import IdempotencyRecord
from tests.accounts.helpers import SignIn, error_code


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_key_cannot_mint_a_key_with_scopes_it_does_not_hold(
    client: TestClient, account: Account, make_key: Callable[..., str]
) -> None:
    narrow = make_key(account, ["api-keys:write"])
    every_write = ["account:write", "api-keys:write", "namespaces:write", "billing:write"]
    minted = client.post("/v1/api-keys", json={"name": "escalate", "scopes": every_write}, headers=bearer(narrow))
    assert minted.status_code == 403, minted.text
    assert error_code(minted) == "scope_not_held"
    assert sorted(minted.json()["error"]["details"]["not_held"]) == ["account:write", "billing:write",
                                                                     "namespaces:write"]  # fmt: skip
    # What it holds, it may pass on (and read is part of write).
    same = client.post("/v1/api-keys", json={"name": "ok", "scopes": ["api-keys:read"]}, headers=bearer(narrow))
    assert same.status_code == 201, same.text


def test_a_key_cannot_mint_a_key_that_outlives_it(
    client: TestClient, account: Account, make_key: Callable[..., str], db: Session
) -> None:
    expiring = make_key(account, ["api-keys:write", "namespaces:read"])
    ends = utcnow() + timedelta(days=1)
    db.query(ApiKey).filter(ApiKey.prefix == "_".join(expiring.split("_")[:2])).update({"expires_at": ends})
    body = {"name": "forever", "scopes": ["namespaces:read"]}
    forever = client.post("/v1/api-keys", json=body, headers=bearer(expiring))
    later = client.post(
        "/v1/api-keys", json={**body, "expires_at": (ends + timedelta(days=1)).isoformat()}, headers=bearer(expiring)
    )
    assert forever.status_code == later.status_code == 403
    assert error_code(forever) == error_code(later) == "expiry_exceeds_grant"
    sooner = client.post(
        "/v1/api-keys", json={**body, "expires_at": (ends - timedelta(hours=1)).isoformat()}, headers=bearer(expiring)
    )
    assert sooner.status_code == 201, sooner.text


def test_an_account_write_key_cannot_link_a_wallet_and_take_over(
    client: TestClient, sign_in: SignIn, account: Account, make_key: Callable[..., str], db: Session
) -> None:
    leaked = make_key(account, ["account:write"])
    attacker = EthAccount.create()
    linked = client.post("/v1/account/wallets", json=sign_in.siwe_payload(attacker), headers=bearer(leaked))
    assert linked.status_code == 403, linked.text
    assert error_code(linked) == "recent_session_required"
    assert "session" in linked.json()["error"]["message"]
    # So the attacker's wallet signs in to a new, empty account of its own, not the victim's.
    signed = sign_in.with_wallet(attacker)
    assert signed.json()["account"]["id"] != str(account.id)
    assert db.scalars(select(AuthSession).where(AuthSession.account_id == account.id)).all() == []


def test_the_victim_sees_and_ends_another_session(client: TestClient, sign_in: SignIn) -> None:
    elsewhere, csrf = sign_in.twice_with_wallet(EthAccount.create())
    listed = client.get("/v1/account/sessions")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert len(items) == 2
    assert all(set(item) >= {"id", "created_at", "last_seen_at", "expires_at", "user_agent", "client", "current"}
               for item in items)  # fmt: skip
    [other] = [item for item in items if not item["current"]]
    assert client.delete(f"/v1/account/sessions/{other['id']}", headers=csrf).status_code == 204
    assert client.get("/v1/auth/session", cookies={"cp_session": elsewhere}).status_code == 401
    assert client.get("/v1/auth/session").status_code == 200


def test_operator_endpoints_need_operator_scopes(
    client: TestClient, account: Account, make_key: Callable[..., str], db: Session
) -> None:
    set_operator(db, account.id, True)
    narrow = bearer(make_key(account, ["namespaces:read"]))
    victim = create_account(db)
    created = client.post("/v1/namespaces", json={"name": "shop", "apps": []}, headers=bearer(make_key(victim)))
    assert created.status_code == 202, created.text
    namespace = db.scalars(select(Namespace).where(Namespace.account_id == victim.id)).one()
    credit = client.post(
        f"/v1/operator/billing/accounts/{victim.id}/entries",
        json={"amount": 1_000_000_000_000, "kind": "adjustment", "reason": "free money"},
        headers=narrow,
    )
    logs = client.get("/v1/operator/api-logs", headers=narrow)
    retry = client.post(f"/v1/operator/namespaces/{namespace.id}/retry", headers=narrow)
    accounts = client.get("/v1/operator/accounts", headers=narrow)
    for response in (credit, logs, retry, accounts):
        assert response.status_code == 403, response.text
        assert error_code(response) == "missing_scope"


def test_an_account_read_key_cannot_export_what_other_scopes_guard(
    client: TestClient, account: Account, make_key: Callable[..., str]
) -> None:
    reader = bearer(make_key(account, ["account:read"]))
    assert client.get("/v1/namespaces", headers=reader).status_code == 403
    export = client.get("/v1/account/export", headers=reader)
    configs = client.get("/v1/account/configs", headers=reader)
    assert export.status_code == configs.status_code == 403
    assert error_code(export) == error_code(configs) == "missing_scope"
    everything = bearer(make_key(account, ["account:read", "api-keys:read", "namespaces:read", "billing:read"]))
    assert client.get("/v1/account/export", headers=everything).status_code == 200
    assert client.get("/v1/account/configs", headers=bearer(make_key(account, ["namespaces:read"]))).status_code == 200


def test_a_new_key_is_never_stored_for_replay(
    client: TestClient, account: Account, make_key: Callable[..., str], db: Session
) -> None:
    headers = {**bearer(make_key(account, ["api-keys:write"])), "Idempotency-Key": "mint-1"}
    body = {"name": "ci", "scopes": ["api-keys:read"]}
    first = client.post("/v1/api-keys", json=body, headers=headers)
    assert first.status_code == 201
    secret = first.json()["key"]
    stored = db.scalars(select(IdempotencyRecord)).all()
    assert all(record.response_body is None or secret.encode() not in record.response_body for record in stored)
    again = client.post("/v1/api-keys", json=body, headers=headers)
    assert again.status_code == 409
    assert error_code(again) == "idempotent_secret_not_replayable"
    assert secret not in again.text


def test_a_dead_session_gets_no_replay(client: TestClient, sign_in: SignIn) -> None:
    signed = sign_in.with_wallet(EthAccount.create())
    cookie = client.cookies["cp_session"]
    csrf = {"X-CSRF-Token": signed.json()["csrf_token"]}
    body = {"name": "shop", "apps": []}
    created = client.post("/v1/namespaces", json=body, headers={**csrf, "Idempotency-Key": "ns-1"})
    assert created.status_code == 202, created.text
    assert client.post("/v1/auth/logout", headers=csrf).status_code == 204
    client.cookies.clear()
    # The dead cookie, the same key and body, and no CSRF header: nothing is replayed to it.
    replayed = client.post("/v1/namespaces", json=body, headers={"Idempotency-Key": "ns-1"},
                           cookies={"cp_session": cookie})  # fmt: skip
    assert replayed.status_code == 401, replayed.text
    assert "idempotent-replayed" not in replayed.headers
