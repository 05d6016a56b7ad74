"""Request and response shapes of the namespaces API, and the YAML configuration document."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints
from sqlalchemy import String

from controlplane.api.contract import SettingsLimit
from controlplane.api.schemas import ApiModel, ResponseModel
from controlplane.api.text import INTEGRAL, NO_CONTROL_CHARACTERS, EnvValue
from controlplane.deployments.models import App, Namespace, Status
from programs.components import validation
from programs.components.tenant.app import APP_NAME_MAX
from programs.components.tenant.models import ContainerPort
from programs.tenant.identity import RESERVED_NAMES, RESERVED_PREFIXES
from programs.tenant.spec import (
    MAX_APPS,
    MAX_ENV_VARS,
    AppSpec,
    AppVolume,
    PlatformSettings,
)

# Every rule that concerns one field is here, in the field's type, so the OpenAPI document publishes it as it is
# enforced and a refusal names the field. The bounds come from the definitions the tenant spec validates with.
# What no schema can say (rules across fields, the platform's policy) is checked by admission, answered with a 422
# whose code is not ``validation_error`` (see ``spec.build_tenant_spec``).


def _bound(model: type[Any], field: str, name: str) -> Any:
    """A numeric bound (``ge``, ``le``) or the default of ``model``'s field: the single source of a limit."""
    info = model.model_fields[field]
    if name == "default":
        return info.default
    return next(getattr(item, name) for item in info.metadata if getattr(item, name, None) is not None)


MAX_REPLICAS: int = _bound(PlatformSettings, "max_replicas", "default")
MAX_CPU_MILLICORES: int = _bound(PlatformSettings, "max_app_cpu_millicores", "default")
MAX_MEMORY_MIB: int = _bound(PlatformSettings, "max_app_memory_mib", "default")
MIN_CPU_MILLICORES: int = _bound(AppSpec, "cpu_millicores", "ge")
MIN_MEMORY_MIB: int = _bound(AppSpec, "memory_mib", "ge")
MIN_PORT: int = _bound(ContainerPort, "port", "ge")
MAX_PORT: int = _bound(ContainerPort, "port", "le")
MIN_VOLUME_GIB: int = _bound(AppVolume, "size_gib", "ge")
# The hard ceiling of the setting ``platform_max_volume_size_gib``; the OpenAPI document publishes the configured
# value (``SETTINGS_LIMITS``) and admission enforces it, naming the field.
VOLUME_GIB_CEILING: int = _bound(PlatformSettings, "max_volume_size_gib", "le")
# What the apps table stores (``App.volume_mount_path``, ``App.health_check_path``): shorter than the spec allows.
STORED_PATH_MAX: int = min(
    column.type.length
    for column in (App.__table__.c.health_check_path, App.__table__.c.volume_mount_path)
    if isinstance(column.type, String) and column.type.length
)
RESERVED_NAMESPACE_PATTERN = (
    "^(" + "|".join([*sorted(RESERVED_NAMES), *(f"{prefix}.*" for prefix in RESERVED_PREFIXES)]) + ")$"
)
RESERVED_MOUNT_PATTERN = "^(" + "|".join(validation.RESERVED_MOUNT_ROOTS) + ")(/|$)"
# Absolute and normalised: no empty, '.' or '..' segment, no trailing '/', and no control characters.
_SEGMENT_CHAR = r"[^/\x00-\x1f\x7f-\x9f]"
_SEGMENT = (
    rf"(?:[^/.\x00-\x1f\x7f-\x9f]{_SEGMENT_CHAR}*|\.[^/.\x00-\x1f\x7f-\x9f]{_SEGMENT_CHAR}*|\.\.{_SEGMENT_CHAR}+)"
)
MOUNT_PATH_PATTERN = rf"^(/{_SEGMENT})+$"


def _image(value: str) -> str:
    validation.parse_image_reference(value)
    return value


def _mount_path(value: str) -> str:
    return validation.mount_path(value)


NamespaceName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=validation.DNS_LABEL_MAX, pattern=validation.DNS1123_LABEL_PATTERN),
    # Reserved names (the platform's namespaces, common add-ons, `kube-*`, ...) are published here and refused
    # by the service with 422 `name_reserved` (deployments.service.create_namespace).
    Field(
        description="A DNS label, unique within the account; not a reserved name (422 `name_reserved`)",
        json_schema_extra={"not": {"pattern": RESERVED_NAMESPACE_PATTERN}},
    ),
]
AppName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=APP_NAME_MAX, pattern=validation.DNS1035_LABEL_PATTERN),
    Field(description="A DNS label starting with a letter"),
]
PortName = Annotated[
    str, StringConstraints(min_length=1, max_length=validation.PORT_NAME_MAX, pattern=validation.PORT_NAME_PATTERN)
]
Image = Annotated[
    str,
    StringConstraints(min_length=1, max_length=validation.IMAGE_REFERENCE_MAX, pattern=validation.PINNED_IMAGE_PATTERN),
    Field(
        description="A pinned image reference: a version tag (not `latest`) or a sha256 digest",
        json_schema_extra={"not": {"pattern": validation.LATEST_TAG_PATTERN}},
    ),
    AfterValidator(_image),
]
EnvName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=validation.ENV_NAME_PATTERN)]
Env = Annotated[
    dict[EnvName, EnvValue],
    Field(
        max_length=MAX_ENV_VARS,
        description="Values are kept exactly as sent (any text but NUL)",
        # pydantic states a key's pattern as patternProperties only, which leaves other keys allowed: say it all.
        json_schema_extra={
            "propertyNames": {"minLength": 1, "maxLength": 256, "pattern": validation.ENV_NAME_PATTERN},
            "additionalProperties": False,
        },
    ),
]
MountPath = Annotated[
    str,
    StringConstraints(min_length=2, max_length=STORED_PATH_MAX, pattern=MOUNT_PATH_PATTERN),
    Field(
        description="An absolute, normalised directory; not under /proc, /sys, /dev or /tmp",
        json_schema_extra={"not": {"pattern": RESERVED_MOUNT_PATTERN}},
    ),
    AfterValidator(_mount_path),
]
HealthCheckPath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=STORED_PATH_MAX, pattern=validation.HEALTH_PATH_PATTERN),
]
# A custom domain as the tenant writes it: any case, an internationalised name, a trailing dot. The service stores
# it normalised (lowercase, IDNA, no trailing dot) and refuses what is no domain a tenant may hold with 422
# `invalid_domain` naming the field (deployments.domains.normalise): a single label, an IP address, the
# platform's zones, cluster-internal names.
DomainName = Annotated[
    str,
    StringConstraints(min_length=3, max_length=validation.HOSTNAME_MAX + 1, pattern=NO_CONTROL_CHARACTERS),
    Field(description="A domain you control; stored lowercase, IDNA-encoded, without a trailing dot"),
]
CustomDomains = Annotated[list[DomainName], Field(max_length=50, json_schema_extra={"uniqueItems": True})]
Replicas = Annotated[int, Field(ge=0, le=MAX_REPLICAS), INTEGRAL]
CpuMillicores = Annotated[int, Field(ge=MIN_CPU_MILLICORES, le=MAX_CPU_MILLICORES), INTEGRAL]
MemoryMib = Annotated[int, Field(ge=MIN_MEMORY_MIB, le=MAX_MEMORY_MIB), INTEGRAL]
Ports = Annotated[list["PortIn"], Field(min_length=1, max_length=20)]


class PortIn(ApiModel):
    name: PortName
    port: Annotated[int, Field(ge=MIN_PORT, le=MAX_PORT), INTEGRAL] = Field(
        description="Containers run as non-root: 1024 and above"
    )
    public: bool = False


class VolumeIn(ApiModel):
    size_gib: Annotated[int, Field(ge=MIN_VOLUME_GIB, le=VOLUME_GIB_CEILING), INTEGRAL] = Field(
        description="At most the platform's limit"
    )
    mount_path: MountPath


class AppIn(ApiModel):
    name: AppName
    image: Image
    replicas: Replicas = 1
    cpu_millicores: CpuMillicores = 250
    memory_mib: MemoryMib = 256
    ports: Ports
    env: Env = Field(default_factory=dict)
    volume: VolumeIn | None = None
    health_check_path: HealthCheckPath = "/"
    custom_domains: CustomDomains = Field(default_factory=list)


class AppPatch(ApiModel):
    """Fields to change; those left out keep their value. A volume can grow, never shrink."""

    image: Image | None = None
    replicas: Replicas | None = None
    cpu_millicores: CpuMillicores | None = None
    memory_mib: MemoryMib | None = None
    ports: Ports | None = None
    env: Env | None = None
    volume: VolumeIn | None = None
    health_check_path: HealthCheckPath | None = None
    custom_domains: CustomDomains | None = None


class NamespaceCreate(ApiModel):
    name: NamespaceName
    apps: list[AppIn] = Field(default_factory=list, max_length=MAX_APPS)


class NamespaceConfig(ApiModel):
    """The YAML document ``GET .../config`` exports and ``PUT .../config`` applies."""

    apiVersion: Literal["controlplane.io/v1"] = "controlplane.io/v1"  # noqa: N815
    kind: Literal["Namespace"] = "Namespace"
    name: NamespaceName
    apps: list[AppIn] = Field(default_factory=list, max_length=MAX_APPS)


# Limits the settings decide, published in the OpenAPI document as configured (admission enforces them).
SETTINGS_LIMITS = (
    SettingsLimit("VolumeIn", "size_gib", "maximum", lambda settings: settings.platform_max_volume_size_gib),
)


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
    queued_by_rollout: bool = Field(description="an update of this namespace is queued by a platform rollout")
    apps: list[dict[str, Any]]
    hourly_cost: int = Field(description="The desired state's price per hour, in micro-credits")
    running_revision: int | None = Field(description="The revision applied now (null: none yet)")
    wanted_revision: int = Field(description="The newest revision, which the reconcile applies")


class Accepted(ResponseModel):
    """A write was stored; the reconcile that applies it runs in the background."""

    namespace: str
    namespace_id: uuid.UUID = Field(
        description="After a delete, its destroy is followed at GET /v1/namespace-deletions/{namespace_id}"
    )
    generation: int
    status: str


class NamespaceDeletion(ResponseModel):
    """A deleted namespace, followed by id while its stack is destroyed (its name is free again at once)."""

    namespace_id: uuid.UUID
    name: str
    status: str = Field(
        description="pending or reconciling while the stack is destroyed; failed (a retry is scheduled); stalled "
        "(an operator must retry it); deleted once the stack and everything in it is gone"
    )
    done: bool = Field(description="The stack is destroyed")
    last_error: str | None
    requested_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, namespace: Namespace) -> NamespaceDeletion:
        return cls(
            namespace_id=namespace.id,
            name=namespace.name,
            status=namespace.status,
            done=namespace.status == Status.DELETED,
            last_error=namespace.last_error,
            requested_at=namespace.deleted_at or namespace.updated_at,
            updated_at=namespace.updated_at,
        )


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


# Published among the OpenAPI components: ``PUT .../config`` reads its body itself (YAML or JSON) and refers to it.
PUBLISHED_MODELS = (NamespaceConfig,)
