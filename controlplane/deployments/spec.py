"""From desired state in the database to the tenant program's typed spec, and the checks before accepting it.

A change is admitted only when the spec validates (field errors name the field) and the policy pack passes on the
program's resources; otherwise the request fails with a 422 before anything is stored or queued.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from controlplane.deployments.domains import verified_domains
from controlplane.deployments.models import App, DesiredState, Namespace
from controlplane.errors import Unprocessable
from programs.tenant import LifecycleState, PlatformSettings, TenantSpec

_LIFECYCLE = {
    DesiredState.ACTIVE: LifecycleState.ACTIVE,
    DesiredState.SUSPENDED: LifecycleState.SUSPENDED,
    DesiredState.VOLUMES_RELEASED: LifecycleState.VOLUMES_RELEASED,
}


def app_document(app: App) -> dict[str, Any]:
    """One app as the API and the YAML configuration show it (and as the spec takes it)."""
    volume = None
    if app.volume_size_gib is not None:
        volume = {"size_gib": app.volume_size_gib, "mount_path": app.volume_mount_path}
    return {
        "name": app.name,
        "image": app.image,
        "replicas": app.replicas,
        "cpu_millicores": app.cpu_millicores,
        "memory_mib": app.memory_mib,
        "ports": app.ports,
        "env": app.env,
        "volume": volume,
        "health_check_path": app.health_check_path,
        "custom_domains": app.custom_domains,
    }


def build_tenant_spec(namespace: Namespace, platform: PlatformSettings) -> TenantSpec:
    """The spec for the namespace's current desired state; raises Unprocessable naming the bad field.

    The spec names the namespace by its cluster name and carries its identity (id, display name, host suffix);
    each app keeps only its custom domains that the namespace verified: the others get no route at all."""
    lifecycle = _LIFECYCLE.get(DesiredState(namespace.desired_state), LifecycleState.SUSPENDED)
    verified = verified_domains(namespace)
    apps = []
    for app in namespace.apps:
        document = app_document(app)
        document["custom_domains"] = [domain for domain in app.custom_domains if domain in verified]
        apps.append(document)
    try:
        return TenantSpec.model_validate(
            {
                "namespace": namespace.cluster_name,
                "namespace_id": namespace.id.hex,
                "display_name": namespace.name,
                "host_suffix": namespace.host_suffix,
                "account_id": str(namespace.account_id or "detached"),
                "lifecycle": lifecycle,
                "platform": platform,
                "verified_domains": sorted(verified),
                "apps": apps,
            }
        )
    except ValidationError as exc:
        # The API's types state every rule about one field, so what is left here is a rule across fields or one
        # the platform's settings decide: a code of its own, never ``validation_error`` (a shape error).
        raise Unprocessable(
            "the namespace's configuration is not valid", code="invalid_configuration", details=_problems(exc)
        ) from exc


# A rule across fields names its field first: "apps[0].replicas: 11 exceeds the maximum of 10".
_FIELD_PREFIX = re.compile(r"^(?P<path>[a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): (?P<message>.*)$", re.DOTALL)
_PATH_PART = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")
# The spec's names for what the request calls otherwise.
_REQUEST_NAMES = {"namespace": "name", "display_name": "name"}


def _problems(exc: ValidationError) -> list[dict[str, Any]]:
    """The spec's errors, located in the request body (``["body", "apps", 0, "replicas"]``)."""
    problems = []
    for error in exc.errors(include_url=False):
        location: list[str | int] = list(error.get("loc", ()))
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        if prefixed := _FIELD_PREFIX.match(message):
            location, message = [*location, *_parse_path(prefixed["path"])], prefixed["message"]
        if location and location[0] in _REQUEST_NAMES:
            location[0] = _REQUEST_NAMES[str(location[0])]
        problems.append({"location": ["body", *location], "message": message, "type": error.get("type", "")})
    return problems


def _parse_path(path: str) -> list[str | int]:
    location: list[str | int] = []
    for name, index in _PATH_PART.findall(path):
        location.append(name)
        if index:
            location.append(int(index))
    return location


def admit(spec: TenantSpec) -> None:
    """Run the policy pack's rules on what the program would declare; refuse on any mandatory violation."""
    from policies.declared import check_tenant_spec_fast
    from policies.offline import OfflineCheckError

    try:
        violations = [violation for violation in check_tenant_spec_fast(spec) if violation.mandatory]
    except OfflineCheckError as exc:
        raise Unprocessable(f"the namespace's program could not be evaluated: {exc}", code="admission_failed") from exc
    if violations:
        rules = sorted({violation.rule for violation in violations})
        raise Unprocessable(
            f"refused by policy: {', '.join(rules)}",
            code="policy_violation",
            details=[violation.as_dict() for violation in violations],
        )
