"""What the server prints: one JSON line per request, over real uvicorn configured as ``controlplane api`` does.

The line holds the route template (never the path), the status, the duration, the request id and the reduced
client address; nothing a caller wrote can start a line of its own, and no secret or deletion id is printed.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from controlplane.api.app import create_app
from controlplane.logs import configure_logging
from controlplane.runtime import Runtime
from tests.support.http_api import serving


@pytest.fixture
def served(runtime: Runtime) -> Iterator[tuple[str, io.StringIO]]:
    """The app over real uvicorn, its logging configured like the CLI's, printing into a buffer."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    try:
        with serving(create_app(runtime)) as base:
            yield base, buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


# The test's own HTTP client logs in this process too; what it prints is not the server's.
CLIENT_LOGGERS = ("httpx", "httpcore")


def lines_of(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    return [line for line in lines if not line["logger"].startswith(CLIENT_LOGGERS)]


def printed_by_server(buffer: io.StringIO) -> str:
    return "\n".join(json.dumps(line) for line in lines_of(buffer))


def requests_in(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in lines_of(buffer) if line.get("event") == "request"]


def wait_for_requests(buffer: io.StringIO, count: int, timeout_s: float = 10.0) -> None:
    """The server writes a request's line once the response has left: wait for ``count`` of them (bounded)."""
    deadline = time.monotonic() + timeout_s
    while len(requests_in(buffer)) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_one_json_line_per_request_with_the_route_template(served: tuple[str, io.StringIO]) -> None:
    base, buffer = served
    key = "cpk_abc_secretpart"
    with httpx.Client(base_url=base) as client:
        client.get("/healthz", headers={"X-Request-ID": "req-h"})
        client.get("/v1/namespaces/shop", headers={"X-Request-ID": "req-ns", "Authorization": f"Bearer {key}"})
    wait_for_requests(buffer, 2)
    by_id = {line["request_id"]: line for line in requests_in(buffer)}
    assert by_id["req-h"]["route"] == "/healthz"
    assert by_id["req-h"]["status"] == 200
    assert by_id["req-h"]["method"] == "GET"
    assert isinstance(by_id["req-h"]["duration_ms"], float)
    assert by_id["req-h"]["client"] == "127.0.0.0/24"
    assert by_id["req-ns"]["route"] == "/v1/namespaces/{name}"
    assert by_id["req-ns"]["status"] == 401
    printed = printed_by_server(buffer)
    assert "secretpart" not in printed
    assert not [line for line in lines_of(buffer) if line["logger"] == "uvicorn.access"]
    assert all("127.0.0.1" not in json.dumps(line) for line in requests_in(buffer))  # no full address
    assert "/v1/namespaces/shop" not in printed


def test_deletion_ids_are_never_printed(served: tuple[str, io.StringIO]) -> None:
    base, buffer = served
    deletion_id = str(uuid.uuid4())
    httpx.get(f"{base}/v1/account-deletions/{deletion_id}")
    wait_for_requests(buffer, 1)
    assert deletion_id not in printed_by_server(buffer)
    assert deletion_id.replace("-", "") not in printed_by_server(buffer)
    assert [line["route"] for line in requests_in(buffer)] == ["/v1/account-deletions/{deletion_id}"]


def test_a_path_cannot_forge_a_log_line(served: tuple[str, io.StringIO]) -> None:
    base, buffer = served
    forged = '%0a{"event":"request","route":"forged"}%0d%1b[31m'
    with httpx.Client(base_url=base) as client:
        client.get(f"/v1/namespaces/x{forged}")
        client.get(f"/nowhere{forged}")
    wait_for_requests(buffer, 2)
    lines = lines_of(buffer)  # every line is JSON: nothing a caller sent started a line of its own
    assert [line["route"] for line in lines if line.get("event") == "request"] == [
        "/v1/namespaces/{name}",
        "(unmatched)",
    ]
    assert "forged" not in printed_by_server(buffer)
    assert "\x1b" not in buffer.getvalue()
