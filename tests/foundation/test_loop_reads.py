"""The API's event-loop reads (controlplane.api.async_db) on real commits: credentials and pages of lists.

Most API tests point these reads at their rolled-back transaction; here the API's own connections do the work.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from controlplane.accounts.api_keys import issue_api_key
from controlplane.accounts.models import Account, ApiKey, AuthSession
from controlplane.accounts.principal import account_owner
from controlplane.accounts.scopes import TENANT_SCOPES
from controlplane.accounts.service import create_account
from controlplane.accounts.sessions import start_session
from controlplane.api.async_db import StatementCompiler
from controlplane.db import utcnow
from tests.support.live import Live


def test_one_compiled_shape_serves_every_value() -> None:
    compile_sql = StatementCompiler()
    first, second = uuid.uuid4(), uuid.uuid4()
    sql_a, params_a = compile_sql(select(ApiKey.id).where(ApiKey.account_id == first).limit(3))
    sql_b, params_b = compile_sql(select(ApiKey.id).where(ApiKey.account_id == second).limit(7))
    assert sql_a == sql_b
    assert len(compile_sql.compiled) == 1
    assert sorted(params_a.values(), key=str) == sorted([first, 3], key=str)
    assert sorted(params_b.values(), key=str) == sorted([second, 7], key=str)


def _account_with_keys(live: Live, count: int) -> tuple[uuid.UUID, dict[str, str]]:
    with live.new_session() as session:
        account = create_account(session)
        settings = live.runtime.settings
        scopes = sorted(TENANT_SCOPES)
        owner = account_owner(account.id)
        keys = [issue_api_key(session, settings, owner, name=f"k{i}", scopes=scopes, expires_at=None)
                for i in range(count)]  # fmt: skip
        session.commit()
        return account.id, {"Authorization": f"Bearer {keys[0].key}"}


def test_pages_of_api_keys_follow_the_cursor_and_stay_in_the_account(live: Live) -> None:
    _, headers = _account_with_keys(live, 5)
    _account_with_keys(live, 3)  # another account's keys must never show
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = live.client.get("/v1/api-keys", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert all(set(item) == set(body["items"][0]) and "secret_hash" not in item for item in body["items"])
        seen += [item["name"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["k0", "k1", "k2", "k3", "k4"]


def test_revoked_expired_and_suspended_credentials_are_refused(live: Live) -> None:
    account_id, headers = _account_with_keys(live, 2)
    listed = live.client.get("/v1/api-keys", headers=headers).json()["items"]
    assert any(item["last_used_at"] is not None for item in listed), "using a key records when"

    other = next(item for item in listed if item["last_used_at"] is None)
    assert live.client.delete(f"/v1/api-keys/{other['id']}", headers=headers).status_code == 200
    with live.new_session() as session:
        expired = issue_api_key(session, live.runtime.settings, account_owner(account_id), name="old",
                                scopes=["account:read"], expires_at=utcnow() + timedelta(hours=1))  # fmt: skip
        session.flush()
        session.execute(update(ApiKey).where(ApiKey.id == expired.row.id).values(expires_at=utcnow()))
        session.commit()
    assert live.client.get("/v1/account", headers={"Authorization": f"Bearer {expired.key}"}).status_code == 401
    assert live.client.get("/v1/api-keys", headers=headers).status_code == 200

    with live.new_session() as session:
        session.execute(update(Account).where(Account.id == account_id).values(status="suspended"))
        session.commit()
    refused = live.client.get("/v1/api-keys", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"


def test_a_session_cookie_reads_and_writes_with_its_csrf_token(live: Live) -> None:
    settings = live.runtime.settings
    with live.new_session() as session:
        account = create_account(session)
        signed_in = start_session(session, settings, account, replacing=None)
        session.commit()
    live.client.cookies.set(settings.session_cookie_name, signed_in.token)
    try:
        assert live.client.get("/v1/api-keys").status_code == 200
        body = {"name": "from-cookie", "scopes": ["account:read"]}
        assert live.client.post("/v1/api-keys", json=body).status_code == 403  # no CSRF token
        created = live.client.post("/v1/api-keys", json=body, headers={"X-CSRF-Token": signed_in.csrf_token})
        assert created.status_code == 201, created.text

        with live.new_session() as session:
            session.execute(
                update(AuthSession)
                .where(AuthSession.account_id == account.id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            session.commit()
        assert live.client.get("/v1/api-keys").status_code == 401
    finally:
        live.client.cookies.clear()
