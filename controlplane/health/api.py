"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from controlplane.accounts.principal import Public
from controlplane.api.deps import RuntimeDep
from controlplane.errors import error_body

router = APIRouter(tags=["health"], dependencies=[Depends(Public("probes for load balancers and orchestrators"))])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database and Redis are reachable", response_model=None)
def readyz(runtime: RuntimeDep) -> dict[str, Any] | JSONResponse:
    checks = {"database": _check_database(runtime), "redis": _check_redis(runtime)}
    if all(result == "ok" for result in checks.values()):
        return {"status": "ok", "checks": checks}
    failing = ", ".join(name for name, result in checks.items() if result != "ok")
    body = error_body("not_ready", f"not ready: {failing} unreachable", checks)
    return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})


def _check_database(runtime: RuntimeDep) -> str:
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; the reason is reported
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'unreachable'}"
    return "ok"


def _check_redis(runtime: RuntimeDep) -> str:
    try:
        runtime.redis.ping()
    except Exception as exc:  # any failure means not ready; the reason is reported
        return f"{type(exc).__name__}: {str(exc)[:200] or 'unreachable'}"
    return "ok"
