"""Every route declares what it requires of its caller; a new endpoint cannot ship unguarded.

The rules are the access-rule dependencies of ``controlplane.accounts.principal``. Public routes are listed here
by hand, so making one public is a visible change to this file. The walk covers the app as ``controlplane dev``
mounts it, development endpoints included.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fastapi.testclient import TestClient

from controlplane.accounts.principal import Public, RequireOperator, RequireScope, RequireScopes
from controlplane.accounts.scopes import KNOWN_SCOPES, Access
from controlplane.api.app import create_app
from controlplane.api.openapi import Endpoint, access_rules, endpoints
from controlplane.audit.service import audited_operator_write
from controlplane.devstack.stack import DevStack, DevStackRefused
from controlplane.runtime import Runtime

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/v1/auth/otp/start"),
    ("POST", "/v1/auth/otp/verify"),
    ("GET", "/v1/auth/siwe/nonce"),
    ("POST", "/v1/auth/siwe/verify"),
    ("POST", "/v1/billing/webhooks/stripe"),
    ("GET", "/v1/account-deletions/{deletion_id}"),
}
# Development only (controlplane dev): the stand-ins' outbox of phone codes, and the stand-in for Stripe's payment
# page (Stripe's own page needs no platform credential either; the session id is unguessable).
DEV_PUBLIC = {
    ("GET", "/v1/dev/phone-codes"),
    ("GET", "/v1/dev/checkout/{session_id}"),
    ("POST", "/v1/dev/checkout/{session_id}/pay"),
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def in_development(runtime: Runtime) -> Runtime:
    return dataclasses.replace(runtime, settings=runtime.settings.model_copy(update={"env": "development"}))


def api_routes(runtime: Runtime) -> list[tuple[str, Endpoint]]:
    """Every route, as ``controlplane dev`` serves them (the development endpoints too)."""
    app = create_app(in_development(runtime), DevStack())
    return [(method, route) for route in endpoints(app) for method in sorted(route.methods)]


def test_every_route_declares_its_access_rule(runtime: Runtime) -> None:
    routes = api_routes(runtime)
    assert len(routes) > 40, "the walk found too few routes to mean anything"
    unguarded = [f"{method} {route.path}" for method, route in routes if not access_rules(route)]
    assert unguarded == [], f"routes without an access rule: {unguarded}"


def test_public_routes_are_exactly_the_listed_ones(runtime: Runtime) -> None:
    public = {
        (method, route.path)
        for method, route in api_routes(runtime)
        if any(isinstance(rule, Public) for rule in access_rules(route))
    }
    assert public == PUBLIC | DEV_PUBLIC
    for method, route in api_routes(runtime):
        rules = access_rules(route)
        if any(isinstance(rule, Public) for rule in rules):
            assert len(rules) == 1, f"{method} {route.path} is public and guarded at once"
            assert rules[0].requirement.note, "a public route says why it needs no credential"


def test_operator_routes_need_the_role_and_writes_are_audited(runtime: Runtime) -> None:
    operator_routes = [(m, r) for m, r in api_routes(runtime) if r.path.startswith("/v1/operator")]
    assert operator_routes
    for method, route in operator_routes:
        [rule] = [rule for rule in access_rules(route) if isinstance(rule, RequireOperator)]
        assert rule.access is (Access.WRITE if method in _WRITES else Access.READ), route.path
        calls = [dependency.call for dependency in route.dependant.dependencies]
        assert (audited_operator_write in calls) == (method in _WRITES), f"{method} {route.path}"


def test_declared_scopes_are_real_scopes(runtime: Runtime) -> None:
    for _method, route in api_routes(runtime):
        for rule in access_rules(route):
            if isinstance(rule, RequireScope | RequireScopes | RequireOperator):
                assert set(rule.requirement.scopes) <= KNOWN_SCOPES, route.path


def test_the_openapi_document_shows_each_rule(app_client: TestClient) -> None:
    document: dict[str, Any] = app_client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer cpk_...`",
    }
    assert schemes["sessionCookie"]["in"] == "cookie"
    assert schemes["csrfToken"]["name"] == "X-CSRF-Token"
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    for (method, path), operation in operations.items():
        assert "security" in operation, f"{method} {path}"
        assert "**Access:**" in operation["description"], f"{method} {path}"
        if (method, path) in PUBLIC:
            assert operation["security"] == []
    create_key = operations[("POST", "/v1/api-keys")]
    assert create_key["x-required-scopes"] == ["api-keys:write"]
    assert create_key["security"] == [{"apiKey": []}, {"sessionCookie": [], "csrfToken": []}]
    link = operations[("POST", "/v1/account/wallets")]
    assert link["security"] == [{"sessionCookie": [], "csrfToken": []}]  # never a key
    assert operations[("GET", "/v1/account/export")]["x-required-scopes"] == [
        "account:read",
        "api-keys:read",
        "billing:read",
        "namespaces:read",
    ]


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
def test_public_routes_answer_without_a_credential(app_client: TestClient, method: str, path: str) -> None:
    url = path.replace("{deletion_id}", "00000000-0000-0000-0000-000000000000")
    response = app_client.request(method, url, json={} if method == "POST" else None)
    assert response.status_code != 401, response.text


def test_development_endpoints_exist_only_under_dev(runtime: Runtime) -> None:
    served = {route.path for route in endpoints(create_app(runtime))}
    assert not [path for path in served if path.startswith("/v1/dev")]
    with pytest.raises(DevStackRefused, match="CONTROLPLANE_ENV=development"):
        create_app(runtime, DevStack())  # the test settings are env=test
    in_dev = {route.path for route in endpoints(create_app(in_development(runtime), DevStack()))}
    assert {path for _method, path in DEV_PUBLIC} | {"/v1/dev/faucet"} <= in_dev
