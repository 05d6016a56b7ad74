"""The FastAPI application: middleware, error handlers and every feature's router."""

from __future__ import annotations

from fastapi import FastAPI

from controlplane.accounts.api import account_router, auth_router, operator_router
from controlplane.accounts.api import router as api_keys_router
from controlplane.api.errors import install_error_handlers
from controlplane.api.idempotency import IdempotencyMiddleware
from controlplane.api.middleware import RequestContextMiddleware
from controlplane.api.schemas import ErrorResponse
from controlplane.deployments.api import operator_router as namespaces_operator_router
from controlplane.deployments.api import router as namespaces_router
from controlplane.health.api import router as health_router
from controlplane.runtime import Runtime

_ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    "4XX": {"model": ErrorResponse, "description": "Client error, in the one error shape"},
    "5XX": {"model": ErrorResponse, "description": "Server error, in the one error shape"},
}


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Control plane",
        version="1",
        description="Namespaces of containers on Kubernetes, paid for with prepaid credits.",
        responses=_ERROR_RESPONSES,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(account_router)
    app.include_router(api_keys_router)
    app.include_router(operator_router)
    app.include_router(namespaces_router)
    app.include_router(namespaces_operator_router)
    # Added last = outermost: the request id wraps everything, idempotency sits inside it.
    app.add_middleware(IdempotencyMiddleware, runtime=lambda: app.state.runtime)
    app.add_middleware(
        RequestContextMiddleware,
        header=runtime.settings.request_id_header,
        max_body_bytes=runtime.settings.max_body_bytes,
    )
    return app
