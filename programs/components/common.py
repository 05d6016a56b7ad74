"""Plumbing every component shares: the argument base model, label keys, child options."""

from __future__ import annotations

from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict

MANAGED_BY = "controlplane"

LABEL_ACCOUNT = "controlplane.io/account"
LABEL_NAMESPACE = "controlplane.io/namespace"
LABEL_APP = "controlplane.io/app"
LABEL_K8S_NAME = "app.kubernetes.io/name"
LABEL_K8S_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_K8S_PART_OF = "app.kubernetes.io/part-of"

POD_SECURITY_MODES = ("enforce", "audit", "warn")


class ComponentArgs(BaseModel):
    """Base of every component's arguments: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class OutputComponentArgs(BaseModel):
    """Arguments that may carry `pulumi.Output`s (resources wired to each other inside one program)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def child_opts(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    """Options of a component's child: parented to the component, so it inherits its providers."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)


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
