"""A small authoritative DNS server on loopback for tests (dnslib): TXT records a test sets and removes.

    with LocalDns.start() as dns:
        dns.set_txt("_controlplane-challenge.shop.example.com", "token")
        settings.domain_verification_resolvers = [dns.address]   # "127.0.0.1:<port>"

Every other name answers NXDOMAIN. UDP only (the answers are small; nothing is truncated). The server thread is
a daemon and `stop()` ends it; nothing leaves loopback.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Records(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        self.queries: list[str] = []

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.queries.append(name)
            values = list(self.txt.get(name, []))
        if not values:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in values:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=5))
        return reply


@dataclass
class LocalDns:
    records: _Records = field(default_factory=_Records)
    server: DNSServer | None = None

    @classmethod
    def start(cls) -> LocalDns:
        dns = cls()
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        dns.server = DNSServer(dns.records, address="127.0.0.1", port=0, logger=quiet)
        dns.server.start_thread()
        return dns

    @property
    def address(self) -> str:
        assert self.server is not None
        host, port = self.server.server.server_address[:2]
        return f"{host}:{port}"

    def set_txt(self, name: str, *values: str) -> None:
        with self.records.lock:
            self.records.txt[name] = list(values)

    def remove(self, name: str) -> None:
        with self.records.lock:
            self.records.txt.pop(name, None)

    @property
    def queries(self) -> list[str]:
        with self.records.lock:
            return list(self.records.queries)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server.server.server_close()
            self.server = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
