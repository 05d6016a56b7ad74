"""Fixtures for the policy tests: a `report` that collects messages, as CrossGuard's callback would."""

from __future__ import annotations

import pytest

from policies.registry import ResourceView


class Collector:
    """A `report(message, resource=None)` callable that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.resources: list[ResourceView | None] = []

    def __call__(self, message: str, resource: ResourceView | None = None, /) -> None:
        self.messages.append(message)
        self.resources.append(resource)

    def __bool__(self) -> bool:
        return bool(self.messages)

    def text(self) -> str:
        return "\n".join(self.messages)


@pytest.fixture
def report() -> Collector:
    return Collector()
