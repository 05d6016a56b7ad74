"""Serve the API with uvicorn in this process (``controlplane api``, and ``controlplane dev`` with its stand-ins)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from controlplane.runtime import Runtime, set_runtime

if TYPE_CHECKING:
    import uvicorn

    from controlplane.devstack.stack import DevStack


def uvicorn_server(app: Any, *, host: str, port: int) -> uvicorn.Server:
    """uvicorn as the API runs it. Its access log is off: it would print the raw path (ids, names, forged line
    breaks) and the full client address; the app logs one JSON line per request instead (``controlplane.logs``).
    Forwarded headers are not uvicorn's to read either: ``trusted_proxies`` decides (``api.client_address``)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, proxy_headers=False)
    return uvicorn.Server(config)


def serve(runtime: Runtime, host: str, port: int, devstack: DevStack | None = None) -> None:
    """Until uvicorn stops (Ctrl-C); the runtime is closed afterwards."""
    from controlplane.api.app import create_app

    set_runtime(runtime)
    try:
        # uvicorn re-raises the Ctrl-C it shut down on; uvicorn.run() swallows it, and so does this.
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn_server(create_app(runtime, devstack), host=host, port=port).run()
    finally:
        runtime.close()
