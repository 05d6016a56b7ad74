"""The API served by a real uvicorn on a loopback port, in a thread: for clients that talk HTTP (the tenant CLI)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from fastapi import FastAPI

from controlplane.api.serve import uvicorn_server


@contextlib.contextmanager
def serving(app: FastAPI, timeout_s: float = 30) -> Iterator[str]:
    """The app served as ``controlplane api`` serves it (``api.serve.uvicorn_server``) on a free loopback port;
    yields its base URL."""
    server = uvicorn_server(app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before serving"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
