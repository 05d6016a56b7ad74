"""Value types shared by the tenant components and the tenant spec."""

from __future__ import annotations

from pydantic import Field, field_validator

from programs.components import validation
from programs.components.common import ComponentArgs


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
