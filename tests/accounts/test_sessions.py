"""Server-side sessions: the one cookie, CSRF on cookie-authenticated writes, expiry, logout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from controlplane.accounts.models import AuthSession
from controlplane.accounts.secrets import keyed_hash
from controlplane.db import utcnow
from controlplane.settings import Settings
from tests.accounts.helpers import SignIn, error_code

COOKIE = "cp_session"


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def attributes(header: str) -> dict[str, str]:
    parts = [part.strip() for part in header.split(";")]
    return {name.lower(): value for name, _, value in (part.partition("=") for part in parts[1:])}


@pytest.fixture
def signed_in(sign_in: SignIn, eth_key: LocalAccount) -> httpx.Response:
    response = sign_in.with_wallet(eth_key)
    assert response.status_code == 200, response.text
    return response


def test_sign_in_sets_only_the_session_cookie_with_safe_attributes(
    signed_in: httpx.Response, accounts_settings: Settings
) -> None:
    [header] = set_cookies(signed_in)
    assert header.startswith(f"{COOKIE}=")
    attrs = attributes(header)
    assert "httponly" in attrs
    assert attrs["samesite"].lower() == "lax"
    assert attrs["path"] == "/"
    assert "domain" not in attrs  # host-only
    assert "secure" not in attrs  # development and test serve plain http
    assert int(attrs["max-age"]) == accounts_settings.session_ttl_hours * 3600


def test_cookie_is_secure_outside_development(
    sign_in: SignIn, eth_key: LocalAccount, accounts_settings: Settings, use_settings: Any
) -> None:
    use_settings(accounts_settings.model_copy(update={"env": "production"}))
    response = sign_in.with_wallet(eth_key)
    assert response.status_code == 200, response.text
    [header] = set_cookies(response)
    assert "secure" in attributes(header)


def test_phone_sign_in_sets_the_same_cookie(sign_in: SignIn) -> None:
    response = sign_in.with_phone("+14155552671")
    [header] = set_cookies(response)
    assert header.startswith(f"{COOKIE}=")


def test_session_says_who_is_signed_in(client: TestClient, signed_in: httpx.Response) -> None:
    body = client.get("/v1/auth/session").json()
    assert body["account_id"] == signed_in.json()["account"]["id"]
    assert body["authenticated_by"] == "session"
    assert body["csrf_token"] == signed_in.json()["csrf_token"]  # recoverable after a page reload
    assert body["expires_at"] == signed_in.json()["expires_at"]
    assert body["is_operator"] is False


def test_session_expires_after_the_configured_time(signed_in: httpx.Response, db: Session) -> None:
    row = db.scalars(select(AuthSession)).one()
    expected = utcnow() + timedelta(hours=24 * 7)
    assert abs((row.expires_at - expected).total_seconds()) < 60


def test_session_with_an_api_key(client: TestClient, auth: dict[str, str]) -> None:
    body = client.get("/v1/auth/session", headers=auth).json()
    assert body["authenticated_by"] == "api_key"
    assert body["csrf_token"] is None


def test_nobody_signed_in_is_a_401(client: TestClient) -> None:
    response = client.get("/v1/auth/session")
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"


def test_tokens_are_stored_only_as_keyed_hashes(
    client: TestClient, signed_in: httpx.Response, db: Session, settings: Settings
) -> None:
    token = client.cookies[COOKIE]
    row = db.scalars(select(AuthSession)).one()
    assert row.token_hash == keyed_hash(settings.session_secret, token)
    assert row.csrf_hash == keyed_hash(settings.session_secret, signed_in.json()["csrf_token"])
    assert token.encode() not in row.token_hash


def test_cookie_reads_need_no_csrf_token(client: TestClient, signed_in: httpx.Response) -> None:
    assert client.get("/v1/account").status_code == 200
    assert client.get("/v1/api-keys").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/api-keys", {"name": "k", "scopes": ["account:read"]}),
        ("DELETE", "/v1/api-keys/00000000-0000-0000-0000-000000000000", None),
        ("DELETE", "/v1/account/phone", None),
        ("POST", "/v1/account/phone/start", {"phone": "+14155552671"}),
        ("POST", "/v1/auth/logout", None),
    ],
)
def test_cookie_writes_need_the_csrf_token(
    client: TestClient, signed_in: httpx.Response, method: str, path: str, body: dict[str, Any] | None
) -> None:
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, response.text
        assert error_code(response) == "csrf_failed"


def test_cookie_write_with_the_csrf_token_goes_through(client: TestClient, signed_in: httpx.Response) -> None:
    headers = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
    response = client.post("/v1/api-keys", json={"name": "k", "scopes": ["account:read"]}, headers=headers)
    assert response.status_code == 201


def test_cookie_write_from_another_origin_is_refused(client: TestClient, signed_in: httpx.Response) -> None:
    headers = {"X-CSRF-Token": signed_in.json()["csrf_token"], "Origin": "https://evil.example"}
    response = client.post("/v1/api-keys", json={"name": "k", "scopes": ["account:read"]}, headers=headers)
    assert response.status_code == 403
    assert error_code(response) == "csrf_failed"


def test_sign_in_from_another_origin_is_refused(client: TestClient, sign_in: SignIn, eth_key: LocalAccount) -> None:
    body = {**sign_in.siwe_payload(eth_key), "confirm_age_18": True}
    response = client.post("/v1/auth/siwe/verify", json=body, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert not set_cookies(response)


def test_logout_ends_the_session_server_side(client: TestClient, signed_in: httpx.Response, db: Session) -> None:
    token = client.cookies[COOKIE]
    response = client.post("/v1/auth/logout", headers={"X-CSRF-Token": signed_in.json()["csrf_token"]})
    assert response.status_code == 204
    [cleared] = set_cookies(response)
    assert cleared.startswith(f'{COOKIE}=""') or cleared.startswith(f"{COOKIE}=;")
    assert attributes(cleared)["max-age"] == "0"
    assert db.scalars(select(AuthSession)).all() == []
    client.cookies.clear()
    replayed = client.get("/v1/auth/session", headers={"Cookie": f"{COOKIE}={token}"})
    assert replayed.status_code == 401


def test_logout_needs_a_session(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/auth/logout", headers=auth)
    assert response.status_code == 403
    assert error_code(response) == "session_required"


def test_expired_session_gets_the_same_401(client: TestClient, signed_in: httpx.Response, db: Session) -> None:
    unknown = client.get("/v1/auth/session", headers={"Cookie": f"{COOKIE}=not-a-session"})
    db.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = client.get("/v1/auth/session")
    assert expired.status_code == unknown.status_code == 401
    assert expired.json() == unknown.json()


def test_signing_in_again_replaces_the_session(
    client: TestClient, sign_in: SignIn, eth_key: LocalAccount, db: Session
) -> None:
    sign_in.with_wallet(eth_key)
    first = client.cookies[COOKIE]
    sign_in.with_wallet(eth_key)
    assert client.cookies[COOKIE] != first
    assert len(db.scalars(select(AuthSession)).all()) == 1
    client.cookies.clear()
    assert client.get("/v1/auth/session", headers={"Cookie": f"{COOKIE}={first}"}).status_code == 401
