"""``uvicorn controlplane.api.asgi:app --factory``: the app built from the environment's settings."""

from __future__ import annotations

from fastapi import FastAPI

from controlplane.api.app import create_app
from controlplane.runtime import get_runtime


def app() -> FastAPI:
    return create_app(get_runtime())
