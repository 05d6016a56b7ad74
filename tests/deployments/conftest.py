"""Fixtures for the deployments tests: a local DNS server the domain checks ask, and helpers for two tenants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dns_server import LocalDns
from tests.support.live import Live


@pytest.fixture
def local_dns(live: Live, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalDns]:
    """A DNS server on loopback, the only resolver the domain checks ask (forked workers inherit the setting)."""
    with LocalDns.start() as dns:
        monkeypatch.setattr(live.runtime.settings, "domain_verification_resolvers", [dns.address])
        monkeypatch.setattr(live.runtime.settings, "domain_verification_timeout_s", 2.0)
        yield dns
