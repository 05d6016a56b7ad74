"""Hostile input through the real app: control characters, zone-less times, whitespace, methods, published limits.

Every refusal is a 4xx in the one error shape, naming the field; nothing reaches the database first.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from controlplane.accounts.models import Account
from controlplane.accounts.scopes import KNOWN_SCOPES
from controlplane.api.schemas import ApiModel
from controlplane.api.text import INTEGRAL
from tests.foundation.test_api_conventions import assert_error_shape
from tests.support.live import APP, Live

CONTROL_CHARACTERS = ["\x00", "\n", "\r", "\x1b", "\x7f", "\x85"]


def locations(response: Any) -> list[list[Any]]:
    return [problem["location"] for problem in response.json()["error"]["details"]]


def operator_auth(db: Session, account: Account, make_key: Callable[..., str]) -> dict[str, str]:
    """The account made an operator, and a key of it holding every scope (the operator ones too)."""
    db.execute(text("UPDATE accounts SET is_operator = true WHERE id = :id"), {"id": account.id})
    account.is_operator = True
    return {"Authorization": f"Bearer {make_key(account, KNOWN_SCOPES)}"}


@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
def test_control_characters_in_names_are_refused_naming_the_field(
    app_client: TestClient, auth: dict[str, str], character: str
) -> None:
    for path, body, field in [
        ("/v1/namespaces", {"name": f"a{character}", "apps": []}, "name"),
        ("/v1/api-keys", {"name": f"ci{character}", "scopes": ["account:read"]}, "name"),
        ("/v1/namespaces", {"name": "shop", "apps": [{**APP, "name": f"web{character}"}]}, "apps"),
    ]:
        response = app_client.post(path, json=body, headers=auth)
        assert response.status_code == 422, (path, response.text)
        assert_error_shape(response.json(), "validation_error")
        assert any(location[:2] == ["body", field] for location in locations(response)), response.text


@pytest.mark.parametrize("escaped", ["%00", "%0a", "%1b", "%7f"])
def test_control_characters_in_path_parameters_are_refused(
    app_client: TestClient, auth: dict[str, str], escaped: str
) -> None:
    for method, path in [
        ("GET", f"/v1/namespaces/a{escaped}"),
        ("DELETE", f"/v1/namespaces/a{escaped}"),
        ("GET", f"/v1/namespaces/a{escaped}/config"),
        ("GET", f"/v1/namespaces/a{escaped}/operations"),
        ("PATCH", f"/v1/namespaces/shop/apps/w{escaped}"),
    ]:
        response = app_client.request(method, path, headers=auth, json={} if method == "PATCH" else None)
        assert response.status_code == 422, (method, path, response.text)
        assert any(location[0] == "path" for location in locations(response)), response.text


def test_control_characters_in_query_filters_are_refused(
    app_client: TestClient, db: Session, account: Account, make_key: Callable[..., str]
) -> None:
    auth = operator_auth(db, account, make_key)
    for params in ({"route": "\x00"}, {"request_id": "a\nb"}):
        response = app_client.get("/v1/operator/api-logs", params=params, headers=auth)
        assert response.status_code == 422, response.text
        assert [location[0] for location in locations(response)] == ["query"]


def test_env_values_are_kept_byte_for_byte(live: Live) -> None:
    pem = "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"
    env = {"PEM": pem, "PADDED": "  key\n", "TABS": "\tx\t", "UNICODE": "naïve ☃ \u2028"}
    live.create(apps=[{**APP, "env": env}])
    got = live.client.get("/v1/namespaces/shop", headers=live.headers).json()
    assert got["apps"][0]["env"] == env
    exported = live.client.get("/v1/namespaces/shop/config", headers=live.headers).text
    import yaml

    assert yaml.safe_load(exported)["apps"][0]["env"] == env


def test_env_values_with_nul_are_refused(live: Live) -> None:
    response = live.client.post(
        "/v1/namespaces", json={"name": "shop", "apps": [{**APP, "env": {"A": "x\x00y"}}]}, headers=live.headers
    )
    assert response.status_code == 422
    assert ["body", "apps", 0, "env", "A"] in locations(response)
    assert live.client.get("/v1/namespaces/shop", headers=live.headers).status_code == 404


@pytest.mark.parametrize("name", [" shop", "shop ", "shop\t"])
def test_names_are_validated_not_trimmed(app_client: TestClient, auth: dict[str, str], name: str) -> None:
    response = app_client.post("/v1/namespaces", json={"name": name, "apps": []}, headers=auth)
    assert response.status_code == 422
    assert ["body", "name"] in locations(response)
    # A key's name is free text on one line: kept as written, spaces and all.
    key_name = name.replace("\t", " ") + " "
    key = app_client.post("/v1/api-keys", json={"name": key_name, "scopes": ["account:read"]}, headers=auth)
    assert key.status_code == 201
    assert key.json()["name"] == key_name


def test_zone_less_times_are_a_422(app_client: TestClient, auth: dict[str, str]) -> None:
    body = {"name": "k", "scopes": ["account:read"], "expires_at": "2099-01-01T00:00:00"}
    response = app_client.post("/v1/api-keys", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert ["body", "expires_at"] in locations(response)
    zoned = app_client.post("/v1/api-keys", json={**body, "expires_at": "2099-01-01T00:00:00Z"}, headers=auth)
    assert zoned.status_code == 201
    for path in ("/v1/billing/transactions",):
        for param in ("since", "until"):
            answer = app_client.get(path, params={param: "2024-01-01T00:00:00"}, headers=auth)
            assert answer.status_code == 422, (path, param, answer.text)
            assert ["query", param] in locations(answer)


def test_zone_less_times_in_operator_filters_are_a_422(
    app_client: TestClient, db: Session, account: Account, make_key: Callable[..., str]
) -> None:
    auth = operator_auth(db, account, make_key)
    for param in ("since", "until"):
        response = app_client.get("/v1/operator/api-logs", params={param: "2024-01-01T00:00:00"}, headers=auth)
        assert response.status_code == 422
        assert ["query", param] in locations(response)


def test_api_key_scopes_are_an_enum_in_the_schema(app_client: TestClient) -> None:
    spec = app_client.get("/openapi.json").json()
    scopes = spec["components"]["schemas"]["ApiKeyCreate"]["properties"]["scopes"]
    assert sorted(scopes["items"]["enum"]) == sorted(KNOWN_SCOPES)


def test_an_unknown_scope_is_refused_naming_the_item(app_client: TestClient, auth: dict[str, str]) -> None:
    response = app_client.post("/v1/api-keys", json={"name": "k", "scopes": ["root:write"]}, headers=auth)
    assert response.status_code == 422
    assert ["body", "scopes", 0] in locations(response)


def test_paged_operations_document_the_cursor_error(app_client: TestClient) -> None:
    spec = app_client.get("/openapi.json").json()
    paged = [
        (path, method)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if any(parameter["name"] == "cursor" for parameter in operation.get("parameters", []))
    ]
    assert len(paged) >= 8
    for path, method in paged:
        assert "400" in spec["paths"][path][method]["responses"], (path, method)


def test_no_blanket_4xx_response_hides_what_an_operation_answers(app_client: TestClient) -> None:
    spec = app_client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert "4XX" not in operation["responses"], (path, method)
    healthz = spec["paths"]["/healthz"]["get"]["responses"]
    assert not [status for status in healthz if status.startswith("4")]
    namespace = spec["paths"]["/v1/namespaces/{name}"]["get"]["responses"]
    assert {"401", "403", "404", "422"} <= set(namespace)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/namespaces/shop", {"GET", "HEAD", "DELETE"}),
        ("/healthz", {"GET", "HEAD"}),
        ("/v1/api-keys", {"GET", "HEAD", "POST"}),
    ],
)
def test_unsupported_methods_name_every_allowed_method(
    app_client: TestClient, auth: dict[str, str], path: str, allowed: set[str]
) -> None:
    for method in ("OPTIONS", "PUT", "TRACE"):
        response = app_client.request(method, path, headers=auth)
        assert response.status_code == 405, (method, response.text)
        assert_error_shape(response.json(), "method_not_allowed")
        assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


def test_head_is_served_like_get_without_a_body(app_client: TestClient, auth: dict[str, str]) -> None:
    got = app_client.get("/v1/api-keys", headers=auth)
    head = app_client.head("/v1/api-keys", headers=auth)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert app_client.head("/v1/api-keys").status_code == 401  # authenticated like GET


def test_published_app_limits_are_the_ones_enforced(app_client: TestClient, auth: dict[str, str]) -> None:
    spec = app_client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    app_in = schemas["AppIn"]["properties"]
    assert app_in["replicas"]["maximum"] == 10
    assert app_in["cpu_millicores"]["maximum"] == 4000
    assert app_in["memory_mib"]["maximum"] == 8192
    assert app_in["name"]["maxLength"] == 40
    port = schemas["PortIn"]["properties"]["port"]
    assert port["minimum"] == 1024
    assert schemas["VolumeIn"]["properties"]["size_gib"]["maximum"] == 100
    patch = schemas["AppPatch"]["properties"]
    assert patch["replicas"]["anyOf"][0]["maximum"] == 10


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"replicas": 11}, ["body", "apps", 0, "replicas"]),
        ({"cpu_millicores": 4001}, ["body", "apps", 0, "cpu_millicores"]),
        ({"memory_mib": 8193}, ["body", "apps", 0, "memory_mib"]),
        ({"name": "a" * 41}, ["body", "apps", 0, "name"]),
        ({"ports": [{"name": "http", "port": 80}]}, ["body", "apps", 0, "ports", 0, "port"]),
        ({"volume": {"size_gib": 101, "mount_path": "/data"}}, ["body", "apps", 0, "volume", "size_gib"]),
    ],
)
def test_limits_are_refused_naming_the_field(
    app_client: TestClient, auth: dict[str, str], change: dict[str, Any], location: list[Any]
) -> None:
    response = app_client.post("/v1/namespaces", json={"name": "shop", "apps": [{**APP, **change}]}, headers=auth)
    assert response.status_code == 422
    assert location in locations(response), response.text


def test_a_configured_volume_limit_is_the_published_one(
    runtime: Any, make_key: Callable[..., str], account: Account, db: Session
) -> None:
    import dataclasses

    from controlplane.api.app import create_app

    settings = runtime.settings.model_copy(update={"platform_max_volume_size_gib": 250})
    app = create_app(dataclasses.replace(runtime, settings=settings))
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["VolumeIn"]["properties"]["size_gib"]["maximum"] == 250


def _strings_without_rules(node: Any, components: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Every string schema under ``node`` that states no pattern, enum, const or format."""
    if isinstance(node, list):
        return [found for i, item in enumerate(node) for found in _strings_without_rules(item, components, where, seen)]
    if not isinstance(node, dict):
        return []
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        return _strings_without_rules(components[name], components, f"{where} > {name}", {*seen, name})
    found = []
    if node.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(node):
        found.append(where)
    for key, child in node.items():
        if key in ("properties", "patternProperties"):
            for name, schema in child.items():
                found += _strings_without_rules(schema, components, f"{where}.{name}", seen)
        elif key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties", "propertyNames"):
            found += _strings_without_rules(child, components, where, seen)
    return found


def test_every_string_a_request_carries_states_what_it_accepts(app_client: TestClient) -> None:
    """The class-level guard: a new name, filter or field without a text type shows up here."""
    spec = app_client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    loose = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                where = f"{method.upper()} {path} {parameter['in']}:{parameter['name']}"
                loose += _strings_without_rules(parameter["schema"], components, where, set())
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                loose += _strings_without_rules(
                    content["schema"], components, f"{method.upper()} {path} {media}", set()
                )
    assert loose == []


def _request_models(base: type[ApiModel]) -> Iterator[type[ApiModel]]:
    for model in base.__subclasses__():
        yield model
        yield from _request_models(model)


def _strict_int(annotation: Any) -> bool:
    """An int somewhere in ``annotation`` that no ``INTEGRAL`` wraps (``Replicas | None`` keeps its own)."""
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *extras = typing.get_args(annotation)
        return INTEGRAL not in extras and _strict_int(inner)
    return annotation is int or any(_strict_int(argument) for argument in typing.get_args(annotation))


def test_every_integer_a_request_carries_takes_what_json_schema_calls_an_integer(app_client: TestClient) -> None:
    """The class-level guard for numbers: the document says `integer`, and JSON Schema's integers include 230.0,
    which a strict int refuses (schemathesis sent one to the rollback). Every int field takes ``INTEGRAL``."""
    import controlplane.devstack.api  # noqa: F401  (served by `controlplane dev` only, not by this app)

    assert app_client.get("/openapi.json").status_code == 200  # every feature's schemas are imported by now
    loose = [
        f"{model.__module__}.{model.__name__}.{name}"
        for model in set(_request_models(ApiModel))
        for name, field in model.model_fields.items()
        if INTEGRAL not in field.metadata and _strict_int(field.annotation)
    ]
    assert sorted(loose) == [], "\n".join(sorted(loose))


@pytest.fixture
def interpreter_recursion_limit() -> Iterator[None]:
    """The API process's recursion limit, Python's default (it imports nothing that changes it). The EVM's
    libraries that the billing tests import raise it to 100,000 for the whole test session (py_ecc does, on
    import), and at that limit a 100,000-deep JSON document overflows the C stack before Python can refuse it."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


@pytest.mark.usefixtures("interpreter_recursion_limit")
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_a_clear_error(app_client: TestClient, auth: dict[str, str], depth: int) -> None:
    for document in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        response = app_client.post(
            "/v1/namespaces", content=document, headers={**auth, "Content-Type": "application/json"}
        )
        assert response.status_code in (400, 422), response.text[:300]
        assert response.json()["error"]["code"] in ("malformed_json", "validation_error")


def test_lone_surrogates_are_refused(app_client: TestClient, auth: dict[str, str]) -> None:
    body = b'{"name": "ci\\ud800", "scopes": ["account:read"]}'
    response = app_client.post("/v1/api-keys", content=body, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert ["body", "name"] in locations(response)
    env = (
        b'{"name": "shop", "apps": [{"name": "web", "image": "nginx:1.27", '
        b'"ports": [{"name": "http", "port": 8080}], "env": {"A": "\\udfff"}}]}'
    )
    response = app_client.post("/v1/namespaces", content=env, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert ["body", "apps", 0, "env", "A"] in locations(response)
