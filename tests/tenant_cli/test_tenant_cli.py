"""The tenant CLI against the real API over HTTP (uvicorn on a loopback port), with real commits and a worker.

Errors are the API's own message and code, on stderr, exit status 1, and never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from controlplane.accounts.models import ApiKey, AuthSession, Wallet
from controlplane.api.app import create_app
from controlplane.cli import app
from controlplane.devstack.chain import compile_token
from controlplane.devstack.evm_rpc import EvmRpc
from controlplane.devstack.fake_stripe import FakeStripe
from controlplane.devstack.fake_twilio import FakeTwilioVerify
from controlplane.settings import Settings
from controlplane.tenant_cli.commands import credits
from tests.support.chain import CONFIRMATIONS, Chain, deploy_chain
from tests.support.engine_double import calls, script
from tests.support.http_api import serving
from tests.support.live import APP, Live

runner = CliRunner()


@pytest.fixture(scope="module")
def stripe() -> Iterator[FakeStripe]:
    server = FakeStripe.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilioVerify]:
    server = FakeTwilioVerify.start()
    yield server
    server.stop()


@dataclasses.dataclass
class Tenant:
    live: Live
    url: str
    key: str
    config_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {"CONTROLPLANE_API_URL": self.url, "CONTROLPLANE_API_KEY": self.key,
                "CONTROLPLANE_CONFIG_DIR": str(self.config_dir), **extra}  # fmt: skip

    def run(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
        result = runner.invoke(app, list(args), env=self.env() if env is None else env, input=stdin)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        return result

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.exit_code == 0, result.output
        return result.stdout


@contextlib.contextmanager
def serving_tenant(
    live: Live, stripe: FakeStripe, twilio: FakeTwilioVerify, config_dir: Path, **settings: Any
) -> Iterator[Tenant]:
    """The API on a loopback port, with the vendors' stand-ins (and ``settings``), and the live account's key."""
    twilio.reset()
    vendors = {
        "stripe_api_key": SecretStr(stripe.api_key),
        "stripe_api_base": stripe.url,
        "twilio_account_sid": twilio.account_sid,
        "twilio_auth_token": SecretStr(twilio.auth_token),
        "twilio_verify_service_sid": twilio.service_sid,
        "twilio_verify_base_url": twilio.url,
    }
    served = live.runtime.settings.model_copy(update={**vendors, **settings})
    with serving(create_app(dataclasses.replace(live.runtime, settings=served))) as url:
        key = live.headers["Authorization"].removeprefix("Bearer ")
        yield Tenant(live, url, key, config_dir)


@pytest.fixture
def tenant(live: Live, stripe: FakeStripe, twilio: FakeTwilioVerify, tmp_path: Path) -> Iterator[Tenant]:
    with serving_tenant(live, stripe, twilio, tmp_path / "config") as served:
        yield served


def namespace_file(tmp_path: Path, **app_changes: Any) -> Path:
    path = tmp_path / "shop.yaml"
    document = {
        "apiVersion": "controlplane.io/v1",
        "kind": "Namespace",
        "name": "shop",
        "apps": [{**APP, **app_changes}],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_login_checks_the_key_and_stores_it_for_the_user_only(tenant: Tenant) -> None:
    bare = {"CONTROLPLANE_CONFIG_DIR": str(tenant.config_dir)}
    refused = tenant.run("login", "--api-url", tenant.url, "--api-key-stdin", env=bare, stdin="cpk_wrong_key\n")
    assert refused.exit_code == 1
    assert "error: missing or invalid credentials (unauthorized, HTTP 401)" in refused.stderr
    assert not tenant.config_dir.exists(), "a refused key is not stored"

    logged_in = tenant.run("login", "--api-url", tenant.url, "--api-key-stdin", env=bare, stdin=tenant.key + "\n")
    assert logged_in.exit_code == 0, logged_in.output
    assert tenant.key not in logged_in.output
    stored = tenant.config_dir / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(tenant.config_dir.stat().st_mode) == 0o700
    assert "balance: 100 credits" in tenant.run("balance", env=bare).stdout, "later commands use what was stored"


def test_login_by_phone_code_gets_a_key_and_keeps_no_session(tenant: Tenant, twilio: FakeTwilioVerify) -> None:
    bare = {"CONTROLPLANE_CONFIG_DIR": str(tenant.config_dir)}
    phone = "+14155552671"
    # The code is texted when the CLI asks; Twilio resends the pending one, so the test can know it beforehand.
    assert httpx.post(f"{tenant.url}/v1/auth/otp/start", json={"phone": phone}).status_code == 202
    code = twilio.code_for(phone)
    args = ("login", "--api-url", tenant.url, "--phone", phone)
    refused = tenant.run(*args, env=bare, stdin=code + "\n")
    assert refused.exit_code == 1, "a new account needs the age confirmation"
    assert "(age_confirmation_required, HTTP 422)" in refused.stderr

    assert httpx.post(f"{tenant.url}/v1/auth/otp/start", json={"phone": phone}).status_code == 202
    logged_in = tenant.run(*args, "--confirm-age-18", env=bare, stdin=twilio.code_for(phone) + "\n")
    assert logged_in.exit_code == 0, logged_in.output
    assert "logged in to" in logged_in.stdout
    assert "balance: 0 credits" in tenant.run("balance", env=bare).stdout
    with tenant.live.new_session() as session:
        assert session.scalar(select(func.count()).select_from(AuthSession)) == 0, "the sign-in's session ended"
        [key] = session.scalars(select(ApiKey).where(ApiKey.name.startswith("controlplane CLI on"))).all()
        assert sorted(key.scopes) == ["account:write", "api-keys:write", "billing:write", "namespaces:write"]


def test_not_logged_in_says_how_to(tenant: Tenant) -> None:
    result = tenant.run("list", env={"CONTROLPLANE_CONFIG_DIR": str(tenant.config_dir)})
    assert result.exit_code == 1
    assert "not logged in: run `controlplane login`" in result.stderr


def test_apply_creates_then_updates_and_the_reads_show_it(tenant: Tenant, tmp_path: Path) -> None:
    created = tenant.ok("apply", "-f", str(namespace_file(tmp_path)))
    assert "shop created: generation 1, pending" in created
    tenant.live.work()
    assert "shop: ready" in tenant.ok("get", "shop")
    assert "shop" in tenant.ok("list")
    assert "replicas: 2" in tenant.ok("get", "shop", "-o", "yaml")

    updated = tenant.ok("apply", "-f", str(namespace_file(tmp_path, replicas=4)))
    assert "shop updated: generation 2, pending" in updated
    tenant.live.work()
    assert tenant.live.namespace("shop").apps[0].replicas == 4
    assert tenant.ok("history", "shop").count("succeeded") == 2


def test_a_dry_run_shows_the_change_and_changes_nothing(tenant: Tenant, tmp_path: Path) -> None:
    tenant.ok("apply", "-f", str(namespace_file(tmp_path)))
    tenant.live.work()
    planned = tenant.ok("apply", "-f", str(namespace_file(tmp_path, replicas=5)), "--dry-run").splitlines()
    assert "-  replicas: 2" in planned
    assert "+  replicas: 5" in planned
    assert not [line for line in planned if line.startswith(("-", "+")) and "image" in line], "only what changed"
    hourly_cost = tenant.live.client.get("/v1/billing/balance", headers=tenant.live.headers).json()["hourly_cost"]
    [price] = [line for line in planned if line.startswith("price (whole account): ")]
    assert price.startswith(f"price (whole account): {credits(hourly_cost)} credits/hour now; ")
    assert "verdict: allowed (nothing was changed: this was a dry run)" in planned
    assert any(line.startswith("runway after: ") for line in planned)
    assert tenant.live.namespace("shop").generation == 1, "a dry run stores nothing"
    tenant.ok("apply", "-f", str(namespace_file(tmp_path, replicas=5)))
    applied = tenant.live.client.get("/v1/billing/balance", headers=tenant.live.headers).json()["hourly_cost"]
    assert price.endswith(f"; {credits(applied)} after"), "the price the dry run showed is the price it became"
    assert applied > hourly_cost

    same = tenant.ok("apply", "-f", str(namespace_file(tmp_path, replicas=5)), "--dry-run")
    assert "shop: no changes" in same
    new = tenant.ok("apply", "-f", str(namespace_file(tmp_path, replicas=5).rename(tmp_path / "other.yaml")),
                    "--dry-run")  # fmt: skip
    assert "shop: no changes" in new


def test_a_dry_run_the_balance_cannot_cover_says_so_and_fails(tenant: Tenant, tmp_path: Path) -> None:
    broke = tenant.live.new_key(credits=0)["Authorization"].removeprefix("Bearer ")
    env = tenant.env(CONTROLPLANE_API_KEY=broke)
    planned = tenant.run("apply", "-f", str(namespace_file(tmp_path)), "--dry-run", env=env)
    assert planned.exit_code == 1
    assert "shop: would be created" in planned.stdout
    assert "verdict: refused" in planned.stdout
    assert "(insufficient_credits)" in planned.stdout
    assert tenant.run("get", "shop", env=env).exit_code == 1, "nothing was created"


def test_errors_are_the_apis_message_and_code(tenant: Tenant, tmp_path: Path) -> None:
    missing = tenant.run("get", "nope")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: no namespace named 'nope' (not_found, HTTP 404)"

    refused = tenant.run("apply", "-f", str(namespace_file(tmp_path, image="ghcr.io/acme/web:latest")))
    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [  # found before asking the API: the file is checked against its schema
        "error: the file does not match the configuration's shape (validation_error)",
        "  apps.0.image: image 'ghcr.io/acme/web:latest' uses the 'latest' tag: pin a version tag or a sha256 digest",
    ]

    badly_shaped = tenant.run("apply", "-f", str(namespace_file(tmp_path, replicas="many")))
    assert badly_shaped.exit_code == 1
    assert "(validation_error)" in badly_shaped.stderr
    assert "apps.0.replicas" in badly_shaped.stderr

    not_yaml = tmp_path / "broken.yaml"
    not_yaml.write_text("name: [unclosed\n")
    broken = tenant.run("apply", "-f", str(not_yaml))
    assert broken.exit_code == 1
    assert "is not valid YAML" in broken.stderr

    unreachable = tenant.run("list", env=tenant.env(CONTROLPLANE_API_URL="http://127.0.0.1:9"))
    assert unreachable.exit_code == 1
    assert "cannot reach the API at http://127.0.0.1:9" in unreachable.stderr

    bad_amount = tenant.run("top-up", "12.345")
    assert bad_amount.exit_code == 1
    assert "at most two decimals" in bad_amount.stderr


def test_no_traceback_in_a_real_process(tenant: Tenant) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "controlplane", "history", "nope"],
        env={**os.environ, **tenant.env()}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == "error: no namespace named 'nope' (not_found, HTTP 404)"
    assert done.stdout == ""


def test_top_up_prints_the_payment_page_and_balance_shows_credits(tenant: Tenant, stripe: FakeStripe) -> None:
    printed = tenant.ok("top-up", "25.50")
    assert "pay 25.50 USD for 25.5 credits at:" in printed
    [session_id] = stripe.sessions
    assert printed.splitlines()[-1] == f"https://checkout.stripe.com/c/pay/{session_id}"
    assert stripe.creates()[-1].form["line_items[0][price_data][unit_amount]"] == "2550"
    assert "balance: 100 credits" in tenant.ok("balance")  # the test account starts with 100 (tests.support.live)


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[None]:
    """A real worker process (the engine double), so that --wait sees runs happen while it waits."""
    assert os.environ["DATABASE_URL"] == settings.database_url  # the suite's servers, set by the settings fixture
    env = {**os.environ, "CONTROLPLANE_ENGINE": "tests.support.engine_double:RecordingEngine"}
    process = subprocess.Popen([sys.executable, "-m", "controlplane", "worker"], env=env)
    yield
    process.terminate()
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:  # an idle worker may sit in its blocking dequeue a while longer
        process.kill()
        process.wait()


@pytest.mark.usefixtures("worker")
def test_wait_follows_the_run_until_ready_and_the_destroy_until_gone(tenant: Tenant, tmp_path: Path) -> None:
    applied = tenant.ok("apply", "-f", str(namespace_file(tmp_path)), "--wait", "--timeout", "60")
    assert "  summary: 6 create" in applied.splitlines(), "the run's event stream is shown"
    assert applied.splitlines()[-1] == "shop is ready (generation 1)"

    deleted = tenant.ok("delete", "shop", "--wait", "--timeout", "60")
    assert deleted.startswith("shop deleted: its stack is being destroyed in the background (generation 2)")
    assert deleted.splitlines()[-1] == "shop is gone: its stack was destroyed"
    assert [call["kind"] for call in calls(tenant.live.runtime.redis)] == ["up", "destroy"]
    assert tenant.run("get", "shop").exit_code == 1


@pytest.mark.usefixtures("worker")
def test_wait_fails_with_the_reason_when_the_run_fails(tenant: Tenant, tmp_path: Path) -> None:
    script(tenant.live.runtime.redis, "policy")
    failed = tenant.run("apply", "-f", str(namespace_file(tmp_path)), "--wait", "--timeout", "60")
    assert failed.exit_code == 1
    assert "error: shop stalled: refused by policy: pinned-image-tags" in failed.stderr


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    rpc = EvmRpc.start()
    try:
        yield deploy_chain(rpc, compile_token())
    finally:
        rpc.stop()


def test_deposit_says_where_to_send_tokens_then_credits_a_transfer(
    live: Live, stripe: FakeStripe, twilio: FakeTwilioVerify, chain: Chain, tmp_path: Path
) -> None:
    with serving_tenant(live, stripe, twilio, tmp_path / "config") as unconfigured:
        refused = unconfigured.run("deposit")
        assert refused.exit_code == 1
        assert "(deposits_unavailable, HTTP 503)" in refused.stderr

    with serving_tenant(live, stripe, twilio, tmp_path / "config", **chain.deposit_settings()) as tenant:
        shown = tenant.ok("deposit")
        assert f"on chain {chain.rpc.chain_id} to {chain.deposit_address}" in shown
        assert f"TUSD ({chain.token.address}): one token buys 1 credits" in shown
        assert "no wallet is linked to your account" in shown
        assert f"(credited once the transfer has {CONFIRMATIONS} confirmations)" in shown

        account_id = live.client.get("/v1/account", headers=live.headers).json()["id"]
        with live.new_session() as session:
            session.add(Wallet(account_id=uuid.UUID(account_id), address=chain.holder))
            session.commit()
        assert f"from a wallet linked to your account: {chain.holder}" in tenant.ok("deposit")

        waiting = chain.transfer(chain.holder, chain.deposit_address, 7 * 10**6)
        assert f"TUSD from {chain.holder}: pending, 1 of {CONFIRMATIONS} confirmations: 7 credits once confirmed" in (
            tenant.ok("deposit", waiting)
        )
        confirmed = chain.transfer(chain.holder, chain.deposit_address, 25 * 10**6 + 500_000)
        chain.mine(CONFIRMATIONS - 1)
        assert f"TUSD from {chain.holder}: credited 25.5 credits" in tenant.ok("deposit", confirmed)
        assert "balance: 125.5 credits" in tenant.ok("balance")  # 100 to start with (tests.support.live)

        not_a_hash = tenant.run("deposit", "0x12")
        assert not_a_hash.exit_code == 1
        assert "tx_hash" in not_a_hash.stderr
