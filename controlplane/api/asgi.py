"""``uvicorn controlplane.api.asgi:app --factory --no-proxy-headers``: the app built from the environment's settings.

``controlplane api`` is the way to serve it (``controlplane.api.serve.uvicorn_server``). Run under uvicorn's own
command, pass ``--no-proxy-headers``: which proxies may name the client is the ``trusted_proxies`` setting's to
decide (``controlplane.api.client_address``), not uvicorn's. uvicorn's access log is switched off here whatever the
flags: it prints the raw path (names, ids, forged line breaks) and the full client address.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from controlplane.api.app import create_app
from controlplane.runtime import get_runtime


def app() -> FastAPI:
    logging.getLogger("uvicorn.access").disabled = True
    return create_app(get_runtime())
