"""Exception handlers: every 4xx and 5xx leaves in the one JSON error shape."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from controlplane.errors import AppError, error_body

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}

# What FastAPI says when reading a JSON body fails other than by a syntax error (RecursionError, say).
_FASTAPI_BODY_ERROR = "There was an error parsing the body"

_UNAVAILABLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    psycopg.OperationalError,  # the credential lookups' own pool (controlplane.accounts.credentials)
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def _json(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


async def app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"Retry-After": "1"} if exc.status_code == 503 else None
    return _json(exc.status_code, exc.code, exc.message, exc.details, headers)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"location": list(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    if any(problem["type"] == "json_invalid" for problem in problems):
        return _json(400, "malformed_json", "the request body is not valid JSON", problems)
    return _json(422, "validation_error", "the request does not match the expected shape", problems)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_ERROR:  # e.g. JSON nested past the parser's depth
        return _json(400, "malformed_json", "the request body is not valid JSON")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # The router names only the first route that matched the path; the resource may have several.
        headers["Allow"] = ", ".join(allowed_methods(request))
    return _json(exc.status_code, code, str(exc.detail), headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (HEAD wherever GET is: it is served as GET)."""
    scope = {**request.scope, "method": "GET" if request.method == "HEAD" else request.method}
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):  # each route, also those of included routers
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= set(route.methods or ())
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def dependency_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    which = "redis" if isinstance(exc, redis.exceptions.RedisError) else "database"
    log.warning("%s unavailable: %s", which, type(exc).__name__)
    return _json(503, "service_unavailable", f"the {which} is unavailable; retry shortly", headers={"Retry-After": "1"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for exc_type in _UNAVAILABLE:
        app.add_exception_handler(exc_type, dependency_unavailable)
