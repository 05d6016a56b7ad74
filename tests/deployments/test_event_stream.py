"""The event stream a tenant sees: info level and above by default, everything with ``?level=debug``.

Found: a run's stream had 121 of its 243 events at debug level. Each event now carries a ``level`` (the engine
sets it); the stream leaves out what is below the asked level, and ends with the operation's result.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import insert, select

from controlplane.deployments.models import Operation, OperationEvent
from tests.support.live import Live


def sse_blocks(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each server-sent event."""
    found = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        found.append((fields["event"], json.loads(fields["data"])))
    return found


EVENTS = [
    ("diagnostic", {"severity": "debug", "message": "resource registration prepared", "level": "debug"}),
    ("resource_pre", {"urn": "urn:x", "op": "create", "type": "kubernetes:apps/v1:Deployment", "level": "info"}),
    ("resource_pre", {"urn": "urn:y", "op": "same", "type": "kubernetes:core/v1:Service", "level": "debug"}),
    ("diagnostic", {"severity": "warning", "message": "rendered file holds a secret", "level": "warning"}),
    ("resource_done", {"urn": "urn:x", "op": "create", "type": "kubernetes:apps/v1:Deployment", "level": "info"}),
    ("diagnostic", {"severity": "error", "message": "it broke", "level": "error"}),
    ("summary", {"changes": {"create": 1}, "level": "info"}),
]


@pytest.fixture
def operation(live: Live) -> uuid.UUID:
    live.create()
    live.work()
    namespace = live.namespace("shop")
    with live.new_session() as session:
        operation_id = session.scalar(select(Operation.id).where(Operation.namespace_id == namespace.id))
        assert operation_id is not None
        session.execute(
            insert(OperationEvent),
            [
                {"operation_id": operation_id, "sequence": 100 + index, "type": kind, "data": data}
                for index, (kind, data) in enumerate(EVENTS)
            ],
        )
        session.commit()
    return operation_id


def stream(live: Live, operation_id: uuid.UUID, query: str = "") -> list[tuple[str, dict[str, Any]]]:
    response = live.client.get(f"/v1/namespaces/shop/operations/{operation_id}/events{query}", headers=live.headers)
    assert response.status_code == 200, response.text
    return sse_blocks(response.text)


def test_the_stream_shows_info_and_above_by_default(live: Live, operation: uuid.UUID) -> None:
    shown = stream(live, operation)
    assert shown[-1] == ("end", {"result": "succeeded"})
    levels = [data.get("level", "info") for kind, data in shown[:-1]]
    assert "debug" not in levels
    assert [kind for kind, data in shown if data.get("message") == "it broke"] == ["diagnostic"]
    assert ("diagnostic", EVENTS[3][1]) in shown


def test_debug_events_are_there_when_asked_for(live: Live, operation: uuid.UUID) -> None:
    everything = stream(live, operation, "?level=debug")
    assert [data for _kind, data in everything if data.get("level") == "debug"] == [EVENTS[0][1], EVENTS[2][1]]
    warnings = stream(live, operation, "?level=warning")
    assert {data["level"] for _kind, data in warnings[:-1]} == {"warning", "error"}


def test_an_unknown_level_is_refused_by_name(live: Live, operation: uuid.UUID) -> None:
    response = live.client.get(f"/v1/namespaces/shop/operations/{operation}/events?level=loud", headers=live.headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["location"] == ["query", "level"]
