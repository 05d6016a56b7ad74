"""Request and response shapes of the namespaces API, and the YAML configuration document."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from controlplane.api.schemas import ApiModel, ResponseModel


class PortIn(ApiModel):
    name: str = Field(min_length=1, max_length=15)
    port: int = Field(ge=1, le=65535)
    public: bool = False


class VolumeIn(ApiModel):
    size_gib: int = Field(ge=1)
    mount_path: str = Field(min_length=1, max_length=255)


class AppIn(ApiModel):
    name: str = Field(min_length=1, max_length=63)
    image: str = Field(min_length=1, max_length=512)
    replicas: int = Field(default=1, ge=0, le=1000)
    cpu_millicores: int = Field(default=250, ge=1)
    memory_mib: int = Field(default=256, ge=1)
    ports: list[PortIn] = Field(min_length=1, max_length=20)
    env: dict[str, str] = Field(default_factory=dict)
    volume: VolumeIn | None = None
    health_check_path: str = "/"
    custom_domains: list[str] = Field(default_factory=list, max_length=50)


class AppPatch(ApiModel):
    """Fields to change; those left out keep their value. A volume can grow, never shrink."""

    image: str | None = Field(default=None, min_length=1, max_length=512)
    replicas: int | None = Field(default=None, ge=0, le=1000)
    cpu_millicores: int | None = Field(default=None, ge=1)
    memory_mib: int | None = Field(default=None, ge=1)
    ports: list[PortIn] | None = Field(default=None, min_length=1, max_length=20)
    env: dict[str, str] | None = None
    volume: VolumeIn | None = None
    health_check_path: str | None = None
    custom_domains: list[str] | None = Field(default=None, max_length=50)


class NamespaceCreate(ApiModel):
    name: str = Field(min_length=1, max_length=63)
    apps: list[AppIn] = Field(default_factory=list, max_length=50)


class NamespaceConfig(ApiModel):
    """The YAML document ``GET .../config`` exports and ``PUT .../config`` applies."""

    apiVersion: Literal["controlplane.io/v1"] = "controlplane.io/v1"  # noqa: N815
    kind: Literal["Namespace"] = "Namespace"
    name: str = Field(min_length=1, max_length=63)
    apps: list[AppIn] = Field(default_factory=list, max_length=50)


class Condition(ResponseModel):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    at: datetime | None = None


class NamespaceOut(ResponseModel):
    id: uuid.UUID
    name: str
    desired_state: str
    status: str
    generation: int
    observed_generation: int
    drift_detected: bool
    last_error: str | None
    conditions: list[dict[str, Any]]
    outputs: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    suspended_at: datetime | None
    volumes_released_at: datetime | None
    apps: list[dict[str, Any]]
    hourly_cost: int = Field(description="The desired state's price per hour, in micro-credits")
    running_revision: int | None = Field(description="The revision applied now (null: none yet)")
    wanted_revision: int = Field(description="The newest revision, which the reconcile applies")


class Accepted(ResponseModel):
    """A write was stored; the reconcile that applies it runs in the background."""

    namespace: str
    generation: int
    status: str


class OperationOut(ResponseModel):
    id: uuid.UUID
    kind: str
    generation: int
    result: str
    attempt: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    changes: dict[str, int]
    error: str | None


class DnsChallenge(ResponseModel):
    """The DNS record that proves control of a domain: create it, then ask for a check."""

    type: Literal["TXT"] = "TXT"
    name: str
    value: str


class DomainOut(ResponseModel):
    domain: str
    status: str  # pending (not routed) or verified
    challenge: DnsChallenge
    created_at: datetime
    verified_at: datetime | None
    last_checked_at: datetime | None
    failing_since: datetime | None  # a re-check found the record gone: restore it before the grace ends
    last_error: str | None
