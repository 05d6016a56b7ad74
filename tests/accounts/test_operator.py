"""The operator role, granted only by the ``controlplane operator`` command, opens the account list."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from controlplane.accounts.api_keys import issue_api_key
from controlplane.accounts.models import Account
from controlplane.accounts.principal import account_owner
from controlplane.accounts.scopes import TENANT_SCOPES
from controlplane.accounts.service import create_account, set_operator
from controlplane.audit.models import AuditEntry
from controlplane.cli import app as cli
from controlplane.settings import Settings
from tests.accounts.helpers import error_code


def list_accounts(client: TestClient, key: str, **params: object) -> httpx.Response:
    return client.get("/v1/operator/accounts", params=params, headers={"Authorization": f"Bearer {key}"})


def test_operators_see_every_account_but_only_ids_dates_and_status(
    client: TestClient, account: Account, make_key: Callable[..., str], db: Session
) -> None:
    others = [create_account(db) for _ in range(3)]
    set_operator(db, account.id, True)
    key = make_key(account, ["operator:read"])
    seen: list[str] = []
    cursor = None
    while True:
        body = list_accounts(client, key, limit=2, **({"cursor": cursor} if cursor else {})).json()
        for item in body["items"]:
            assert set(item) == {"id", "created_at", "status"}
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert {str(a.id) for a in [account, *others]} <= set(seen)
    assert len(seen) == len(set(seen))


def test_ordinary_accounts_get_a_403(client: TestClient, account: Account, make_key: Callable[..., str]) -> None:
    response = list_accounts(client, make_key(account))
    assert response.status_code == 403
    assert error_code(response) == "operator_only"


def test_an_operators_key_still_needs_the_operator_read_scope(
    client: TestClient, account: Account, make_key: Callable[..., str], db: Session
) -> None:
    set_operator(db, account.id, True)
    response = list_accounts(client, make_key(account, sorted(TENANT_SCOPES)))
    assert response.status_code == 403
    assert error_code(response) == "missing_scope"


def test_only_an_operator_can_issue_operator_scopes(
    client: TestClient, account: Account, make_key: Callable[..., str], db: Session
) -> None:
    body = {"name": "ops", "scopes": ["operator:read"]}
    tenant_key = {"Authorization": f"Bearer {make_key(account, sorted(TENANT_SCOPES))}"}
    refused = client.post("/v1/api-keys", json=body, headers=tenant_key)
    assert refused.status_code == 403
    assert error_code(refused) == "scope_not_held"
    set_operator(db, account.id, True)
    operator_key = {"Authorization": f"Bearer {make_key(account, ['operator:write', 'api-keys:write'])}"}
    assert client.post("/v1/api-keys", json=body, headers=operator_key).status_code == 201


def test_the_cli_grants_and_revokes_the_role(
    committed: Callable[[], Session], settings: Settings, client: TestClient
) -> None:
    # ``committed`` comes first: set up first, torn down last, so its TRUNCATE runs once the test's own
    # transaction (held by ``client``) has ended.
    with committed() as session:
        account = create_account(session)
        session.commit()
    runner = CliRunner()
    granted = runner.invoke(cli, ["operator", "grant", str(account.id)])
    assert granted.exit_code == 0, granted.output
    with committed() as session:
        owner = account_owner(account.id, is_operator=True)
        key = issue_api_key(session, settings, owner, name="ops", scopes=["operator:read"], expires_at=None).key
        session.commit()
    assert list_accounts(client, key).status_code == 200
    assert client.get("/v1/auth/session", headers={"Authorization": f"Bearer {key}"}).json()["is_operator"] is True
    revoked = runner.invoke(cli, ["operator", "revoke", str(account.id)])
    assert revoked.exit_code == 0, revoked.output
    response = list_accounts(client, key)  # the key's operator scope is worth nothing without the role
    assert response.status_code == 403
    assert error_code(response) == "operator_only"
    with committed() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.credential == "cli")).all()
        assert sorted(entry.action for entry in audited) == ["operator grant", "operator revoke"]
        assert {entry.target["account_id"] for entry in audited} == {str(account.id)}


def test_the_audit_log_is_append_only(client: TestClient, account: Account, db: Session) -> None:
    from controlplane.audit.service import record

    entry = record(db, actor_account_id=account.id, credential="cli", action="test", target={}, request_id="r")
    db.flush()
    for statement in ("UPDATE operator_audit_log SET action = 'changed'", "DELETE FROM operator_audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
            db.execute(text(statement))
    assert db.get(AuditEntry, entry.id) is not None
