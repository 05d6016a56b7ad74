"""The shared name, hostname, path and image-reference rules."""

from __future__ import annotations

import pytest

from programs.components import validation
from programs.components.validation import ImageReference

DIGEST = "sha256:" + "c" * 64


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("nginx:1.27", ImageReference("docker.io", "library/nginx", "1.27", None)),
        ("example/app:v2", ImageReference("docker.io", "example/app", "v2", None)),
        ("ghcr.io/org/app:1.0.0", ImageReference("ghcr.io", "org/app", "1.0.0", None)),
        ("localhost:5000/app:dev", ImageReference("localhost:5000", "app", "dev", None)),
        (f"ghcr.io/org/app@{DIGEST}", ImageReference("ghcr.io", "org/app", None, DIGEST)),
        (f"ghcr.io/org/app:1.0@{DIGEST}", ImageReference("ghcr.io", "org/app", "1.0", DIGEST)),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api:2024.06.01",
            ImageReference("123456789012.dkr.ecr.us-east-1.amazonaws.com", "team/api", "2024.06.01", None),
        ),
    ],
)
def test_pinned_references_parse(reference: str, parsed: ImageReference) -> None:
    assert validation.parse_image_reference(reference) == parsed


@pytest.mark.parametrize(
    ("reference", "phrase"),
    [
        ("nginx", "no tag"),
        ("ghcr.io/org/app", "no tag"),
        ("nginx:latest", "'latest'"),
        ("ghcr.io/Org/App:1", "not a valid image reference"),
        ("ghcr.io/org/app:", "not a valid image reference"),
        ("ghcr.io/org/app@sha256:abc", "not a valid image reference"),
        ("", "not a valid image reference"),
        ("a" * 300 + ":1", "not a valid image reference"),
    ],
)
def test_unpinned_or_invalid_references_are_refused(reference: str, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        validation.parse_image_reference(reference)


def test_allowed_registries_match_a_registry_or_a_repository_prefix() -> None:
    image = validation.parse_image_reference("ghcr.io/org/app:1")
    assert validation.image_allowed(image, ())
    assert validation.image_allowed(image, ("ghcr.io",))
    assert validation.image_allowed(image, ("ghcr.io/org",))
    assert not validation.image_allowed(image, ("ghcr.io/other",))
    assert not validation.image_allowed(image, ("ghcr.i",))
    assert validation.image_allowed(validation.parse_image_reference("nginx:1"), ("docker.io/library",))


@pytest.mark.parametrize("name", ["a", "web", "web-2", "a" * 63])
def test_dns_labels(name: str) -> None:
    assert validation.dns1123_label(name) == name


@pytest.mark.parametrize("name", ["", "-web", "web-", "Web", "web_2", "a" * 64, "web.app"])
def test_not_dns_labels(name: str) -> None:
    with pytest.raises(ValueError, match="not a DNS label"):
        validation.dns1123_label(name)


@pytest.mark.parametrize("host", ["example.com", "shop.example.co.uk", "xn--bcher-kva.example"])
def test_hostnames(host: str) -> None:
    assert validation.hostname(host) == host


@pytest.mark.parametrize("host", ["localhost", "*.example.com", "example.com.", "Example.com", "a..b", "1.2.3.4"])
def test_not_hostnames(host: str) -> None:
    with pytest.raises(ValueError, match="hostname"):
        validation.hostname(host)


@pytest.mark.parametrize("path", ["/", "data", "/data/", "/a/../b", "/tmp", "/tmp/x", "/proc/1", "/dev"])
def test_refused_mount_paths(path: str) -> None:
    with pytest.raises(ValueError, match="mount path"):
        validation.mount_path(path)


def test_zone_membership() -> None:
    assert validation.is_same_or_subdomain("example.com", "example.com")
    assert validation.is_same_or_subdomain("a.example.com", "example.com")
    assert not validation.is_same_or_subdomain("badexample.com", "example.com")
