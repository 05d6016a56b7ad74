"""Hand-written resources in wire form (camelCase), compliant unless a test breaks them."""

from __future__ import annotations

import copy
from typing import Any

from policies.registry import ResourceRule, ResourceView, StackRule
from policies.rules import BY_NAME

TENANT_NS = "acme-web"
HOST_SUFFIX = "abcd1234"
BASE_DOMAIN = "apps.example.net"
PLATFORM_HOST = f"web-acme-web-{HOST_SUFFIX}.{BASE_DOMAIN}"
VERIFIED_DOMAIN = "shop.example.com"


def view(resource_type: str, props: dict[str, Any], name: str = "res", project: str = "tenant") -> ResourceView:
    return ResourceView(
        type=resource_type, name=name, props=props, urn=f"urn:pulumi:dev::{project}::{resource_type}::{name}"
    )


def container(name: str = "app", image: str = "ghcr.io/acme/web:1.4.2") -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 8080}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def pod_spec() -> dict[str, Any]:
    return {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [container("migrate")],
        "containers": [container()],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
    }


def deployment(spec: dict[str, Any] | None = None, namespace: str = TENANT_NS) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec or pod_spec()},
        },
    }


def pvc(storage_class: str | None = "gp3-encrypted", size: str = "10Gi") -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": "data", "namespace": TENANT_NS}, "spec": spec}


def namespace(enforce: str | None = "restricted") -> dict[str, Any]:
    labels = {"controlplane.io/account": "acc_123", "controlplane.io/host-suffix": HOST_SUFFIX}
    if enforce is not None:
        labels["pod-security.kubernetes.io/enforce"] = enforce
    annotations = {"controlplane.io/base-domain": BASE_DOMAIN, "controlplane.io/custom-domains": VERIFIED_DOMAIN}
    return {"metadata": {"name": TENANT_NS, "labels": labels, "annotations": annotations}}


def default_deny() -> dict[str, Any]:
    return {
        "metadata": {"name": "default-deny", "namespace": TENANT_NS},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def egress_internet() -> dict[str, Any]:
    return {
        "metadata": {"name": "allow-egress", "namespace": TENANT_NS},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "10.0.0.0/8"]}}]},
                {
                    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                    "ports": [{"port": 53, "protocol": "UDP"}],
                },
            ],
        },
    }


def service(service_type: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
    if service_type is not None:
        spec["type"] = service_type
    return {"metadata": {"name": "web", "namespace": TENANT_NS}, "spec": spec}


def ingress(
    hosts: tuple[str, ...] = (PLATFORM_HOST, VERIFIED_DOMAIN), tls_hosts: tuple[str, ...] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": TENANT_NS},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": list(hosts if tls_hosts is None else tls_hosts), "secretName": "web-tls"}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
                for host in hosts
            ],
        },
    }


def dns_record(record_type: str = "CNAME", proxied: bool | None = True) -> dict[str, Any]:
    props: dict[str, Any] = {
        "zoneId": "zone",
        "name": PLATFORM_HOST,
        "type": record_type,
        "content": "lb.example.net",
        "ttl": 1,
    }
    if proxied is not None:
        props["proxied"] = proxied
    return props


def tenant_stack() -> list[ResourceView]:
    """A compliant tenant stack (the outputs CrossGuard's stack policies see)."""
    return [
        view("kubernetes:core/v1:Namespace", namespace(), "ns"),
        view(
            "kubernetes:core/v1:ResourceQuota",
            {"metadata": {"name": "quota", "namespace": TENANT_NS}, "spec": {"hard": {"limits.cpu": "4"}}},
            "quota",
        ),
        view(
            "kubernetes:core/v1:LimitRange",
            {
                "metadata": {"name": "limits", "namespace": TENANT_NS},
                "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}}]},
            },
            "limits",
        ),
        view("kubernetes:networking.k8s.io/v1:NetworkPolicy", default_deny(), "deny"),
        view("kubernetes:networking.k8s.io/v1:NetworkPolicy", egress_internet(), "egress"),
        view("kubernetes:apps/v1:Deployment", deployment(), "web"),
        view("kubernetes:core/v1:Service", service(), "web-svc"),
        view("kubernetes:networking.k8s.io/v1:Ingress", ingress(), "web-ing"),
        view("kubernetes:core/v1:PersistentVolumeClaim", pvc(), "data"),
        view("cloudflare:index/dnsRecord:DnsRecord", dns_record(), "dns"),
        view("pulumi:providers:kubernetes", {"kubeconfig": "{}"}, "k8s"),
    ]


def replace(views: list[ResourceView], name: str, props: dict[str, Any]) -> list[ResourceView]:
    """`views` with the resource called `name` given new props."""
    return [ResourceView(type=v.type, name=v.name, props=props, urn=v.urn) if v.name == name else v for v in views]


def deep(value: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(value)


def resource_rule(name: str) -> ResourceRule:
    rule = BY_NAME[name]
    assert isinstance(rule, ResourceRule), f"{name} is a {rule.kind} rule"
    return rule


def stack_rule(name: str) -> StackRule:
    rule = BY_NAME[name]
    assert isinstance(rule, StackRule), f"{name} is a {rule.kind} rule"
    return rule
