"""The wire form of declarations against the SDK itself, for what the tenant program does not declare today
(a secret inside a plain map, a secret inside a secret, a secret output read by another resource, provider
settings that are not strings): each case is declared through the SDK under mocks and read by the fast path."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_kubernetes as k8s
import pytest

from policies.declared import record_declarations
from policies.offline import collect_resources
from programs.components.declaration import Declaration, OutputOf, Secret
from programs.components.wire import UnsupportedDeclaration, wire_inputs
from tests.policies.test_declared_equivalence import _typed

ZONE_ID = "0123456789abcdef0123456789abcdef"
METADATA = k8s.meta.v1.ObjectMetaArgs(name="settings", namespace="acme", labels={"tier": "web"})


def _record() -> Declaration[cloudflare.DnsRecord]:
    fields = {"zone_id": ZONE_ID, "name": "web.example.net", "type": "CNAME", "content": "lb.example.net", "ttl": 1}
    return Declaration(cloudflare.DnsRecord, "web", fields)


def _certificate() -> Declaration[cloudflare.OriginCaCertificate]:
    fields = {"csr": Secret("CSR"), "hostnames": ("web.example.net",), "request_type": "origin-ecc"}
    return Declaration(cloudflare.OriginCaCertificate, "origin", fields)


def _config_map(data: dict[str, Any]) -> Declaration[k8s.core.v1.ConfigMap]:
    return Declaration(k8s.core.v1.ConfigMap, "settings", {"metadata": METADATA, "data": data})


def _cases() -> dict[str, list[Declaration[Any]]]:
    record, certificate = _record(), _certificate()
    return {
        "secret-in-a-plain-map": [_config_map({"token": Secret("s3cret"), "mode": "fast", "unset": None})],
        "secret-in-a-secret": [
            Declaration(
                k8s.core.v1.Secret,
                "creds",
                {"metadata": METADATA, "string_data": Secret({"user": "u", "password": Secret("p")})},
            )
        ],
        "outputs-read-by-another-resource": [
            record,
            certificate,
            _config_map({"host": OutputOf(record, "name"), "csr": OutputOf(certificate, "csr")}),
        ],
        "numbers-and-lists": [
            Declaration(
                k8s.core.v1.Service,
                "web",
                {
                    "metadata": METADATA,
                    "spec": k8s.core.v1.ServiceSpecArgs(
                        ports=[k8s.core.v1.ServicePortArgs(port=80, target_port=8080)],
                        external_ips=("10.0.0.1", "10.0.0.2"),
                    ),
                },
            )
        ],
        "provider-settings": [
            Declaration(
                k8s.Provider,
                "kubernetes",
                {"render_yaml_to_directory": "/srv/out", "enable_server_side_apply": False, "namespace": "acme"},
            ),
            Declaration(cloudflare.Provider, "cloudflare", {"api_token": Secret("t"), "base_url": "https://cf"}),
        ],
    }


def _declare_all(declarations: list[Declaration[Any]]) -> None:
    created: dict[Declaration[Any], pulumi.CustomResource] = {}
    for declaration in declarations:
        created[declaration] = declaration.declare(pulumi.ResourceOptions(), created)


@pytest.mark.parametrize("case", sorted(_cases()))
def test_declarations_read_as_the_sdk_sends_them(case: str) -> None:
    declarations = _cases()[case]
    through_the_sdk = collect_resources(lambda: _declare_all(declarations), project="wire", stack="test")
    read = record_declarations(declarations, stack="test", project="wire")
    assert {r.urn: _typed(dict(r.inputs)) for r in read} == {r.urn: _typed(dict(r.inputs)) for r in through_the_sdk}
    assert {r.urn: _typed(dict(r.outputs)) for r in read} == {r.urn: _typed(dict(r.outputs)) for r in through_the_sdk}


def test_a_plain_dict_where_the_sdk_expects_its_args_type_is_not_guessed() -> None:
    declaration = Declaration(k8s.core.v1.ConfigMap, "settings", {"metadata": {"name": "settings"}})
    with pytest.raises(UnsupportedDeclaration, match="ObjectMetaArgs"):
        wire_inputs(declaration, lambda reference: None)


def test_an_argument_the_resource_does_not_take_is_refused() -> None:
    declaration = Declaration(k8s.core.v1.ConfigMap, "settings", {"metadata": METADATA, "colour": "blue"})
    with pytest.raises(UnsupportedDeclaration, match="colour"):
        wire_inputs(declaration, lambda reference: None)
