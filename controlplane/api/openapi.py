"""The OpenAPI document tells each operation's access rule: security schemes, required scopes, and why a public
operation needs no credential. It reads the rules the routes declare (``controlplane.accounts.principal``), so
the document cannot disagree with what the server checks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from controlplane.accounts.principal import CSRF_HEADER, AccessRule, Requirement
from controlplane.api import idempotency

BEARER, SESSION, CSRF = "apiKey", "sessionCookie", "csrfToken"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Endpoint:
    """One API route as the app serves it: its whole path, its methods, and every dependency (the routers' too)."""

    path: str
    methods: frozenset[str]
    dependant: Dependant


def endpoints(app: FastAPI) -> list[Endpoint]:
    found = []
    for context in routing.iter_route_contexts(app.routes):
        if isinstance(context.original_route, routing.APIRoute):
            found.append(Endpoint(str(context.path_format), frozenset(context.methods or ()), context.dependant))
    return found


def access_rules(route: Endpoint) -> list[AccessRule]:
    """Every access rule among the route's dependencies (and theirs), each once."""
    seen: dict[int, AccessRule] = {}
    for call in _calls(route.dependant):
        if isinstance(call, AccessRule):
            seen.setdefault(id(call), call)
    return list(seen.values())


def _calls(dependant: Dependant) -> Iterator[object]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def describe_access(app: FastAPI) -> None:
    """Make ``app.openapi()`` add the security schemes, each operation's access rule, and the Idempotency-Key
    header every POST accepts (``controlplane.api.idempotency``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            cookie_name = app.state.runtime.settings.session_cookie_name
            schema.setdefault("components", {})["securitySchemes"] = _schemes(cookie_name)
            for endpoint in endpoints(app):
                _annotate(schema, endpoint)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _schemes(cookie_name: str) -> dict[str, Any]:
    return {
        BEARER: {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer cpk_...`"},
        SESSION: {"type": "apiKey", "in": "cookie", "name": cookie_name, "description": "The session cookie"},
        CSRF: {
            "type": "apiKey",
            "in": "header",
            "name": CSRF_HEADER,
            "description": "With the session cookie, writes echo the session's CSRF token (sign-in returns it)",
        },
    }


def _annotate(schema: dict[str, Any], endpoint: Endpoint) -> None:
    requirements = [rule.requirement for rule in access_rules(endpoint)]
    for method in endpoint.methods:
        operation = schema["paths"].get(endpoint.path, {}).get(method.lower())
        if operation is None or not requirements:
            continue
        operation["security"] = _security(requirements, method)
        operation["x-required-scopes"] = sorted({scope for r in requirements for scope in r.scopes})
        operation["x-access"] = sorted({r.kind for r in requirements})
        sentence = _sentence(requirements)
        operation["description"] = f"{operation.get('description', '').rstrip()}\n\n**Access:** {sentence}".strip()
        if method == "POST":
            _accept_idempotency_key(operation)


def _accept_idempotency_key(operation: dict[str, Any]) -> None:
    operation.setdefault("parameters", []).append(idempotency.OPENAPI_PARAMETER)
    responses = operation.setdefault("responses", {})
    for status, why in idempotency.OPENAPI_ERRORS.items():
        known = responses.get(str(status))
        if known is None:
            responses[str(status)] = {
                "description": why,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
            }
        else:
            known["description"] = f"{known['description']}; {why}"


def _security(requirements: list[Requirement], method: str) -> list[dict[str, list[str]]]:
    kinds = {r.kind for r in requirements}
    session: dict[str, list[str]] = {SESSION: [], CSRF: []} if method in _UNSAFE else {SESSION: []}
    if kinds == {"public"}:
        return []
    if kinds & {"session", "recent_session"}:
        return [session]
    return [{BEARER: []}, session]


def _sentence(requirements: list[Requirement]) -> str:
    parts = []
    for requirement in requirements:
        scopes = ", ".join(f"`{scope}`" for scope in requirement.scopes)
        parts.append(
            {
                "public": f"public ({requirement.note})",
                "authenticated": "any valid API key or session",
                "scopes": f"an API key holding {scopes} (write includes read), or a session",
                "operator": f"an operator (a role granted only by `controlplane operator grant`) with {scopes}",
                "session": "the session cookie, not an API key",
                "recent_session": requirement.note,
            }[requirement.kind]
        )
    return "; and ".join(parts) + "."
