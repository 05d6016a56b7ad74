"""Name, hostname and image-reference rules shared by the specs and the component arguments.

Functions here raise `ValueError` with a message fit for a pydantic validator: pydantic adds the field's
location, the message says what is wrong and what is expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DNS_LABEL_MAX = 63
HOSTNAME_MAX = 253

# The patterns are public so that the API can publish them (in its OpenAPI document) exactly as they are enforced.
# RFC 1123 label (namespaces, most object names) and RFC 1035 label (Service names must start with a letter).
DNS1123_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1035_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# IANA service name, as Kubernetes requires for a port name: single '-' between letters and digits, one letter.
PORT_NAME_PATTERN = r"^([a-z0-9]+-)*[a-z0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$"
PORT_NAME_MAX = 15
# C identifier: what a shell and every runtime accept as an environment variable name.
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
HEALTH_PATH_PATTERN = r"^/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$"
HEALTH_PATH_MAX = 1024
_DNS1123_LABEL = re.compile(DNS1123_LABEL_PATTERN)
_DNS1035_LABEL = re.compile(DNS1035_LABEL_PATTERN)
_PORT_NAME = re.compile(PORT_NAME_PATTERN)
# Kubernetes label value.
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_ENV_NAME = re.compile(ENV_NAME_PATTERN)
# A hostname label as DNS allows it for hosts (no underscore, no wildcard).
_HOST_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HEALTH_PATH = re.compile(HEALTH_PATH_PATTERN)

# Image references, after github.com/distribution/reference (the grammar Docker and containerd use; its \w is
# ASCII, so is ours).
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"
_IMAGE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?"
    rf"(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?"
    rf"(?:@(?P<digest>{_DIGEST}))?$"
)
# What `parse_image_reference` accepts, as one portable pattern: a tag or a digest is required (and the tag is not
# `latest`, which a pattern without look-ahead cannot say: see LATEST_TAG_PATTERN).
PINNED_IMAGE_PATTERN = (
    rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG}(?:@{_DIGEST})?|@{_DIGEST})$"
)
LATEST_TAG_PATTERN = r":latest(@|$)"
IMAGE_REFERENCE_MAX = 255
DEFAULT_REGISTRY = "docker.io"


def dns1123_label(value: str, *, what: str = "name") -> str:
    if len(value) > DNS_LABEL_MAX or not _DNS1123_LABEL.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not a DNS label: at most {DNS_LABEL_MAX} characters of lower-case letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return value


def dns1035_label(value: str, *, what: str = "name", max_length: int = DNS_LABEL_MAX) -> str:
    if len(value) > max_length or not _DNS1035_LABEL.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not a DNS label: at most {max_length} characters of lower-case letters, "
            "digits and '-', starting with a letter and ending with a letter or digit"
        )
    return value


def port_name(value: str) -> str:
    if len(value) > PORT_NAME_MAX or not _PORT_NAME.fullmatch(value):
        raise ValueError(
            f"port name {value!r} is not an IANA service name: at most 15 lower-case letters, digits and "
            "single '-', with at least one letter"
        )
    return value


def label_value(value: str, *, what: str = "value") -> str:
    if len(value) > DNS_LABEL_MAX or not _LABEL_VALUE.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not a Kubernetes label value: at most {DNS_LABEL_MAX} letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit"
        )
    return value


def env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"environment variable name {value!r} must match [A-Za-z_][A-Za-z0-9_]*")
    return value


def hostname(value: str, *, what: str = "hostname") -> str:
    """A fully qualified, lower-case hostname of at least two labels, without a trailing dot or wildcard."""
    labels = value.split(".")
    if (
        len(value) > HOSTNAME_MAX
        or len(labels) < 2
        or any(len(label) > DNS_LABEL_MAX or not _HOST_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(
            f"{what} {value!r} is not a fully qualified lower-case hostname (labels of letters, digits and "
            "'-', at least two labels, no wildcard, no trailing dot)"
        )
    return value


def is_same_or_subdomain(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


# Names that resolve inside a cluster or a host, never on the public DNS: no tenant may route them.
INTERNAL_ZONES = ("localhost", "svc", "cluster.local")


def custom_domain(value: str) -> str:
    """A customer's domain: a public hostname (at least two labels, not an IP address), never a name that resolves
    inside the cluster or the host (`localhost`, `*.svc`, `*.cluster.local`)."""
    hostname(value, what="custom domain")
    zone = next((zone for zone in INTERNAL_ZONES if is_same_or_subdomain(value, zone)), None)
    if zone is not None:
        raise ValueError(f"custom domain {value!r} is a cluster-internal or local name (under {zone!r})")
    return value


def health_check_path(value: str) -> str:
    if len(value) > HEALTH_PATH_MAX or not _HEALTH_PATH.fullmatch(value):
        raise ValueError(f"health check path {value!r} must be an absolute URL path such as '/healthz'")
    return value


@dataclass(frozen=True)
class ImageReference:
    """A parsed container image reference; `registry` is explicit (`docker.io` when the reference omits it)."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


def parse_image_reference(value: str) -> ImageReference:
    """Parse `value`, refusing a reference that does not pin a version: no tag and no digest, or `latest`."""
    match = _IMAGE.fullmatch(value) if len(value) <= IMAGE_REFERENCE_MAX else None
    if match is None:
        raise ValueError(
            f"image {value!r} is not a valid image reference ([registry/]repository[:tag][@sha256:digest], "
            "lower-case repository)"
        )
    domain = match.group("domain")
    path = match.group("path")
    # Like Docker: the first component is a registry only if it looks like a host (a dot, a port, localhost).
    if domain is not None and not ("." in domain or ":" in domain or domain == "localhost"):
        path = f"{domain}/{path}"
        domain = None
    if domain is None:
        domain = DEFAULT_REGISTRY
        if "/" not in path:
            path = f"library/{path}"
    tag, digest = match.group("tag"), match.group("digest")
    if tag is None and digest is None:
        raise ValueError(f"image {value!r} has no tag: pin a version tag or a sha256 digest")
    if tag == "latest":
        raise ValueError(f"image {value!r} uses the 'latest' tag: pin a version tag or a sha256 digest")
    return ImageReference(registry=domain.lower(), repository=path, tag=tag, digest=digest)


def image_allowed(image: ImageReference, allowed: tuple[str, ...]) -> bool:
    """True when `allowed` is empty or names the image's registry or one of its repository prefixes."""
    if not allowed:
        return True
    return any(image.name == prefix or image.name.startswith(prefix.rstrip("/") + "/") for prefix in allowed)


RESERVED_MOUNT_ROOTS = ("/proc", "/sys", "/dev", "/tmp")  # noqa: S108 - paths refused, not used


def mount_path(value: str) -> str:
    """An absolute, normalised directory that does not shadow the root, /tmp or a kernel filesystem."""
    parts = value.split("/")
    if (
        not value.startswith("/")
        or value == "/"
        or value.endswith("/")
        or any(part in ("", ".", "..") for part in parts[1:])
        or len(value) > 256
    ):
        raise ValueError(f"mount path {value!r} must be an absolute, normalised path other than '/'")
    for root in RESERVED_MOUNT_ROOTS:
        if value == root or value.startswith(root + "/"):
            raise ValueError(f"mount path {value!r} is reserved ({root} is provided by the platform)")
    return value
