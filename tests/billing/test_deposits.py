"""On-chain deposits, verified with web3 against a real EVM (eth-tester with py-evm behind a JSON-RPC URL) and an
ERC-20 token written in Vyper and compiled by the test."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.accounts.models import Wallet
from controlplane.accounts.service import create_account
from controlplane.billing import deposits
from controlplane.billing.models import Deposit, LedgerEntry
from controlplane.errors import AppError
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from tests.billing.conftest import Customer, link_wallet
from tests.billing.helpers import balance_row, entries
from tests.support.chain import CONFIRMATIONS, DECIMALS, MICRO_PER_TOKEN, Chain

TOKENS = 10**6  # base units per whole token (6 decimals)


def submit(client: TestClient, customer: Customer, tx_hash: str) -> Any:
    return client.post("/v1/billing/deposits", json={"tx_hash": tx_hash}, headers=customer.headers)


def error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


@pytest.fixture
def depositor(db: Session, customer: Customer, chain: Chain) -> Customer:
    link_wallet(db, customer.id, chain.holder)
    return customer


def test_a_confirmed_deposit_is_credited(client: TestClient, db: Session, chain: Chain, depositor: Customer) -> None:
    tx_hash = chain.transfer(chain.holder, chain.deposit_address, 25 * TOKENS + 500_000)  # 25.5 tokens
    chain.mine(CONFIRMATIONS - 1)
    response = submit(client, depositor, tx_hash)
    assert response.status_code == 201, response.text
    [deposit] = response.json()["items"]
    assert deposit["status"] == "credited"
    assert deposit["tx_hash"] == tx_hash
    assert deposit["wallet_address"] == chain.holder
    assert deposit["token_symbol"] == "TUSD"
    assert deposit["token_address"] == chain.token.address
    assert (deposit["amount_raw"], deposit["credits"]) == ("25500000", 25_500_000)
    assert deposit["confirmations"] >= CONFIRMATIONS
    [entry] = entries(db, depositor.id)
    assert (entry.kind, entry.source, entry.amount) == ("top_up", "onchain_deposit", 25_500_000)
    assert entry.idempotency_key == f"deposit:{chain.rpc.chain_id}:{tx_hash}:{deposit['log_index']}"
    listed = client.get("/v1/billing/deposits", headers=depositor.headers).json()["items"]
    assert [item["id"] for item in listed] == [deposit["id"]]
    assert client.get("/v1/billing/balance", headers=depositor.headers).json()["balance"] == 25_500_000


def test_a_deposit_waits_for_its_confirmations_then_the_recheck_credits_it(
    client: TestClient, db: Session, chain: Chain, depositor: Customer, billing_settings: Settings
) -> None:
    tx_hash = chain.transfer(chain.holder, chain.deposit_address, 7 * TOKENS)
    response = submit(client, depositor, tx_hash)
    assert response.status_code == 201
    [deposit] = response.json()["items"]
    assert (deposit["status"], deposit["confirmations"], deposit["required_confirmations"]) == ("pending", 1, 3)
    assert entries(db, depositor.id) == []
    assert deposits.recheck_pending(db, billing_settings) == 0  # still one block deep
    chain.mine(1)
    assert deposits.recheck_pending(db, billing_settings) == 0
    chain.mine(1)
    assert deposits.recheck_pending(db, billing_settings) == 1
    assert deposits.recheck_pending(db, billing_settings) == 0  # nothing left to do
    stored = db.scalars(select(Deposit).where(Deposit.tx_hash == tx_hash)).one()
    assert (stored.status, stored.confirmations) == ("credited", 3)
    assert balance_row(db, depositor.id).balance == 7_000_000
    # Submitting it again now answers the recorded deposit without crediting again.
    again = submit(client, depositor, tx_hash)
    assert again.status_code == 200
    assert again.json()["items"][0]["status"] == "credited"
    assert balance_row(db, depositor.id).balance == 7_000_000


def test_a_token_that_is_not_accepted_is_refused(
    client: TestClient, db: Session, chain: Chain, depositor: Customer
) -> None:
    tx_hash = chain.transfer(chain.holder, chain.deposit_address, 5 * TOKENS, token=chain.other_token)
    chain.mine(CONFIRMATIONS)
    response = submit(client, depositor, tx_hash)
    assert response.status_code == 422
    assert error_code(response) == "token_not_accepted"
    assert db.scalars(select(Deposit).where(Deposit.tx_hash == tx_hash)).all() == []


def test_tokens_sent_elsewhere_are_refused(client: TestClient, chain: Chain, depositor: Customer) -> None:
    tx_hash = chain.transfer(chain.holder, chain.stranger, 5 * TOKENS)
    chain.mine(CONFIRMATIONS)
    response = submit(client, depositor, tx_hash)
    assert response.status_code == 422
    assert error_code(response) == "wrong_recipient"


def test_a_reverted_transaction_is_refused(client: TestClient, db: Session, chain: Chain, depositor: Customer) -> None:
    balance = chain.token.functions.balanceOf(chain.holder).call()
    tx_hash = chain.transfer(chain.holder, chain.deposit_address, balance + 1, gas=200_000)  # more than it holds
    assert chain.rpc.w3.eth.get_transaction_receipt(tx_hash)["status"] == 0  # type: ignore[arg-type]
    chain.mine(CONFIRMATIONS)
    response = submit(client, depositor, tx_hash)
    assert response.status_code == 422
    assert error_code(response) == "transaction_failed"
    assert entries(db, depositor.id) == []


def test_a_transfer_from_a_wallet_not_linked_to_the_caller_is_refused(
    client: TestClient, db: Session, chain: Chain, depositor: Customer, make_customer: Callable[..., Customer]
) -> None:
    tx_hash = chain.transfer(chain.stranger, chain.deposit_address, 3 * TOKENS)
    chain.mine(CONFIRMATIONS)
    response = submit(client, depositor, tx_hash)
    assert response.status_code == 403
    assert error_code(response) == "wallet_not_linked"
    # Its owner, once the wallet is linked to their account, is credited.
    owner = make_customer()
    link_wallet(db, owner.id, chain.stranger)
    assert submit(client, owner, tx_hash).status_code == 201
    assert balance_row(db, owner.id).balance == 3_000_000
    assert entries(db, depositor.id) == []


def test_unknown_and_malformed_hashes(client: TestClient, depositor: Customer) -> None:
    unknown = submit(client, depositor, "0x" + "ab" * 32)
    assert unknown.status_code == 404
    assert error_code(unknown) == "transaction_not_found"
    for bad in ("0x1234", "ab" * 32, "0x" + "zz" * 32):
        assert submit(client, depositor, bad).status_code == 422


def test_deposits_are_unavailable_until_configured(app_client: TestClient, customer: Customer) -> None:
    response = submit(app_client, customer, "0x" + "ab" * 32)
    assert response.status_code == 503
    assert error_code(response) == "deposits_unavailable"


def test_the_same_transaction_submitted_twice_is_credited_once(
    client: TestClient, db: Session, chain: Chain, depositor: Customer
) -> None:
    tx_hash = chain.transfer(chain.holder, chain.deposit_address, 2 * TOKENS)
    chain.mine(CONFIRMATIONS)
    first = submit(client, depositor, tx_hash)
    second = submit(client, depositor, tx_hash.upper().replace("0X", "0x"))  # the same hash, in capitals
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["items"][0]["id"] == second.json()["items"][0]["id"]
    assert balance_row(db, depositor.id).balance == 2_000_000
    assert len(entries(db, depositor.id)) == 1


def test_concurrent_submissions_of_one_transaction_credit_it_once(
    runtime: Runtime, committed: Callable[[], Session], chain: Chain, billing_settings: Settings
) -> None:
    with committed() as session:
        account_id = create_account(session).id
        session.add(Wallet(account_id=account_id, address=chain.holder))
        session.commit()
    tx_hash = chain.transfer(chain.holder, chain.deposit_address, 4 * TOKENS)
    chain.mine(CONFIRMATIONS)
    start = threading.Barrier(8)

    def race(_: int) -> str:
        start.wait()
        try:
            with runtime.transaction() as session:
                submitted = deposits.submit(session, billing_settings, account_id, tx_hash)
                return "created" if submitted.created else "found"
        except AppError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        answers = sorted(pool.map(race, range(8)))
    assert answers == ["created"] + ["found"] * 7
    with runtime.new_session() as session:
        assert session.scalar(select(func.count()).select_from(Deposit).where(Deposit.tx_hash == tx_hash)) == 1
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
        assert balance_row(session, account_id).balance == 4_000_000


def test_submissions_are_rate_limited_per_account(
    client: TestClient, runtime: Runtime, billing_settings: Settings, depositor: Customer
) -> None:
    client.app.state.runtime = dataclasses.replace(  # type: ignore[attr-defined]
        runtime, settings=billing_settings.model_copy(update={"deposit_submissions_per_hour": 2})
    )
    answers = [submit(client, depositor, "0x" + f"{index:064x}").status_code for index in range(3)]
    assert answers == [404, 404, 429]


def instructions(client: TestClient, customer: Customer) -> Any:
    return client.get("/v1/billing/deposits/instructions", headers=customer.headers)


def test_a_tenant_learns_where_to_send_tokens_and_from_which_wallets(
    client: TestClient, chain: Chain, depositor: Customer, make_customer: Callable[..., Customer]
) -> None:
    response = instructions(client, depositor)
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["chain_id"] == chain.rpc.chain_id
    assert shown["deposit_address"] == chain.deposit_address
    # Only the accepted token: the other one on the chain buys nothing.
    assert shown["tokens"] == [
        {"symbol": "TUSD", "address": chain.token.address, "decimals": DECIMALS,
         "micro_credits_per_token": MICRO_PER_TOKEN}
    ]  # fmt: skip
    assert shown["required_confirmations"] == CONFIRMATIONS
    assert shown["linked_wallets"] == [chain.holder]
    assert shown["submit_to"] == "POST /v1/billing/deposits"
    assert instructions(client, make_customer()).json()["linked_wallets"] == []  # another account's wallets: its own


def test_deposit_instructions_need_billing_read(client: TestClient, make_customer: Callable[..., Customer]) -> None:
    response = instructions(client, make_customer(["namespaces:read"]))
    assert response.status_code == 403
    assert instructions(client, make_customer(["billing:read"])).status_code == 200


def test_deposit_instructions_are_unavailable_until_configured(app_client: TestClient, customer: Customer) -> None:
    response = instructions(app_client, customer)
    assert response.status_code == 503
    assert error_code(response) == "deposits_unavailable"
