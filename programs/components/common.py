"""Plumbing every component shares: the argument base model, label keys, child options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict

MANAGED_BY = "controlplane"

LABEL_ACCOUNT = "controlplane.io/account"
LABEL_NAMESPACE = "controlplane.io/namespace"  # the namespace's id, not its (per-account) display name
LABEL_HOST_SUFFIX = "controlplane.io/host-suffix"
# On the tenant Namespace: what the policy pack checks every host of the stack against.
ANNOTATION_DISPLAY_NAME = "controlplane.io/display-name"
ANNOTATION_BASE_DOMAIN = "controlplane.io/base-domain"
ANNOTATION_CUSTOM_DOMAINS = "controlplane.io/custom-domains"  # comma-separated, the verified ones
LABEL_APP = "controlplane.io/app"
LABEL_K8S_NAME = "app.kubernetes.io/name"
LABEL_K8S_MANAGED_BY = "app.kubernetes.io/managed-by"

POD_SECURITY_MODES = ("enforce", "audit", "warn")


class ComponentArgs(BaseModel):
    """Base of every component's arguments: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class OutputComponentArgs(BaseModel):
    """Arguments that may carry `pulumi.Output`s (resources wired to each other inside one program)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Component(pulumi.ComponentResource):
    """Base of the project's components.

    Children declared through `child_opts` are parented to the component (so they inherit its providers) and
    also wait for everything the component was told to depend on: the Python SDK does not pass a component's
    `depends_on` down to its children, and a Deployment must not start before its namespace exists.
    """

    def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_, name, None, opts)
        self._inherited_depends_on = _resources(opts.depends_on if opts is not None else None)

    def child_opts(self, *, depends_on: Sequence[pulumi.Resource] = (), **kwargs: Any) -> pulumi.ResourceOptions:
        dependencies = [*self._inherited_depends_on, *depends_on]
        return pulumi.ResourceOptions(parent=self, depends_on=dependencies or None, **kwargs)


def _resources(depends_on: object) -> list[pulumi.Resource]:
    if depends_on is None:
        return []
    if isinstance(depends_on, pulumi.Resource):
        return [depends_on]
    if isinstance(depends_on, list | tuple) and all(isinstance(item, pulumi.Resource) for item in depends_on):
        return list(depends_on)
    raise TypeError("components take depends_on as a Resource or a list of Resources")


def pod_security_labels(level: str, version: str) -> dict[str, str]:
    """Pod Security Admission labels enforcing, auditing and warning at `level`, pinned to `version`."""
    labels: dict[str, str] = {}
    for mode in POD_SECURITY_MODES:
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


def cpu_quantity(millicores: int) -> str:
    return f"{millicores}m" if millicores else "0"


def memory_quantity(mib: int) -> str:
    return f"{mib}Mi" if mib else "0"


def storage_quantity(gib: int) -> str:
    return f"{gib}Gi" if gib else "0"


# Inputs of components wired to other resources' outputs in the same program.
StrInput = str | pulumi.Output[str]
