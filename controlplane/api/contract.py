"""The OpenAPI document as the server behaves: each operation lists the errors it can answer, and limits that the
settings decide are published as configured.

An operation's error responses are derived from what it is built of, so a new route is documented the way it
will behave: authentication (401, 403), a path parameter (404), parameters or a body (422, in the one error
shape), a JSON body (400 malformed, 413 too large), a page (400 for a cursor this API did not issue). What only
the service knows (409, 429, 502, 503 ...) a route declares with ``responses=``.
There is no blanket ``4XX``: a status an operation does not list is a status it never answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from controlplane.accounts.principal import current_principal
from controlplane.api.pagination import page_params
from controlplane.api.schemas import ErrorResponse
from controlplane.settings import Settings

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

# Why each status can happen, by what causes it; an operation's description of a status joins its causes.
AUTHENTICATED = {
    401: "Missing or invalid credentials",
    403: "The credential does not allow this (its scopes, the operator role, a session where one is required)",
}
NAMED_RESOURCE = {404: "Nothing by that name or id in this account"}
VALIDATED = {422: "The request does not match its schema (`validation_error`, naming the field)"}
JSON_BODY = {400: "The body is not valid JSON (`malformed_json`)", 413: "The body is over the size limit"}
PAGED = {400: "The cursor is not one this API issued (`invalid_cursor`)"}
UNAVAILABLE = {503: "The database or Redis is unavailable; retry (`Retry-After`)"}


@dataclass(frozen=True)
class SettingsLimit:
    """A bound of a request schema's property that a setting decides: published with the configured value."""

    schema: str
    property: str
    keyword: str
    setting: Callable[[Settings], int]


def answers(statuses: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error statuses only its service knows, with why (in the one error shape)."""
    return {status: {"description": why} for status, why in statuses.items()}


def install_contract(
    app: FastAPI,
    settings: Settings,
    limits: Iterable[SettingsLimit] = (),
    models: Iterable[type[BaseModel]] = (),
) -> None:
    """Replace ``app.openapi`` with the document described above (built once, on first use). ``models`` are
    published among the components although no route names them (a body a route reads itself refers to them)."""
    settings_limits = tuple(limits)
    published = tuple(models)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _publish_models(schema, (ErrorResponse, *published))
            _document_errors(schema, app)
            _publish_limits(schema, settings, settings_limits)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API operation's route, also those of included routers (their ``RouteContext``: path with prefixes,
    methods, dependant, body field, declared responses)."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            yield route


def error_causes(route: Any) -> dict[int, list[str]]:
    """Every error status ``route`` can answer, with its causes."""
    dependants = list(_dependants(route.dependant))
    calls = {dependant.call for dependant in dependants}
    path_params = any(dependant.path_params for dependant in dependants)
    query_params = any(dependant.query_params for dependant in dependants)
    causes: dict[int, list[str]] = {}

    def add(found: dict[int, str]) -> None:
        for status, cause in found.items():
            causes.setdefault(status, []).append(cause)

    if current_principal in calls:
        add(AUTHENTICATED)
    if path_params:
        add(NAMED_RESOURCE)
    if path_params or query_params or route.body_field is not None:
        add(VALIDATED)
    if route.body_field is not None:
        add(JSON_BODY)
    if page_params in calls:
        add(PAGED)
    for status, response in (route.responses or {}).items():
        if str(status)[0] in "45":
            causes.setdefault(int(status), []).append(str(response.get("description", "")))
    add(UNAVAILABLE)
    return causes


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    """The route's own dependant and every dependency's, however deep."""
    yield dependant
    for dependency in dependant.dependencies:
        yield from _dependants(dependency)


def _publish_models(schema: dict[str, Any], models: Iterable[type[BaseModel]]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in model_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault(model.__name__, model_schema)


def _document_errors(schema: dict[str, Any], app: FastAPI) -> None:
    components = schema["components"]["schemas"]
    for name in _FASTAPI_VALIDATION_SCHEMAS:  # FastAPI's own 422 shape, which this API never answers
        components.pop(name, None)
    for route in api_routes(app):
        causes = error_causes(route)
        for method in route.methods:
            operation = schema["paths"][route.path_format].get(method.lower())
            if operation is None:
                continue
            responses = operation["responses"]
            for status in [status for status in responses if status[0] in "45"]:
                del responses[status]
            for status, reasons in sorted(causes.items()):
                responses[str(status)] = {
                    "description": "; ".join(reason for reason in dict.fromkeys(reasons) if reason) or "Error",
                    "content": {"application/json": {"schema": _ERROR_REF}},
                }


def _publish_limits(schema: dict[str, Any], settings: Settings, limits: tuple[SettingsLimit, ...]) -> None:
    components = schema.get("components", {}).get("schemas", {})
    for limit in limits:
        properties = components.get(limit.schema, {}).get("properties", {})
        if limit.property in properties:
            properties[limit.property][limit.keyword] = limit.setting(settings)
