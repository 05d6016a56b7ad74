"""Value types shared by the tenant components and the tenant spec."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, field_validator

from programs.components import validation
from programs.components.common import ComponentArgs

# Tells the Kubernetes provider not to wait for an object to become ready (or, for the kinds that allow it,
# to be gone after a delete): https://www.pulumi.com/registry/packages/kubernetes/installation-configuration/
SKIP_AWAIT_ANNOTATION = "pulumi.com/skipAwait"


def object_annotations(await_readiness: bool) -> dict[str, str] | None:
    """The annotations every Kubernetes object of a tenant's stack carries (the one place that decides them).

    With `await_readiness` false every object is marked `pulumi.com/skipAwait: "true"`: for clusters without
    workload controllers (a bare API server in tests), where a Deployment never becomes ready and a deleted
    Namespace stays Terminating. Pod templates are not objects of their own and are left alone.
    """
    return None if await_readiness else {SKIP_AWAIT_ANNOTATION: "true"}


class ContainerPort(ComponentArgs):
    """A TCP port the app's container listens on. At most one port per app is `public` (served by the Ingress
    on the app's hostnames); the health checks probe the public port, or the first port when none is."""

    name: str
    port: int = Field(ge=1024, le=65535, description="non-root containers cannot bind below 1024")
    public: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validation.port_name(value)


def check_ports(ports: Sequence[ContainerPort], *, prefix: str = "") -> None:
    """Port names and numbers unique, at most one public; ``prefix`` names the field in the message."""
    if len({port.name for port in ports}) != len(ports):
        raise ValueError(f"{prefix}port names must be unique")
    if len({port.port for port in ports}) != len(ports):
        raise ValueError(f"{prefix}port numbers must be unique")
    if sum(port.public for port in ports) > 1:
        raise ValueError(f"{prefix}at most one port may be public")
