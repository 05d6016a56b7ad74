"""Container images: from an allowed registry, pinned to a tag other than `latest` or to a digest.

Project rules, not part of the Pod Security Standards (which say nothing about images): they keep the supply
chain to known registries and make a rollout deploy exactly what was reviewed. They read the same pods as the
standard's rules (`policies.pods.carried_pods`).
"""

from __future__ import annotations

from policies.kube import parse_image, registry_allowed
from policies.pods import carried_pods
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
    allowed = strings(config.get("allowedRegistries"))
    for pod in carried_pods(view):
        for container in pod.containers():
            image = container.spec.get("image")
            if image is None and pod.partial:
                continue  # a patch that does not name the image keeps it
            if not isinstance(image, str) or not image:
                report(pod.located(f"{container.label} has no image"))
                continue
            ref = parse_image(image)
            if not registry_allowed(ref, allowed):
                report(
                    pod.located(
                        f"{container.label} image {image!r} is from {ref.registry}, not an allowed registry {allowed}"
                    )
                )


def pinned_image_tags(view: ResourceView, config: RuleConfig, report: Report) -> None:
    for pod in carried_pods(view):
        for container in pod.containers():
            image = container.spec.get("image")
            if not isinstance(image, str) or not image:
                continue  # reported by allowed-image-registries
            ref = parse_image(image)
            if ref.digest is not None:
                continue
            if ref.tag is None:
                report(pod.located(f"{container.label} image {image!r} has no tag: pin a version or a digest"))
            elif ref.tag.lower() == "latest":
                report(
                    pod.located(f"{container.label} image {image!r} uses the 'latest' tag: pin a version or a digest")
                )


RULES: tuple[ResourceRule, ...] = (
    ResourceRule(
        name="allowed-image-registries",
        description="Container images must come from an allowed registry.",
        check=allowed_image_registries,
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
    ),
)
