"""Access, export and deletion: the privacy policy's promises about a person's data, each as a test."""

from __future__ import annotations

import io
import time
import uuid
import zipfile

import yaml
from sqlalchemy import text

from controlplane.accounts import sessions
from controlplane.accounts.models import Account, ApiKey, Wallet
from controlplane.billing.ledger import credit
from controlplane.billing.models import EntryKind, EntrySource
from controlplane.deployments.models import Namespace
from controlplane.notifications.service import notify
from controlplane.runtime import Runtime
from tests.support.engine_double import calls, script
from tests.support.live import FUNDS, Live

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"  # EIP-55 form, from the EIP's own examples
PHONE_HASH = bytes.fromhex("ab" * 32)
LEFTOVERS = {
    "accounts": "SELECT count(*) FROM accounts WHERE id = :id",
    "wallets": "SELECT count(*) FROM wallets WHERE account_id = :id",
    "sessions": "SELECT count(*) FROM auth_sessions WHERE account_id = :id",
    "api keys": "SELECT count(*) FROM api_keys WHERE account_id = :id",
    "api logs": "SELECT count(*) FROM api_logs WHERE account_id = :id",
    "namespaces": "SELECT count(*) FROM namespaces WHERE id = :ns OR account_id = :id",
    "apps": "SELECT count(*) FROM apps WHERE namespace_id = :ns",
    "operations": "SELECT count(*) FROM operations WHERE namespace_id = :ns",
    "revisions": "SELECT count(*) FROM namespace_revisions WHERE namespace_id = :ns OR author_account_id = :id",
    "notifications": "SELECT count(*) FROM notifications WHERE account_id = :id",
    "billing link": "SELECT count(*) FROM billing_accounts WHERE account_id = :id",
    "idempotency records": "SELECT count(*) FROM idempotency_records WHERE account_id = :id",
}


def account_id_of(live: Live) -> uuid.UUID:
    with live.new_session() as session:
        key = session.query(ApiKey).order_by(ApiKey.created_at.desc()).first()
        assert key is not None
        return key.account_id


def give_phone_and_wallet(live: Live, account_id: uuid.UUID) -> None:
    with live.new_session() as session:
        account = session.get(Account, account_id)
        assert account is not None
        account.phone_hash = PHONE_HASH
        session.add(Wallet(account_id=account_id, address=WALLET))
        session.commit()


def give_billing_records(live: Live, account_id: uuid.UUID) -> None:
    with live.new_session() as session:
        credit(session, live.runtime.settings, account_id, 5_000_000, source=EntrySource.OPERATOR,
               idempotency_key="privacy-test", kind=EntryKind.ADJUSTMENT)  # fmt: skip
        notify(session, account_id, "test", "Hello", "A notification about you")
        session.commit()


def cookie_session(live: Live, account_id: uuid.UUID) -> dict[str, str]:
    """Signed in with a session cookie: what a person deleting their account uses."""
    with live.new_session() as session:
        account = session.get(Account, account_id)
        assert account is not None
        new = sessions.start_session(session, live.runtime.settings, account, replacing=None)
        session.commit()
    live.client.cookies.set(live.runtime.settings.session_cookie_name, new.token)
    return {"X-CSRF-Token": new.csrf_token}


def drain(live: Live, until: float = 20.0) -> None:
    """Run queued and scheduled jobs until none are left (retries and waits included)."""
    deadline = time.monotonic() + until
    while time.monotonic() < deadline and (live.queued() or live.scheduled()):
        live.work_scheduled(within_s=2)


def test_export_holds_everything_about_the_caller(live: Live) -> None:
    live.create()
    live.work()
    account_id = account_id_of(live)
    give_phone_and_wallet(live, account_id)
    give_billing_records(live, account_id)
    live.runtime.redis.flushdb()
    live.client.app.state.api_logs.flush()  # type: ignore[attr-defined]
    exported = live.client.get("/v1/account/export", headers=live.headers).json()
    assert exported["account"]["id"] == str(account_id)
    assert exported["account"]["phone_linked"] is True
    assert "keyed hash" in exported["account"]["phone_note"]
    assert PHONE_HASH.hex() not in str(exported)
    assert [w["address"] for w in exported["wallets"]] == [WALLET]
    assert [k["prefix"] for k in exported["api_keys"]] == [live.headers["Authorization"].split()[1][:16]]
    [namespace] = exported["namespaces"]
    assert namespace["apps"][0]["image"] == "ghcr.io/acme/web:1.2.3"
    [revision] = namespace["revisions"]
    assert (revision["generation"], revision["outcome"], revision["author"]["kind"]) == (1, "applied", "account")
    assert revision["config"]["apps"][0]["env"] == {"MODE": "production"}
    assert [op["kind"] for op in namespace["operations"]] == ["up"]
    assert any(log["route"] == "/v1/namespaces" for log in exported["api_logs"])
    assert [entry["amount"] for entry in exported["billing"]["ledger"]] == [FUNDS, 5_000_000]  # the test's, theirs
    assert exported["deposits"] == []
    assert [n["title"] for n in exported["notifications"]] == ["Hello"]
    assert "secret_hash" not in str(exported)


def test_configs_archive_has_every_namespace_and_its_revisions_in_the_config_format(live: Live) -> None:
    live.create("shop")
    live.create("blog")
    scaled = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 5}, headers=live.headers)
    assert scaled.status_code == 202
    response = live.client.get("/v1/account/configs", headers=live.headers)
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == [
        "blog.yaml", "revisions/blog/1.yaml", "revisions/shop/1.yaml", "revisions/shop/2.yaml", "shop.yaml",
    ]  # fmt: skip
    single = live.client.get("/v1/namespaces/shop/config", headers=live.headers).text
    assert yaml.safe_load(archive.read("shop.yaml")) == yaml.safe_load(single)
    first = live.client.get("/v1/namespaces/shop/config?generation=1", headers=live.headers).text
    assert yaml.safe_load(archive.read("revisions/shop/1.yaml")) == yaml.safe_load(first)
    assert yaml.safe_load(archive.read("revisions/shop/2.yaml")) == yaml.safe_load(single)


def test_deletion_needs_the_confirmation_and_a_person(live: Live) -> None:
    account_id = account_id_of(live)
    with_key = live.client.request("DELETE", "/v1/account", json={"confirm": "delete my account"}, headers=live.headers)
    assert with_key.json()["error"]["code"] == "recent_session_required"  # an API key cannot delete the account
    csrf = cookie_session(live, account_id)
    unconfirmed = live.client.request("DELETE", "/v1/account", json={"confirm": "yes"}, headers=csrf)
    assert unconfirmed.status_code == 422
    assert live.client.get("/v1/namespaces", headers=live.headers).status_code == 200  # nothing happened


def test_deletion_destroys_stacks_first_then_erases_and_keeps_no_link(live: Live, runtime: Runtime) -> None:
    live.create()
    asked = live.client.post("/v1/notifications/00000000-0000-0000-0000-000000000000/read",
                             headers={**live.headers, "Idempotency-Key": "mark-1"})  # fmt: skip
    assert asked.status_code == 404  # (a failed request keeps no record; the create below keeps one)
    kept = live.client.post("/v1/namespaces", json={"name": "blog", "apps": []},
                            headers={**live.headers, "Idempotency-Key": "blog-1"})  # fmt: skip
    assert kept.status_code == 202
    live.work()
    account_id = account_id_of(live)
    namespace_id = live.namespace("shop").id
    give_phone_and_wallet(live, account_id)
    give_billing_records(live, account_id)
    csrf = cookie_session(live, account_id)
    script(live.runtime.redis, "error")  # the first destroy fails: deletion must wait, not erase

    response = live.client.request("DELETE", "/v1/account", json={"confirm": "delete my account"}, headers=csrf)
    assert response.status_code == 202
    followed = response.json()
    assert followed["status"] == "destroying"
    assert live.client.get("/v1/namespaces", headers=live.headers).status_code == 401  # keys end at once
    with runtime.engine.connect() as conn:  # what they asked for goes at once, with their credentials
        left = conn.execute(text(LEFTOVERS["idempotency records"]), {"id": account_id}).scalar_one()
        assert left == 0

    live.work()  # the destroy fails; the deletion job sees the stack still there and waits
    waiting = live.client.get(followed["status_url"]).json()
    assert waiting["status"] == "destroying"
    assert waiting["namespaces_pending"] == 1
    with live.new_session() as session:
        assert session.get(Account, account_id) is not None  # nothing erased while infrastructure may run

    drain(live)
    done = live.client.get(followed["status_url"]).json()
    assert done["status"] == "completed"
    assert [c["kind"] for c in calls(live.runtime.redis)].count("destroy") == 3  # shop twice, blog once
    with runtime.engine.connect() as conn:
        for name, query in LEFTOVERS.items():
            count = conn.execute(text(query), {"id": account_id, "ns": namespace_id}).scalar_one()
            assert count == 0, f"{name} still holds the deleted account's rows"
        dump = conn.execute(text("SELECT string_agg(t::text, '') FROM accounts t")).scalar() or ""
        assert PHONE_HASH.hex() not in dump
        # Billing records stay for accounting, with no link to the person.
        kept = conn.execute(
            text("SELECT account_id FROM billing_ledger_entries WHERE idempotency_key = 'privacy-test'")
        )
        assert kept.scalars().all() == [None]
    with live.new_session() as session:
        assert session.query(Namespace).filter_by(name="shop").count() == 0


def test_an_unknown_deletion_id_is_a_404(live: Live) -> None:
    assert live.client.get(f"/v1/account-deletions/{uuid.uuid4()}").status_code == 404
