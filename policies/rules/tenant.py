"""Tenant stacks: the namespace's baseline (Pod Security, quota, limits, network isolation), what may be
exposed (ClusterIP Services, TLS Ingresses on the platform class, only the namespace's own hosts), and
containment in the one namespace.

See `policies.tenancy` for how a stack is recognised as a tenant stack.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policies.kube import (
    BASE_DOMAIN_ANNOTATION,
    CUSTOM_DOMAINS_ANNOTATION,
    HOST_SUFFIX_LABEL,
    INGRESS,
    LIMIT_RANGE,
    NAMESPACE,
    NETWORK_POLICY,
    OPAQUE_TYPES,
    PSS_ENFORCE_LABEL,
    RESOURCE_QUOTA,
    SERVICE,
    annotations_of,
    is_cluster_scoped,
    is_kubernetes_object,
    labels_of,
    name_of,
    namespace_of,
)
from policies.props import get_path, items, mapping, strings
from policies.registry import Report, ResourceRule, ResourceView, RuleConfig, StackRule
from policies.rules.cloudflare import CUSTOM_HOSTNAME, DNS_RECORD, LEGACY_RECORD
from policies.tenancy import TENANT_PROJECT, is_tenant_namespace, project_of, tenant_namespaces

INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
ORIGIN_CA_CERTIFICATE = "cloudflare:index/originCaCertificate:OriginCaCertificate"
# The cluster's and the platform's own namespaces (programs.tenant.identity keeps the same list; a test holds
# them equal): a tenant Namespace is never one of them.
PLATFORM_NAMESPACES = ["default", "ingress-nginx", "kube-node-lease", "kube-public", "kube-system"]
PLATFORM_NAMESPACE_PREFIXES = ["cattle-", "kube-", "openshift-"]


def _tenant(views: Sequence[ResourceView]) -> tuple[ResourceView, str | None] | None:
    """The tenant Namespace and its name, or None in a stack that is not a tenant stack."""
    namespaces = tenant_namespaces(views)
    if not namespaces:
        return None
    return namespaces[0], name_of(namespaces[0].props)


def _in_tenant(views: Sequence[ResourceView], resource_type: str) -> Iterator[ResourceView]:
    """Resources of `resource_type` in the tenant namespace."""
    tenant = _tenant(views)
    if tenant is None:
        return
    for view in views:
        if view.type == resource_type and namespace_of(view.props) == tenant[1]:
            yield view


# --- identification and containment --------------------------------------------------------------


def tenant_stack_identified(views: Sequence[ResourceView], config: RuleConfig, report: Report) -> None:
    projects = set(strings(config.get("tenantProjects")))
    stack_projects = {project for view in views if (project := project_of(view.urn))}
    if stack_projects & projects and not tenant_namespaces(views):
        report(
            f"this stack of tenant project {sorted(stack_projects & projects)} declares no Namespace labelled "
            "controlplane.io/account, so the tenant rules cannot apply"
        )


def tenant_namespace_containment(views: Sequence[ResourceView], config: RuleConfig, report: Report) -> None:
    namespaces = tenant_namespaces(views)
    if not namespaces:
        return
    for extra in namespaces[1:]:
        report("a tenant stack declares exactly one labelled Namespace; this is another one", extra)
    tenant_name = name_of(namespaces[0].props)
    if not tenant_name:
        report("the tenant Namespace has no metadata.name", namespaces[0])
        return
    reserved = set(strings(config.get("platformNamespaces")))
    prefixes = tuple(strings(config.get("platformNamespacePrefixes")))
    if tenant_name in reserved or tenant_name.startswith(prefixes):
        report(f"the tenant Namespace {tenant_name!r} is a namespace of the cluster or the platform", namespaces[0])
    for view in views:
        if view is namespaces[0]:
            continue
        if view.type in OPAQUE_TYPES:
            report(
                f"{view.type} renders objects in the provider, out of admission's sight; declare them one by one", view
            )
        elif not is_kubernetes_object(view.type):
            continue
        elif is_cluster_scoped(view.type):
            report(f"cluster-scoped {view.type.rsplit(':', 1)[-1]} is not allowed in a tenant stack", view)
        else:
            namespace = namespace_of(view.props)
            if namespace != tenant_name:
                where = f"namespace {namespace!r}" if namespace else "no namespace (the provider default)"
                report(f"the object is in {where}, not the tenant namespace {tenant_name!r}", view)


# --- the namespace's baseline --------------------------------------------------------------------


def tenant_namespace_pod_security(view: ResourceView, config: RuleConfig, report: Report) -> None:
    if not is_tenant_namespace(view):
        return
    level = labels_of(view.props).get(PSS_ENFORCE_LABEL)
    if level != "restricted":
        report(f"the tenant namespace does not enforce Pod Security 'restricted' ({PSS_ENFORCE_LABEL}: {level!r})")


def tenant_resource_quota(views: Sequence[ResourceView], config: RuleConfig, report: Report) -> None:
    tenant = _tenant(views)
    if tenant is None:
        return
    quotas = [view for view in _in_tenant(views, RESOURCE_QUOTA) if mapping(get_path(view.props, "spec.hard"))]
    if not quotas:
        report(f"the tenant namespace {tenant[1]!r} has no ResourceQuota with hard limits", tenant[0])


def tenant_limit_range(views: Sequence[ResourceView], config: RuleConfig, report: Report) -> None:
    tenant = _tenant(views)
    if tenant is None:
        return
    ranges = [view for view in _in_tenant(views, LIMIT_RANGE) if items(get_path(view.props, "spec.limits"))]
    if not ranges:
        report(f"the tenant namespace {tenant[1]!r} has no LimitRange", tenant[0])


def _policy_types(spec: Mapping[str, Any]) -> set[str]:
    declared = strings(spec.get("policyTypes"))
    if declared:
        return set(declared)
    # The API's defaulting: Ingress always, Egress when egress rules exist.
    return {"Ingress", "Egress"} if "egress" in spec else {"Ingress"}


def _selects_all_pods(spec: Mapping[str, Any]) -> bool:
    selector = spec.get("podSelector")
    if selector is None:
        return False
    selector = mapping(selector)
    return not mapping(selector.get("matchLabels")) and not items(selector.get("matchExpressions"))


def is_default_deny(view: ResourceView) -> bool:
    """podSelector {}, policyTypes [Ingress, Egress], and no ingress or egress rule."""
    spec = mapping(view.props.get("spec"))
    return (
        _selects_all_pods(spec)
        and {"Ingress", "Egress"} <= _policy_types(spec)
        and not items(spec.get("ingress"))
        and not items(spec.get("egress"))
    )


def tenant_default_deny(views: Sequence[ResourceView], config: RuleConfig, report: Report) -> None:
    tenant = _tenant(views)
    if tenant is None:
        return
    if not any(is_default_deny(view) for view in _in_tenant(views, NETWORK_POLICY)):
        report(
            f"the tenant namespace {tenant[1]!r} has no default-deny NetworkPolicy (podSelector {{}}, "
            "policyTypes [Ingress, Egress], no rules)",
            tenant[0],
        )


def _network(text: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return None


def _contains(cidr: Any, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    network = _network(cidr)
    return network is not None and network.version == address.version and address in network


def tenant_metadata_endpoint_blocked(views: Sequence[ResourceView], config: RuleConfig, report: Report) -> None:
    """No egress rule reaches the cloud metadata endpoint, and an ipBlock rule excludes it explicitly."""
    tenant = _tenant(views)
    if tenant is None:
        return
    addresses = [ipaddress.ip_address(text) for text in strings(config.get("metadataAddresses"))]
    excluded = False
    for view in _in_tenant(views, NETWORK_POLICY):
        spec = mapping(view.props.get("spec"))
        if "Egress" not in _policy_types(spec):
            continue
        for index, rule in enumerate(items(spec.get("egress"))):
            peers = items(mapping(rule).get("to"))
            if not peers:
                report(f"egress rule #{index} allows every destination, the metadata endpoint included", view)
                continue
            for peer in peers:
                block = mapping(mapping(peer).get("ipBlock"))
                if not block:
                    continue  # pod/namespace selectors stay inside the cluster
                for address in addresses:
                    if not _contains(block.get("cidr"), address):
                        continue
                    if any(_contains(cidr, address) for cidr in strings(block.get("except"))):
                        excluded = True
                    else:
                        report(f"egress rule #{index} allows {block.get('cidr')}, which reaches {address}", view)
    if not excluded:
        report(
            f"no egress rule in the tenant namespace {tenant[1]!r} has an ipBlock excepting "
            f"{[str(a) for a in addresses]}",
            tenant[0],
        )


# --- what a tenant may expose --------------------------------------------------------------------


def tenant_services_cluster_ip(views: Sequence[ResourceView], config: RuleConfig, report: Report) -> None:
    if _tenant(views) is None:
        return
    for view in views:
        if view.type != SERVICE:
            continue
        spec = mapping(view.props.get("spec"))
        service_type = spec.get("type") or "ClusterIP"
        if service_type != "ClusterIP":
            report(f"the Service is of type {service_type}; tenant Services are ClusterIP only", view)
        if items(spec.get("externalIPs")):
            report("the Service sets externalIPs; tenant Services are reached through the ingress only", view)


def _host_covered(host: str, tls_hosts: Sequence[str]) -> bool:
    for pattern in tls_hosts:
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host and host.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def tenant_ingress_tls(views: Sequence[ResourceView], config: RuleConfig, report: Report) -> None:
    if _tenant(views) is None:
        return
    wanted_class = config.get("ingressClass")
    for view in views:
        if view.type != INGRESS:
            continue
        spec = mapping(view.props.get("spec"))
        ingress_class = spec.get("ingressClassName") or annotations_of(view.props).get(INGRESS_CLASS_ANNOTATION)
        if ingress_class != wanted_class:
            report(f"the Ingress uses class {ingress_class!r}, not the platform's {wanted_class!r}", view)
        if spec.get("defaultBackend") is not None:
            report("the Ingress sets a defaultBackend (a catch-all for every host); route named hosts only", view)
        tls_entries = [mapping(entry) for entry in items(spec.get("tls"))]
        tls_hosts = [host for entry in tls_entries for host in strings(entry.get("hosts"))]
        rules = [mapping(rule) for rule in items(spec.get("rules"))]
        if not rules:
            report("the Ingress has no rules", view)
        for index, rule in enumerate(rules):
            host = rule.get("host")
            if not isinstance(host, str) or not host:
                report(f"rule #{index} has no host, so no TLS certificate can cover it", view)
            elif not _host_covered(host, tls_hosts):
                report(f"host {host!r} is not covered by the Ingress's tls hosts {tls_hosts}", view)


# --- whose hosts -------------------------------------------------------------------------------


def _domains(text: Any) -> set[str]:
    return {part.strip() for part in text.split(",") if part.strip()} if isinstance(text, str) else set()


def _platform_host(host: str, base_domain: str, suffix: str) -> bool:
    """`<app>-<display>-<suffix>.<base domain>`: one label under the base domain ending with `-<suffix>`."""
    label, dot, rest = host.partition(".")
    return bool(dot) and rest == base_domain and label.endswith(f"-{suffix}") and len(label) > len(suffix) + 1


def tenant_hosts_owned(views: Sequence[ResourceView], config: RuleConfig, report: Report) -> None:
    """Every host the stack serves, proxies or certifies is the namespace's own: a platform hostname with its host
    suffix, or one of its verified custom domains. The tenant Namespace says which (its host-suffix label, its
    base-domain and custom-domains annotations); `baseDomain`, when configured, must agree with it."""
    tenant = _tenant(views)
    if tenant is None:
        return
    namespace = tenant[0]
    suffix = labels_of(namespace.props).get(HOST_SUFFIX_LABEL)
    annotations = annotations_of(namespace.props)
    declared_base = annotations.get(BASE_DOMAIN_ANNOTATION)
    base_domain = config.get("baseDomain") or declared_base
    if config.get("baseDomain") and declared_base != config.get("baseDomain"):
        report(f"the tenant Namespace declares base domain {declared_base!r}, not {base_domain!r}", namespace)
    verified = _domains(annotations.get(CUSTOM_DOMAINS_ANNOTATION))

    def platform_host(host: str) -> bool:
        return isinstance(suffix, str) and isinstance(base_domain, str) and _platform_host(host, base_domain, suffix)

    def check(host: Any, view: ResourceView, what: str, *, custom_allowed: bool = True) -> None:
        if not isinstance(host, str) or not host:
            return  # a missing host is the TLS rule's to report
        if platform_host(host) or (custom_allowed and host in verified):
            return
        report(f"{what} {host!r} is neither this namespace's platform hostname nor one of its verified domains", view)

    for view in views:
        if view.type == INGRESS:
            spec = mapping(view.props.get("spec"))
            for rule in items(spec.get("rules")):
                check(mapping(rule).get("host"), view, "the Ingress host")
            for entry in items(spec.get("tls")):
                for host in strings(mapping(entry).get("hosts")):
                    check(host, view, "the Ingress TLS host")
        elif view.type == CUSTOM_HOSTNAME:
            check(view.props.get("hostname"), view, "the custom hostname")
        elif view.type in (DNS_RECORD, LEGACY_RECORD):
            check(view.props.get("name"), view, "the DNS record", custom_allowed=False)
        elif view.type == ORIGIN_CA_CERTIFICATE:
            for host in strings(view.props.get("hostnames")):
                check(host, view, "the origin certificate's hostname", custom_allowed=False)


STACK_RULES: tuple[StackRule, ...] = (
    StackRule(
        name="tenant-stack-identified",
        description="A stack of a tenant project must declare its Namespace labelled controlplane.io/account.",
        check=tenant_stack_identified,
        config_schema={
            "tenantProjects": {
                "type": "array",
                "items": {"type": "string"},
                "default": [TENANT_PROJECT],
                "description": "Pulumi project names whose stacks are tenant stacks.",
            },
        },
    ),
    StackRule(
        name="tenant-namespace-containment",
        description="Every namespaced object of a tenant stack lives in the tenant's namespace; no other "
        "cluster-scoped object; the tenant's namespace is none of the cluster's or the platform's.",
        check=tenant_namespace_containment,
        config_schema={
            "platformNamespaces": {
                "type": "array",
                "items": {"type": "string"},
                "default": PLATFORM_NAMESPACES,
                "description": "Namespaces of the cluster and the platform, never a tenant's.",
            },
            "platformNamespacePrefixes": {
                "type": "array",
                "items": {"type": "string"},
                "default": PLATFORM_NAMESPACE_PREFIXES,
                "description": "Prefixes of namespaces that are never a tenant's.",
            },
        },
    ),
    StackRule(
        name="tenant-hosts-owned",
        description="Every Ingress host, DNS record, custom hostname and origin certificate host of a tenant stack "
        "is the namespace's own platform hostname or one of its verified custom domains.",
        check=tenant_hosts_owned,
        config_schema={
            "baseDomain": {
                "type": "string",
                "default": "",
                "description": "The platform's base domain; empty: the one the tenant Namespace declares.",
            },
        },
    ),
    StackRule(
        name="tenant-resource-quota",
        description="The tenant namespace must have a ResourceQuota.",
        check=tenant_resource_quota,
    ),
    StackRule(
        name="tenant-limit-range",
        description="The tenant namespace must have a LimitRange.",
        check=tenant_limit_range,
    ),
    StackRule(
        name="tenant-default-deny",
        description="The tenant namespace must have a default-deny NetworkPolicy for ingress and egress.",
        check=tenant_default_deny,
    ),
    StackRule(
        name="tenant-metadata-endpoint-blocked",
        description="Tenant egress must never reach the cloud metadata endpoint (169.254.169.254).",
        check=tenant_metadata_endpoint_blocked,
        config_schema={
            "metadataAddresses": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["169.254.169.254"],
                "description": "Addresses every egress ipBlock must except (add fd00:ec2::254 with IPv6).",
            },
        },
    ),
    StackRule(
        name="tenant-services-cluster-ip",
        description="Tenant Services must be ClusterIP (no NodePort, LoadBalancer, ExternalName, externalIPs).",
        check=tenant_services_cluster_ip,
    ),
    StackRule(
        name="tenant-ingress-tls",
        description="Tenant Ingresses must use the platform's ingress class and TLS covering every host.",
        check=tenant_ingress_tls,
        config_schema={"ingressClass": {"type": "string", "default": "nginx"}},
    ),
)

RULES: tuple[ResourceRule | StackRule, ...] = (
    ResourceRule(
        name="tenant-namespace-pod-security",
        description="Tenant namespaces must enforce the Pod Security 'restricted' standard.",
        check=tenant_namespace_pod_security,
        resource_types=frozenset({NAMESPACE}),
    ),
    *STACK_RULES,
)
