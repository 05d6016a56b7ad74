"""Tenant identity in the programs: reserved names cover the platform's own namespaces, cluster names never meet
them, and platform hostnames are one DNS label that names exactly one (namespace, app)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from programs.components import validation
from programs.platform import PlatformConfig, platform_program
from programs.tenant import identity
from tests.programs.conftest import STACK_FILES, Runner
from tests.programs.test_platform import config_data

NAMESPACE = "kubernetes:core/v1:Namespace"
APP_NAMES = st.from_regex(r"\A[a-z]([-a-z0-9]{0,38}[a-z0-9])?\Z")
DISPLAY_NAMES = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
SUFFIXES = st.from_regex(r"\A[0-9a-z]{8}\Z")


def test_every_namespace_the_platform_declares_is_a_platform_namespace(run: Runner) -> None:
    for path in STACK_FILES:
        config = PlatformConfig.model_validate(config_data(path))
        mocks = run(lambda config=config: platform_program(config, "placeholder-token"), project="platform")
        declared = [resource.inputs["metadata"]["name"] for resource in mocks.of_type(NAMESPACE)]
        assert declared, path
        for name in declared:
            assert identity.is_platform_namespace(name), name
            assert identity.is_reserved_name(name), name


def test_issued_cluster_names_never_meet_a_reserved_name() -> None:
    assert not any(name.startswith(identity.CLUSTER_NAME_PREFIX) for name in identity.RESERVED_NAMES)
    assert not any(prefix.startswith(identity.CLUSTER_NAME_PREFIX) for prefix in identity.RESERVED_PREFIXES)
    cluster_name = identity.cluster_name_for("0a1b2c3d")
    assert identity.is_issued_cluster_name(cluster_name)
    assert not identity.is_platform_namespace(cluster_name)
    assert not identity.is_reserved_name(cluster_name)


def test_the_reported_collision_is_gone() -> None:
    """Before: namespace `b-c` with app `a` and namespace `c` with app `a-b` both got `a-b-c.<base>`."""
    assert identity.platform_host_label("a", "b-c", "aaaa1111") != identity.platform_host_label("a-b", "c", "bbbb2222")


def test_the_display_part_is_cut_the_same_for_every_app_of_a_namespace() -> None:
    display = "b-" * 31 + "b"  # cut at any length, it still reads like a tail of another app's name
    labels = {identity.platform_host_label(app, display, "abcd1234") for app in ("a", "a-b", "a-b-b", "a" * 40)}
    assert len(labels) == 4
    assert all(len(label) <= validation.DNS_LABEL_MAX for label in labels)


@given(APP_NAMES, DISPLAY_NAMES, SUFFIXES)
def test_a_host_label_is_one_dns_label_ending_with_its_suffix(app: str, display: str, suffix: str) -> None:
    label = identity.platform_host_label(app, display, suffix)
    validation.hostname(f"{label}.apps.example.net")
    assert identity.host_suffix_of(f"{label}.apps.example.net") == suffix
    assert label.startswith(f"{app}-")


@given(
    st.dictionaries(SUFFIXES, st.tuples(DISPLAY_NAMES, st.sets(APP_NAMES, min_size=1, max_size=6)), max_size=12),
)
def test_no_two_namespace_app_pairs_share_a_host_label(namespaces: dict[str, tuple[str, set[str]]]) -> None:
    """Each suffix is one namespace (the control plane never issues a suffix twice); its display name is fixed."""
    owners: dict[str, tuple[str, str]] = {}
    for suffix, (display, apps) in namespaces.items():
        for app in apps:
            label = identity.platform_host_label(app, display, suffix)
            assert owners.setdefault(label, (suffix, app)) == (suffix, app), label
