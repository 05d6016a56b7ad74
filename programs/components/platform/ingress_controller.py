"""`controlplane:platform:IngressController`: ingress-nginx in its own namespace, behind an AWS NLB."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from programs.components.common import Component, ComponentArgs, pod_security_labels

CHART_REPOSITORY = "https://kubernetes.github.io/ingress-nginx"
RELEASE_NAME = "ingress-nginx"
CONTROLLER_SERVICE = f"{RELEASE_NAME}-controller"


class IngressControllerArgs(ComponentArgs):
    namespace: str = "ingress-nginx"
    ingress_class: str = "nginx"
    chart_version: str
    replicas: int = Field(default=2, ge=1)
    pod_security_version: str = "latest"


class IngressController(Component):
    """The ingress class tenants' Ingresses use. Its Service is a LoadBalancer the AWS cloud controller turns
    into an internet-facing NLB; `load_balancer_hostname` is the CNAME target of every platform hostname."""

    namespace: k8s.core.v1.Namespace
    release: k8s.helm.v3.Release
    namespace_name: str
    ingress_class: str
    load_balancer_hostname: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: IngressControllerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("controlplane:platform:IngressController", resource_name, opts)
        self.namespace_name = args.namespace
        self.ingress_class = args.ingress_class
        self.namespace = k8s.core.v1.Namespace(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace,
                # The controller binds 80/443 (NET_BIND_SERVICE): baseline, not restricted.
                labels=pod_security_labels("baseline", args.pod_security_version),
            ),
            opts=self.child_opts(),
        )
        self.release = k8s.helm.v3.Release(
            resource_name,
            name=RELEASE_NAME,
            chart="ingress-nginx",
            version=args.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=args.namespace,
            values=_values(args),
            atomic=True,
            cleanup_on_fail=True,
            opts=self.child_opts(depends_on=[self.namespace]),
        )
        service = k8s.core.v1.Service.get(
            f"{resource_name}-controller",
            pulumi.Output.concat(self.release.status.namespace, "/", CONTROLLER_SERVICE),
            opts=self.child_opts(depends_on=[self.release]),
        )
        self.load_balancer_hostname = service.status.apply(_hostname)
        self.register_outputs(
            {
                "namespace": self.namespace_name,
                "ingress_class": self.ingress_class,
                "load_balancer_hostname": self.load_balancer_hostname,
            }
        )


def _values(args: IngressControllerArgs) -> dict[str, Any]:
    return {
        "controller": {
            "replicaCount": args.replicas,
            "ingressClassResource": {
                "name": args.ingress_class,
                "controllerValue": f"k8s.io/{args.ingress_class}",
                "default": False,
            },
            "watchIngressWithoutClass": False,
            "service": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Local",
                "annotations": {
                    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                    "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
                },
            },
            "config": {"ssl-protocols": "TLSv1.2 TLSv1.3", "use-forwarded-headers": "false"},
            "minAvailable": 1,
            "metrics": {"enabled": True},
        }
    }


def _hostname(status: Any) -> str:
    ingress = status.load_balancer.ingress if status and status.load_balancer else None
    hostname = ingress[0].hostname if ingress else None
    if not hostname:
        raise ValueError(f"the {CONTROLLER_SERVICE} Service has no load balancer hostname yet")
    return str(hostname)
