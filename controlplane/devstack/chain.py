"""The development chain: an in-process EVM on a local JSON-RPC URL, a test ERC-20 for deposits, and a faucet.

The platform reaches it exactly as it reaches a real node (``deposit_rpc_url``, web3's HTTP provider). The token is
``contracts/token.vy``, compiled when the chain starts (the same source the test suite deploys). A block is mined
for every transaction, then one more per ``block_time_s`` until the transaction has the confirmations deposits ask
for, so a deposit is credited seconds after it is sent and the chain sits still otherwise.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from web3.contract import Contract

    from controlplane.devstack.evm_rpc import EvmRpc

TOKEN_SOURCE = Path(__file__).parent / "contracts" / "token.vy"
TOKEN_NAME, TOKEN_SYMBOL, TOKEN_DECIMALS = "Dev Dollar", "DUSD", 6
FAUCET_ETHER_WEI = 10**18  # enough gas for many transfers
_DEV_EXTRA_HINT = "the development chain needs the dev extra: pip install -e '.[dev]' (./scripts/dev does it)"


class DevChainUnavailable(RuntimeError):
    """eth-tester, py-evm or vyper is not installed."""


def compile_token() -> dict[str, Any]:
    """ABI and bytecode of the test ERC-20 (about 0.2 s)."""
    try:
        import vyper
    except ImportError as exc:
        raise DevChainUnavailable(_DEV_EXTRA_HINT) from exc
    compiled: dict[str, Any] = vyper.compile_code(TOKEN_SOURCE.read_text(), output_formats=["abi", "bytecode"])
    return compiled


@dataclass(frozen=True)
class FaucetDrop:
    tokens_raw: int
    ether_wei: int
    transactions: list[str]


class DevChain:
    def __init__(self, rpc: EvmRpc, token: Contract, confirmations: int, block_time_s: float) -> None:
        self.rpc = rpc
        self.token = token
        self.confirmations = confirmations
        self.block_time_s = block_time_s
        self.minter, self.deposit_address = rpc.funded_accounts[:2]
        self._blocks_due = 0
        self._wake = threading.Condition()
        self._stopping = False
        self._miner = threading.Thread(target=self._mine, name="dev-chain-miner", daemon=True)

    @classmethod
    def start(cls, confirmations: int, block_time_s: float = 1.0) -> DevChain:
        try:
            from controlplane.devstack.evm_rpc import EvmRpc
        except ImportError as exc:
            raise DevChainUnavailable(_DEV_EXTRA_HINT) from exc
        compiled = compile_token()
        rpc = EvmRpc.start()
        token = rpc.deploy(compiled["abi"], compiled["bytecode"], TOKEN_NAME, TOKEN_SYMBOL, TOKEN_DECIMALS)
        chain = cls(rpc, token, confirmations, block_time_s)
        rpc.after_transaction = chain._transaction_sent
        chain._miner.start()
        return chain

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._miner.join(timeout=5)
        self.rpc.stop()

    @property
    def url(self) -> str:
        return self.rpc.url

    @property
    def chain_id(self) -> int:
        return self.rpc.chain_id

    @property
    def token_address(self) -> str:
        return str(self.token.address)

    def faucet(self, address: str, tokens: int) -> FaucetDrop:
        """Mint ``tokens`` whole tokens to ``address`` and send it ether for gas."""
        raw = tokens * 10**TOKEN_DECIMALS
        w3 = self.rpc.w3
        minted = self.token.functions.mint(address, raw).transact({"from": self.minter})
        funded = w3.eth.send_transaction({"from": self.minter, "to": address, "value": FAUCET_ETHER_WEI})  # type: ignore[typeddict-item]
        for tx_hash in (minted, funded):
            w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
        return FaucetDrop(raw, FAUCET_ETHER_WEI, ["0x" + bytes(tx).hex() for tx in (minted, funded)])

    # --- mining ---------------------------------------------------------------------------------------------

    def _transaction_sent(self) -> None:
        with self._wake:
            self._blocks_due = max(self._blocks_due, self.confirmations)
            self._wake.notify()

    def _mine(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._stopping or self._blocks_due > 0)
                if self._stopping:
                    return
                self._wake.wait(self.block_time_s)  # one block per block time
                if self._stopping:
                    return
                self._blocks_due -= 1
            with self.rpc.lock:
                self.rpc.eth_tester.mine_blocks(1)
