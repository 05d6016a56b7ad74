"""Reading deposits from the chain with web3: a transaction's receipt, its ERC-20 ``Transfer`` logs, the head.

The platform talks to an Ethereum JSON-RPC URL (``deposit_rpc_url``) and checks once that the node serves the
configured chain. Every failure to reach the node becomes :class:`UpstreamError` (502).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import requests
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3.exceptions import TransactionNotFound, Web3Exception

from controlplane.errors import ServiceUnavailable, UpstreamError
from controlplane.settings import DepositToken, Settings

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


@dataclass(frozen=True)
class DepositConfig:
    chain_id: int
    rpc_url: str
    address: str  # EIP-55
    tokens: dict[str, DepositToken]  # by EIP-55 address
    confirmations: int
    timeout_s: float


def deposit_config(settings: Settings) -> DepositConfig:
    chain_id, rpc_url, address = settings.deposit_chain_id, settings.deposit_rpc_url, settings.deposit_address
    if chain_id is None or rpc_url is None or address is None:
        named = {"CHAIN_ID": chain_id, "RPC_URL": rpc_url, "ADDRESS": address}
        missing = ", ".join(f"CONTROLPLANE_DEPOSIT_{name}" for name, value in named.items() if value is None)
        raise ServiceUnavailable(
            f"on-chain deposits are not configured on this server: set {missing}", code="deposits_unavailable"
        )
    return DepositConfig(
        chain_id=chain_id,
        rpc_url=rpc_url,
        address=Web3.to_checksum_address(address),
        tokens={Web3.to_checksum_address(token.address): token for token in settings.deposit_tokens},
        confirmations=settings.deposit_confirmations,
        timeout_s=settings.deposit_rpc_timeout_s,
    )


class NotMined(StrEnum):
    UNKNOWN = "unknown"  # the node does not know the transaction
    PENDING = "pending"  # it waits in the mempool


@dataclass(frozen=True)
class Transfer:
    """One ERC-20 ``Transfer(from, to, value)`` log."""

    log_index: int
    token: str  # the emitting contract, EIP-55
    sender: str
    recipient: str
    amount: int


@dataclass(frozen=True)
class MinedTransaction:
    tx_hash: str
    succeeded: bool
    block_number: int
    block_hash: str
    transfers: list[Transfer]


class Chain:
    def __init__(self, config: DepositConfig) -> None:
        self.config = config
        self.w3 = Web3(HTTPProvider(config.rpc_url, request_kwargs={"timeout": config.timeout_s}))
        self._chain_checked = False

    def lookup(self, tx_hash: str) -> MinedTransaction | NotMined:
        """The mined transaction with its receipt, or why there is none (unknown, or waiting in the mempool)."""
        self._check_chain()
        try:
            tx = self._call(self.w3.eth.get_transaction, tx_hash)
        except TransactionNotFound:
            return NotMined.UNKNOWN
        if tx.get("blockNumber") is None:
            return NotMined.PENDING
        try:
            receipt = self._call(self.w3.eth.get_transaction_receipt, tx_hash)
        except TransactionNotFound:
            return NotMined.PENDING
        return MinedTransaction(
            tx_hash=tx_hash,
            succeeded=receipt["status"] == 1,
            block_number=int(receipt["blockNumber"]),
            block_hash=_hex(receipt["blockHash"]),
            transfers=[t for t in (_transfer(entry) for entry in receipt["logs"]) if t is not None],
        )

    def head(self) -> int:
        self._check_chain()
        return int(self._call(lambda: self.w3.eth.block_number))

    def confirmations(self, block_number: int, head: int) -> int:
        return max(0, head - block_number + 1)

    def _check_chain(self) -> None:
        if self._chain_checked:
            return
        served = int(self._call(lambda: self.w3.eth.chain_id))
        if served != self.config.chain_id:
            raise ServiceUnavailable(
                f"the deposit node serves chain {served}, not {self.config.chain_id}", code="deposits_unavailable"
            )
        self._chain_checked = True

    @staticmethod
    def _call(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except TransactionNotFound:
            raise
        except (Web3Exception, requests.RequestException, OSError, ValueError) as exc:
            raise UpstreamError("the Ethereum node could not be reached; try again", code="chain_unavailable") from exc


def _transfer(entry: Any) -> Transfer | None:
    """An ERC-20 Transfer log (three topics and a 32-byte value; ERC-721's has four topics), or None."""
    topics = [_hex(topic) for topic in entry["topics"]]
    data = bytes(entry["data"])
    if len(topics) != 3 or topics[0] != TRANSFER_TOPIC or len(data) != 32 or entry.get("removed"):
        return None
    return Transfer(
        log_index=int(entry["logIndex"]),
        token=Web3.to_checksum_address(entry["address"]),
        sender=_address(topics[1]),
        recipient=_address(topics[2]),
        amount=int.from_bytes(data, "big"),
    )


def _address(topic: str) -> str:
    return str(Web3.to_checksum_address("0x" + topic[-40:]))


def _hex(value: Any) -> str:
    raw = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    return (raw if raw.startswith("0x") else "0x" + raw).lower()
