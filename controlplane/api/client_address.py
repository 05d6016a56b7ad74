"""Who is calling, as an address: the connecting peer, or what a trusted proxy says in ``X-Forwarded-For``.

One place decides it, once per request (``RequestContextMiddleware`` puts it in the request's state), and the
rate limits and the logs all read it from there. A forwarded header counts only when the peer is one of the
``trusted_proxies`` (CIDRs; none by default): anyone else could write any address in it and pick a fresh rate-limit
bucket per request. Behind a chain of proxies, the address is the first one from the right that is not a trusted
proxy itself. What is kept of it (the API logs, the list of a person's sessions) is reduced: ``reduce_client_address``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.types import Scope

from controlplane.accounts.secrets import keyed_hash
from controlplane.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_FOR = b"x-forwarded-for"


@lru_cache(maxsize=16)
def trusted_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def client_address(scope: Scope, trusted: Iterable[str]) -> str | None:
    """The caller's address for this request (None when the server was not told the peer)."""
    peer = scope.get("client")
    address: str | None = peer[0] if peer else None
    networks = trusted_networks(tuple(trusted))
    if address is None or not _is_trusted(address, networks):
        return address
    forwarded = b",".join(value for name, value in scope["headers"] if name == _FORWARDED_FOR)
    for hop in reversed(forwarded.decode("latin-1").split(",") if forwarded else []):
        candidate = hop.strip()
        if not _is_ip(candidate):
            break  # a malformed entry: believe nothing to its left
        address = candidate
        if not _is_trusted(candidate, networks):
            break
    return address


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def reduce_client_address(settings: Settings, address: str | None) -> str | None:
    """The address as logs may keep it: its network (IPv4 /24, IPv6 /48), a keyed hash, or nothing (settings)."""
    if address is None or settings.api_log_client_address == "none":
        return None
    if settings.api_log_client_address == "hash":
        return "h:" + keyed_hash(settings.session_secret, address).hex()[:32]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
