"""An in-process EVM (eth-tester with py-evm behind a JSON-RPC URL) with two ERC-20 tokens (the dev chain's Vyper
source, compiled by the test), funded holders and a deposit address: what deposit tests send tokens on."""

from __future__ import annotations

import dataclasses
from typing import Any

from web3.contract import Contract

from controlplane.devstack.evm_rpc import EvmRpc
from controlplane.settings import DepositToken

DECIMALS = 6
MICRO_PER_TOKEN = 1_000_000  # one token buys one credit
CONFIRMATIONS = 3


@dataclasses.dataclass(frozen=True)
class Chain:
    rpc: EvmRpc
    token: Contract  # accepted for deposits
    other_token: Contract  # not accepted
    deposit_address: str
    holder: str  # a funded account holding both tokens
    stranger: str  # another funded account holding both tokens

    def transfer(
        self, sender: str, to: str, amount: int, *, token: Contract | None = None, gas: int | None = None
    ) -> str:
        tx: dict[str, Any] = {"from": sender}
        if gas is not None:
            tx["gas"] = gas  # no estimate: a failing call is mined (and reverted) instead of refused
        tx_hash = (token or self.token).functions.transfer(to, amount).transact(tx)  # type: ignore[arg-type]
        self.rpc.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
        return "0x" + bytes(tx_hash).hex()

    def mine(self, blocks: int) -> None:
        with self.rpc.lock:
            self.rpc.eth_tester.mine_blocks(blocks)

    def deposit_settings(self) -> dict[str, Any]:
        """Settings that accept ``token`` (one credit per token) sent to ``deposit_address``."""
        accepted = DepositToken(
            address=self.token.address, symbol="TUSD", decimals=DECIMALS, micro_credits_per_token=MICRO_PER_TOKEN
        )
        return {
            "deposit_chain_id": self.rpc.chain_id,
            "deposit_rpc_url": self.rpc.url,
            "deposit_rpc_timeout_s": 10.0,
            "deposit_address": self.deposit_address,
            "deposit_tokens": [accepted],
            "deposit_confirmations": CONFIRMATIONS,
        }


def deploy_chain(evm: EvmRpc, token_code: dict[str, Any]) -> Chain:
    token = evm.deploy(token_code["abi"], token_code["bytecode"], "Test Dollar", "TUSD", DECIMALS)
    other = evm.deploy(token_code["abi"], token_code["bytecode"], "Other Coin", "OTHR", DECIMALS)
    owner, holder, stranger, deposit_address = evm.funded_accounts[:4]
    for contract in (token, other):
        for receiver in (holder, stranger):
            tx = contract.functions.mint(receiver, 10**6 * 10**DECIMALS).transact({"from": owner})
            evm.w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.05)
    return Chain(evm, token, other, deposit_address, holder, stranger)
