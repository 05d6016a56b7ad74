"""The FastAPI application: middleware, error handlers and every feature's router."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from controlplane.accounts.api import account_router, auth_router, operator_router
from controlplane.accounts.api import router as api_keys_router
from controlplane.accounts.credentials import PooledCredentialStore
from controlplane.api.async_db import ConnectionPool, LoopDatabase
from controlplane.api.contract import install_contract
from controlplane.api.errors import install_error_handlers
from controlplane.api.idempotency import IdempotencyMiddleware
from controlplane.api.middleware import HeadAsGetMiddleware, RequestContextMiddleware
from controlplane.api.openapi import describe_access
from controlplane.api.pagination import LoopPageReader
from controlplane.audit.api import router as audit_router
from controlplane.billing.api import operator_router as billing_operator_router
from controlplane.billing.api import router as billing_router
from controlplane.billing.schemas import SETTINGS_LIMITS as BILLING_LIMITS
from controlplane.deployments.api import deletions_router as namespace_deletions_router
from controlplane.deployments.api import operator_router as namespaces_operator_router
from controlplane.deployments.api import router as namespaces_router
from controlplane.deployments.revisions_api import router as revisions_router
from controlplane.deployments.schemas import PUBLISHED_MODELS as DEPLOYMENT_MODELS
from controlplane.deployments.schemas import SETTINGS_LIMITS as DEPLOYMENT_LIMITS
from controlplane.fleet.api import router as rollouts_router
from controlplane.health.api import router as health_router
from controlplane.metrics.api import router as metrics_router
from controlplane.metrics.http import HttpMetricsMiddleware
from controlplane.notifications.api import router as notifications_router
from controlplane.privacy.api import deletions_router
from controlplane.privacy.api import operator_router as privacy_operator_router
from controlplane.privacy.api import router as privacy_router
from controlplane.privacy.api_logs import ApiLogMiddleware, ApiLogWriter
from controlplane.runtime import Runtime

if TYPE_CHECKING:
    from controlplane.devstack.stack import DevStack


def create_app(runtime: Runtime, devstack: DevStack | None = None) -> FastAPI:
    """The API; with ``devstack`` (``controlplane dev`` only, refused outside development) also ``/v1/dev``."""
    if devstack is not None:
        from controlplane.devstack.stack import refuse_outside_development

        refuse_outside_development(runtime.settings.env)
    api_logs = ApiLogWriter(runtime)
    loop_db = LoopDatabase(ConnectionPool.from_settings(runtime.settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        api_logs.start()
        if runtime.settings.admission_policy_check:
            from policies.declared import warm_up

            await run_in_threadpool(warm_up)  # the SDKs' imports and metadata, paid at start, not by the first write
        # What start-up built (the SDKs are ~500k long-lived objects) leaves the garbage collector's generations:
        # a full collection walking them stalled a request for ~0.3 s; now it walks what requests create.
        gc.collect()
        gc.freeze()
        yield
        await loop_db.close()
        api_logs.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Control plane",
        version="1",
        description="Namespaces of containers on Kubernetes, paid for with prepaid credits.",
    )
    app.state.runtime = runtime
    app.state.api_logs = api_logs
    app.state.loop_db = loop_db
    app.state.credentials = PooledCredentialStore(loop_db)
    app.state.page_reader = LoopPageReader(loop_db)
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(account_router)
    app.include_router(api_keys_router)
    app.include_router(operator_router)
    app.include_router(namespaces_router)
    app.include_router(revisions_router)
    app.include_router(namespace_deletions_router)
    app.include_router(namespaces_operator_router)
    app.include_router(privacy_router)
    app.include_router(privacy_operator_router)
    app.include_router(deletions_router)
    app.include_router(billing_router)
    app.include_router(billing_operator_router)
    app.include_router(notifications_router)
    app.include_router(audit_router)
    app.include_router(rollouts_router)
    app.include_router(metrics_router)
    if devstack is not None:
        from controlplane.devstack.api import router as dev_router

        app.state.devstack = devstack
        app.include_router(dev_router)
    # The contract first (error responses, published limits), then each operation's access rule on top of it.
    install_contract(app, runtime.settings, [*DEPLOYMENT_LIMITS, *BILLING_LIMITS], DEPLOYMENT_MODELS)
    describe_access(app)
    # Added last = outermost: the request id wraps everything, idempotency sits inside it, HEAD is served as GET
    # innermost (so the logs still say HEAD).
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(
        IdempotencyMiddleware, runtime=lambda: app.state.runtime, credentials=lambda: app.state.credentials
    )
    app.add_middleware(ApiLogMiddleware, writer=api_logs, settings=runtime.settings)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(RequestContextMiddleware, settings=runtime.settings)
    return app
