"""API keys: ``Authorization: Bearer`` works on every endpoint its scopes allow, and nowhere else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from controlplane.accounts.api import account_router, auth_router, operator_router, router
from controlplane.accounts.models import Account, ApiKey
from controlplane.accounts.scopes import KNOWN_SCOPES
from controlplane.accounts.service import set_operator
from controlplane.db import utcnow
from tests.accounts.helpers import PHONE, error_code

ZERO_ID = "00000000-0000-0000-0000-000000000000"
ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
MESSAGE = {"message": "not checked before the scope", "signature": "0x00"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as routed
    url: str  # as called
    scope: str | None  # None: any valid credential
    body: dict[str, Any] | None = None


ENDPOINTS = [
    Endpoint("GET", "/v1/account", "/v1/account", "account:read"),
    Endpoint("GET", "/v1/account/sessions", "/v1/account/sessions", "account:read"),
    Endpoint("DELETE", "/v1/account/sessions", "/v1/account/sessions", "account:write"),
    Endpoint("DELETE", "/v1/account/sessions/{session_id}", f"/v1/account/sessions/{ZERO_ID}", "account:write"),
    Endpoint("GET", "/v1/api-keys", "/v1/api-keys", "api-keys:read"),
    Endpoint("POST", "/v1/api-keys", "/v1/api-keys", "api-keys:write", {"name": "k", "scopes": ["api-keys:read"]}),
    Endpoint("DELETE", "/v1/api-keys/{key_id}", f"/v1/api-keys/{ZERO_ID}", "api-keys:write"),
    Endpoint("GET", "/v1/auth/session", "/v1/auth/session", None),
    Endpoint("GET", "/v1/operator/accounts", "/v1/operator/accounts", "operator:read"),
]
# Changing how one signs in needs a recent session: no key, whatever its scopes.
SESSION_ONLY = [
    Endpoint("POST", "/v1/account/wallets", "/v1/account/wallets", None, MESSAGE),
    Endpoint("DELETE", "/v1/account/wallets/{address}", f"/v1/account/wallets/{ADDRESS}", None),
    Endpoint("POST", "/v1/account/phone/start", "/v1/account/phone/start", None, {"phone": PHONE}),
    Endpoint("POST", "/v1/account/phone/verify", "/v1/account/phone/verify", None, {"phone": PHONE, "code": "1234"}),
    Endpoint("DELETE", "/v1/account/phone", "/v1/account/phone", None),
    Endpoint("POST", "/v1/auth/logout", "/v1/auth/logout", None),
]
# Endpoints anyone may call (signing in).
UNAUTHENTICATED = {
    ("POST", "/v1/auth/otp/start"),
    ("POST", "/v1/auth/otp/verify"),
    ("GET", "/v1/auth/siwe/nonce"),
    ("POST", "/v1/auth/siwe/verify"),
}


def call(client: TestClient, endpoint: Endpoint, key: str) -> Any:
    return client.request(endpoint.method, endpoint.url, json=endpoint.body, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def operator(account: Account, db: Session) -> Account:
    # Operator, so that the operator endpoint is decided by scopes alone here.
    return set_operator(db, account.id, True)


def test_the_table_covers_every_accounts_endpoint() -> None:
    routed = {
        (method, route.path)
        for accounts_router in (router, auth_router, account_router, operator_router)
        for route in accounts_router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert routed == {(e.method, e.path) for e in [*ENDPOINTS, *SESSION_ONLY]} | UNAUTHENTICATED


@pytest.mark.parametrize("endpoint", SESSION_ONLY, ids=lambda e: f"{e.method} {e.path}")
def test_no_key_reaches_what_needs_a_session(
    client: TestClient, operator: Account, make_key: Callable[..., str], endpoint: Endpoint
) -> None:
    response = call(client, endpoint, make_key(operator, sorted(KNOWN_SCOPES)))
    assert response.status_code == 403, response.text
    assert error_code(response) in {"recent_session_required", "session_required"}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_a_key_works_where_its_scope_allows(
    client: TestClient, operator: Account, make_key: Callable[..., str], endpoint: Endpoint
) -> None:
    granted = [endpoint.scope] if endpoint.scope else ["billing:read"]
    response = call(client, endpoint, make_key(operator, granted))
    assert response.status_code not in (401, 403), response.text


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.scope], ids=lambda e: f"{e.method} {e.path}")
def test_a_key_is_refused_where_its_scopes_do_not_reach(
    client: TestClient, operator: Account, make_key: Callable[..., str], endpoint: Endpoint
) -> None:
    assert endpoint.scope is not None
    family, _, access = endpoint.scope.partition(":")
    lacking = sorted(s for s in KNOWN_SCOPES if not s.startswith(f"{family}:"))
    if access == "write":
        lacking.append(f"{family}:read")  # read does not give write
    response = call(client, endpoint, make_key(operator, lacking))
    assert response.status_code == 403
    assert error_code(response) == "missing_scope"


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.scope], ids=lambda e: f"{e.method} {e.path}")
def test_write_implies_read(
    client: TestClient, operator: Account, make_key: Callable[..., str], endpoint: Endpoint
) -> None:
    assert endpoint.scope is not None
    family = endpoint.scope.partition(":")[0]
    response = call(client, endpoint, make_key(operator, [f"{family}:write"]))
    assert response.status_code not in (401, 403), response.text


def test_revoked_expired_and_unknown_keys_get_the_same_401(
    client: TestClient, account: Account, make_key: Callable[..., str], db: Session
) -> None:
    revoked, expired, live = make_key(account), make_key(account), make_key(account)
    headers = {"Authorization": f"Bearer {live}"}
    revoked_id = next(
        k["id"]
        for k in client.get("/v1/api-keys", headers=headers).json()["items"]
        if revoked.startswith(k["prefix"] + "_")
    )
    assert client.delete(f"/v1/api-keys/{revoked_id}", headers=headers).status_code == 200
    expired_prefix = "_".join(expired.split("_")[:2])  # cpk_<public id>
    db.execute(update(ApiKey).where(ApiKey.prefix == expired_prefix).values(expires_at=utcnow() - timedelta(seconds=1)))
    tampered = live[:-4] + ("aaaa" if not live.endswith("aaaa") else "bbbb")
    answers = [
        client.get("/v1/account", headers={"Authorization": f"Bearer {key}"})
        for key in (revoked, expired, "cpk_000000000000_unknown", tampered, "garbage")
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.text for r in answers}) == 1
    assert error_code(answers[0]) == "unauthorized"
    assert client.get("/v1/account", headers=headers).status_code == 200


def test_a_key_of_an_ordinary_account_cannot_reach_the_operator_list(
    client: TestClient, account: Account, make_key: Callable[..., str]
) -> None:
    response = client.get("/v1/operator/accounts", headers={"Authorization": f"Bearer {make_key(account)}"})
    assert response.status_code == 403
    assert error_code(response) == "operator_only"


def test_a_key_needs_no_csrf_token(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/api-keys", json={"name": "ci", "scopes": ["account:read"]}, headers=auth)
    assert response.status_code == 201
