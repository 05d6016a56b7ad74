"""Serve the API with uvicorn in this process (``controlplane api``, and ``controlplane dev`` with its stand-ins)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controlplane.runtime import Runtime, set_runtime

if TYPE_CHECKING:
    from controlplane.devstack.stack import DevStack


def serve(runtime: Runtime, host: str, port: int, devstack: DevStack | None = None) -> None:
    """Until uvicorn stops (Ctrl-C); the runtime is closed afterwards."""
    import uvicorn

    from controlplane.api.app import create_app

    set_runtime(runtime)
    try:
        uvicorn.run(create_app(runtime, devstack), host=host, port=port, log_config=None, proxy_headers=False)
    finally:
        runtime.close()
