"""Container images: from an allowed registry, pinned to a tag other than `latest` or to a digest."""

from __future__ import annotations

from policies.kube import WORKLOAD_TYPES, containers, parse_image, pod_spec, registry_allowed
from policies.props import strings
from policies.registry import Report, ResourceRule, ResourceView, RuleConfig

DEFAULT_REGISTRIES = [
    "docker.io",
    "ghcr.io",
    "quay.io",
    "public.ecr.aws",
    "registry.k8s.io",
    "*.dkr.ecr.us-east-1.amazonaws.com",
]


def allowed_image_registries(view: ResourceView, config: RuleConfig, report: Report) -> None:
    spec = pod_spec(view)
    if spec is None:
        return
    allowed = strings(config.get("allowedRegistries"))
    for container in containers(spec):
        image = container.spec.get("image")
        if not isinstance(image, str) or not image:
            report(f"{container.label} has no image")
            continue
        ref = parse_image(image)
        if not registry_allowed(ref, allowed):
            report(f"{container.label} image {image!r} is from {ref.registry}, not an allowed registry {allowed}")


def pinned_image_tags(view: ResourceView, config: RuleConfig, report: Report) -> None:
    spec = pod_spec(view)
    if spec is None:
        return
    for container in containers(spec):
        image = container.spec.get("image")
        if not isinstance(image, str) or not image:
            continue  # reported by allowed-image-registries
        ref = parse_image(image)
        if ref.digest is not None:
            continue
        if ref.tag is None:
            report(f"{container.label} image {image!r} has no tag: pin a version or a digest")
        elif ref.tag.lower() == "latest":
            report(f"{container.label} image {image!r} uses the 'latest' tag: pin a version or a digest")


RULES: tuple[ResourceRule, ...] = (
    ResourceRule(
        name="allowed-image-registries",
        description="Container images must come from an allowed registry.",
        check=allowed_image_registries,
        resource_types=WORKLOAD_TYPES,
        config_schema={
            "allowedRegistries": {
                "type": "array",
                "items": {"type": "string"},
                "default": DEFAULT_REGISTRIES,
                "description": "Registry hosts (globs allowed), optionally with a repository prefix, "
                "e.g. 'ghcr.io/acme'. Images without a host are Docker Hub (docker.io).",
            }
        },
    ),
    ResourceRule(
        name="pinned-image-tags",
        description="Container images must be pinned: no 'latest' and no missing tag (digests allowed).",
        check=pinned_image_tags,
        resource_types=WORKLOAD_TYPES,
    ),
)
