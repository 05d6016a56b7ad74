"""The whole story on one machine, with no outside account: ``controlplane dev`` and a person using it over HTTP
and the tenant CLI only.

Sign in with a phone code (read from the dev stand-in), create a key, log the CLI in, ``apply --wait`` a two-app
namespace to ready with the real engine (manifests rendered under the data folder), top up through the local
checkout page (its Pay button), link a wallet with SIWE, get tokens from the faucet, deposit them, export the
account and delete it. Nothing here touches the database or the project's code directly.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from eth_account import Account as EthAccount
from web3 import HTTPProvider, Web3

from tests.accounts.helpers import sign, siwe_message
from tests.support.dev_server import TOOLS, DevServer, Person, base_env, running_dev, wait_for

ERC20_TRANSFER_ABI = [
    {
        "name": "transfer",
        "type": "function",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "receiver", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    }
]
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "namespace.yaml"  # the README's


class Cli:
    """The tenant CLI, as a person runs it in the project folder."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env

    def __call__(self, *args: str, stdin: str | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "controlplane", *args],
            cwd=self.cwd, env=self.env, input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip

    def ok(self, *args: str, stdin: str | None = None, timeout_s: float = 60) -> str:
        done = self(*args, stdin=stdin, timeout_s=timeout_s)
        assert done.returncode == 0, f"controlplane {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr
        return done.stdout


def balance(client: httpx.Client) -> int:
    value: int = client.get("/v1/billing/balance").json()["balance"]
    return value


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not on PATH: run scripts/install-tools"
        if os.environ.get("CONTROLPLANE_REQUIRE_ENGINE") == "1":
            pytest.fail(message)
        pytest.skip(message)


def test_the_whole_story_on_one_machine(tmp_path: Path) -> None:
    require_tools()
    started = time.monotonic()
    env = base_env(CONTROLPLANE_CONFIG_DIR=str(tmp_path / "config"), CONTROLPLANE_RETRY_BASE_DELAY_S="1")
    cli = Cli(tmp_path, env)
    with running_dev(tmp_path, env) as dev, httpx.Client(base_url=dev.url, timeout=30) as browser:
        person = Person(browser)
        person.sign_in_by_phone("+14155552671")
        key = person.create_key(["account:read", "api-keys:read", "billing:write", "namespaces:write"])

        logged_in = cli.ok("login", "--api-url", dev.url, "--api-key-stdin", stdin=key + "\n")
        assert key not in logged_in, "the key is never printed"
        [stored] = (tmp_path / "config").rglob("credentials*")
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600

        top_up(cli, browser, person)  # credits are prepaid: a deploy that the balance cannot cover is refused (402)
        deploy(cli, dev, tmp_path)
        deposit(browser, person)

        exported = browser.get("/v1/account/export")
        assert exported.status_code == 200, exported.text
        document = exported.json()
        assert [namespace["name"] for namespace in document["namespaces"]] == ["shop"]
        assert {entry["source"] for entry in document["billing"]["ledger"]} >= {"stripe_checkout", "onchain_deposit"}
        assert [deposit["status"] for deposit in document["deposits"]] == ["credited"]

        deleted = browser.request("DELETE", "/v1/account", json={"confirm": "delete my account"}, headers=person.writes)
        assert deleted.status_code == 202, deleted.text
        status_url = deleted.json()["status_url"]
        wait_for(
            "the account deletion to complete",
            lambda: browser.get(status_url).json()["status"] == "completed",
            timeout_s=90,
        )
        refused = cli("balance")
        assert refused.returncode == 1
        assert "unauthorized" in refused.stderr
        assert "Traceback" not in refused.stderr
    print(f"\nthe whole story took {time.monotonic() - started:.1f} s")


def deploy(cli: Cli, dev: DevServer, tmp_path: Path) -> None:
    """``apply --wait`` the two-app namespace to ready with the real engine, then look at it with the CLI."""
    namespace = yaml.safe_load(EXAMPLE.read_text())
    assert [app["name"] for app in namespace["apps"]] == ["web", "api"]
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(EXAMPLE.read_text())
    applied = cli.ok("apply", "-f", str(manifest), "--wait", timeout_s=240)
    assert "ready" in applied
    shown = cli.ok("get", "shop")
    assert "ready" in shown
    assert "web" in shown
    assert "api" in shown
    assert "shop" in cli.ok("list")
    assert "up" in cli.ok("history", "shop")
    rendered = sorted(path.name for path in (dev.data_dir / "rendered").rglob("*deployment*.yaml"))
    assert len(rendered) == 2, rendered

    namespace["apps"][0]["replicas"] = 3
    manifest.write_text(yaml.safe_dump(namespace, sort_keys=False))
    planned = cli.ok("apply", "-f", str(manifest), "--dry-run").splitlines()
    assert [line for line in planned if line.startswith("-") and line.strip().endswith("replicas: 2")]
    assert [line for line in planned if line.startswith("+") and line.strip().endswith("replicas: 3")]
    assert cli.ok("get", "shop", "-o", "yaml").count("replicas: 2") == 1, "a dry run changes nothing"


def top_up(cli: Cli, browser: httpx.Client, person: Person) -> None:
    """``top-up`` prints the checkout page; its Pay button completes the payment and Stripe's webhook credits it."""
    before = balance(browser)
    printed = cli.ok("top-up", "25")
    [url] = [word for word in printed.split() if word.startswith("http")]
    person.pay(url)
    wait_for("the card top-up to be credited", lambda: balance(browser) == before + 25 * 1_000_000, timeout_s=20)
    assert "25" in cli.ok("balance")


def deposit(browser: httpx.Client, person: Person) -> None:
    """Link a wallet by SIWE, take tokens from the faucet, send them to the deposit address, submit the hash."""
    wallet = EthAccount.create()
    not_yet = browser.post("/v1/dev/faucet", json={"address": wallet.address}, headers=person.writes)
    assert not_yet.status_code == 403, "the faucet sends only to a wallet linked to the caller's account"
    assert not_yet.json()["error"]["code"] == "wallet_not_linked"
    nonce = browser.get("/v1/auth/siwe/nonce").json()
    message = siwe_message(wallet.address, nonce["nonce"], domain=nonce["domain"], uri=nonce["uri"])
    linked = browser.post(
        "/v1/account/wallets", json={"message": message, "signature": sign(wallet, message)}, headers=person.writes
    )
    assert linked.status_code == 200, linked.text

    faucet = browser.post("/v1/dev/faucet", json={"address": wallet.address}, headers=person.writes)
    assert faucet.status_code == 200, faucet.text
    chain: dict[str, Any] = faucet.json()
    # Where to send them, as any tenant learns it (the faucet is development only).
    told = browser.get("/v1/billing/deposits/instructions")
    assert told.status_code == 200, told.text
    instructions = told.json()
    assert (instructions["deposit_address"], instructions["chain_id"]) == (chain["deposit_address"], chain["chain_id"])
    assert instructions["linked_wallets"] == [wallet.address]
    [accepted] = instructions["tokens"]
    w3 = Web3(HTTPProvider(chain["rpc_url"], request_kwargs={"timeout": 30}))
    token = w3.eth.contract(address=accepted["address"], abi=ERC20_TRANSFER_ABI)
    amount = 10 * 10 ** accepted["decimals"]
    transaction = token.functions.transfer(instructions["deposit_address"], amount).build_transaction(
        {"from": wallet.address, "nonce": w3.eth.get_transaction_count(wallet.address),
         "chainId": instructions["chain_id"]}
    )  # fmt: skip
    tx_hash = w3.eth.send_raw_transaction(wallet.sign_transaction(transaction).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"] == 1

    before = balance(browser)
    submitted = browser.post("/v1/billing/deposits", json={"tx_hash": "0x" + bytes(tx_hash).hex()},
                             headers=person.writes)  # fmt: skip
    assert submitted.status_code == 201, submitted.text
    credited = wait_for(
        "the deposit to be confirmed and credited",
        lambda: browser.get("/v1/billing/deposits").json()["items"][0]["status"] == "credited",
        timeout_s=60,
    )
    assert credited
    assert balance(browser) == before + 10 * chain["token"]["micro_credits_per_token"]
