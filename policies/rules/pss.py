"""What both Pod Security Standards modules share: the version implemented and the shape of a control's rule.

The pack implements the Pod Security Standards of Kubernetes v1.34, as written at
https://kubernetes.io/docs/concepts/security/pod-security-standards/ (the version the platform's clusters run
and the tenant namespaces pin in `pod-security.kubernetes.io/enforce-version`). `pss_baseline` holds one rule
per control of the Baseline level, `pss_restricted` one per control the Restricted level adds; a rule is named
`pss-<level>-<control>`. The project's own, stricter rules live elsewhere (`workloads`, `images`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set
from typing import Any

from policies.pods import CarriedPod, PodCheck, pod_rule
from policies.registry import Level, ResourceRule

STANDARD_VERSION = "v1.34"
STANDARD_URL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"


def control_rule(level: Level, slug: str, control: str, summary: str, check: PodCheck) -> ResourceRule:
    """The rule for one control of the standard, named `pss-<level>-<slug>`."""
    return pod_rule(
        name=f"pss-{level.value}-{slug}",
        description=f"{summary} (Pod Security Standards {STANDARD_VERSION}, {level.value}: {control}).",
        check=check,
        control=control,
        level=level,
    )


def security_contexts(pod: CarriedPod) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label, securityContext) of the pod and of each of its containers, for controls on both."""
    yield "the pod", pod.security_context
    for container in pod.containers():
        yield container.label, container.security_context


def one_of(value: Any, allowed: Set[str]) -> bool:
    """`value` is a string of `allowed` (a list or a mapping where a string belongs is never allowed)."""
    return isinstance(value, str) and value in allowed


def is_zero(value: Any) -> bool:
    """0 as a number (the wire form's numbers are floats; never `False`, which Python counts equal to 0) or as a
    string."""
    return (isinstance(value, int | float) and not isinstance(value, bool) and value == 0) or value == "0"
