"""A real EVM on a local JSON-RPC endpoint, for code that reaches Ethereum through an RPC URL.

eth-tester (with py-evm) runs the chain in this process; a stdlib HTTP server on 127.0.0.1 answers JSON-RPC by
handing each call to web3's ``EthereumTesterProvider``, with the same request and result formatting web3 applies
when it talks to that provider directly, then encodes the answer in the wire format (quantities as hex strings)
that a real node would send. The service under test uses ``Web3(HTTPProvider(rpc.url))`` like in production.

    rpc = EvmRpc.start()
    rpc.url                      # http://127.0.0.1:PORT
    rpc.w3                       # a Web3 client of that URL (calls go through the server)
    rpc.eth_tester               # the chain itself: mine_blocks(), time_travel(), snapshot()/revert_to_snapshot()
    rpc.funded_accounts          # unlocked accounts with ether, usable as "from" in eth_sendTransaction
    rpc.deploy(abi, bytecode, *args)  # a contract instance (through the server), deployed from funded_accounts[0]
    rpc.stop()

Calls into the chain are serialised by ``rpc.lock``; hold it when you touch ``eth_tester`` while a request may be
in flight. ``after_transaction`` is told of every transaction sent (``controlplane dev`` mines confirmations then).

eth-tester and py-evm come with the ``dev`` extra: import this module only where they are wanted (the test suite,
``controlplane dev``'s chain).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_tester import EthereumTester
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.contract import Contract
from web3.providers.eth_tester.middleware import request_formatters, result_formatters
from web3.types import RPCEndpoint

from controlplane.devstack.local_server import reply_json

_SENDS_A_TRANSACTION = frozenset({"eth_call", "eth_estimateGas", "eth_sendTransaction", "eth_createAccessList"})
_ADDS_A_TRANSACTION = frozenset({"eth_sendTransaction", "eth_sendRawTransaction"})
_BLOOM_BYTES = 256


def identity(value: Any) -> Any:
    return value


def to_wire(value: Any, key: str | None = None) -> Any:
    """web3's Python values -> JSON-RPC wire values: integers as hex quantities, bytes as hex data."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        if key == "logsBloom":
            return "0x" + value.to_bytes(_BLOOM_BYTES, "big").hex()
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {name: to_wire(item, name) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    raise TypeError(f"cannot encode {type(value).__name__} for JSON-RPC")


class EvmRpc:
    def __init__(self, provider: EthereumTesterProvider, server: ThreadingHTTPServer) -> None:
        self.provider = provider
        self.lock = threading.RLock()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="evm-rpc", daemon=True)
        self.requests: list[str] = []  # the method names called, in order
        self.after_transaction: Callable[[], None] | None = None
        self.w3 = Web3(HTTPProvider(self.url, request_kwargs={"timeout": 30}))

    @classmethod
    def start(cls, eth_tester: EthereumTester | None = None) -> EvmRpc:
        provider = EthereumTesterProvider(eth_tester)
        holder: dict[str, EvmRpc] = {}
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(lambda: holder["rpc"]))
        server.daemon_threads = True
        rpc = cls(provider, server)
        holder["rpc"] = rpc
        rpc._thread.start()
        return rpc

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def eth_tester(self) -> EthereumTester:
        tester: EthereumTester = self.provider.ethereum_tester
        return tester

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    @property
    def funded_accounts(self) -> list[str]:
        with self.lock:
            return list(self.eth_tester.get_accounts())

    def deploy(self, abi: list[dict[str, Any]], bytecode: str, *args: Any) -> Contract:
        """Deploy a contract from the first funded account and wait for its receipt."""
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        tx_hash = factory.constructor(*args).transact({"from": self.funded_accounts[0]})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
        if receipt["status"] != 1:
            raise RuntimeError(f"deployment failed: {receipt!r}")
        contract = self.w3.eth.contract(address=receipt["contractAddress"], abi=abi)
        assert isinstance(contract, Contract)
        return contract

    def call(self, method: str, params: list[Any]) -> dict[str, Any]:
        """Answer one JSON-RPC call (without its id) as a node would."""
        self.requests.append(method)
        with self.lock:
            try:
                params = self._request_params(method, params)
                response = self.provider.make_request(method, params)  # type: ignore[arg-type]
            except Exception as exc:  # a node answers a failing call with an error object, not a dropped line
                return {"error": {"code": -32000, "message": f"{type(exc).__name__}: {exc}"}}
        if "error" in response:
            error = dict(response["error"])
            return {
                "error": {"code": error.get("code", -32000), "message": str(error.get("message", "")), **_data(error)}
            }
        if method in _ADDS_A_TRANSACTION and self.after_transaction is not None:
            self.after_transaction()
        formatter: Callable[[Any], Any] = (
            result_formatters.get(RPCEndpoint(method), identity) if result_formatters else identity
        )
        return {"result": to_wire(formatter(response.get("result")))}

    def _request_params(self, method: str, params: list[Any]) -> list[Any]:
        if method in _SENDS_A_TRANSACTION and params and isinstance(params[0], dict) and not params[0].get("from"):
            params = [{**params[0], "from": self.eth_tester.get_accounts()[0]}, *params[1:]]
        formatter: Callable[[Any], Any] = request_formatters.get(RPCEndpoint(method), identity)
        return list(formatter(params))


def _data(error: dict[str, Any]) -> dict[str, Any]:
    return {"data": to_wire(error["data"])} if "data" in error else {}


def _handler(rpc: Callable[[], EvmRpc]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                self._send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
                return
            if isinstance(payload, list):
                self._send([self._one(item) for item in payload])
            else:
                self._send(self._one(payload))

        def _one(self, request: Any) -> dict[str, Any]:
            if not isinstance(request, dict) or not isinstance(request.get("method"), str):
                return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
            answer = rpc().call(request["method"], list(request.get("params") or []))
            return {"jsonrpc": "2.0", "id": request.get("id"), **answer}

        def _send(self, body: Any) -> None:
            reply_json(self, 200, body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test's own output is what matters."""

    return Handler
