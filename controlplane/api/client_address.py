"""A client's address as the platform keeps it: reduced (IPv4 /24, IPv6 /48), a keyed hash, or nothing.

The API logs and the list of a person's sessions both keep addresses this way (``api_log_client_address``).
"""

from __future__ import annotations

import ipaddress

from controlplane.accounts.secrets import keyed_hash
from controlplane.settings import Settings


def reduce_client_address(settings: Settings, address: str | None) -> str | None:
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
