"""The rule registry: what a rule is, what it sees, and how its configuration resolves.

A rule is a plain function plus metadata. It never imports `pulumi_policy`; `policies.pack` adapts rules
into CrossGuard policies and `policies.offline` applies the very same functions to resources recorded
under Pulumi's mocks. Two kinds exist:

- `ResourceRule`: `check(view, config, report)` for one resource. CrossGuard gives it the resource's
  *inputs* (camelCase wire names), checked before the resource is created or updated.
- `StackRule`: `check(views, config, report)` for the whole stack. CrossGuard gives it every resource's
  *outputs*; it runs at the end of a preview (and of an update, after the changes).

`report(message)` records a violation against the resource (resource rules) or the stack;
`report(message, view)` attributes a stack-rule violation to one resource.

Configuration follows the CrossGuard policy-config file format, so one JSON file serves
`pulumi up --policy-pack-config` and `policies.offline.check_program(config=...)`::

    {"allowed-image-registries": {"allowedRegistries": ["ghcr.io/acme"]},
     "pss-baseline-host-ports": "advisory",
     "pvc-size-cap": {"enforcementLevel": "disabled"}}
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, TypeAlias

RuleConfig: TypeAlias = Mapping[str, Any]
"""A rule's effective configuration: its schema defaults overlaid with the configured values."""

PackConfig: TypeAlias = Mapping[str, Any]
"""Policy-pack configuration: rule name -> enforcement level string, or a dict of properties that may
include `enforcementLevel` (the CrossGuard `--policy-pack-config` JSON shape)."""

ENFORCEMENT_KEY = "enforcementLevel"

RENAMED_RULES: Mapping[str, tuple[str, ...]] = {
    "no-privileged-containers": ("pss-baseline-privileged-containers",),
    "no-host-namespaces": ("pss-baseline-host-namespaces",),
    "no-host-path-volumes": ("pss-baseline-hostpath-volumes",),
    "no-host-ports": ("pss-baseline-host-ports",),
    "no-privilege-escalation": ("pss-restricted-privilege-escalation",),
    "non-root-containers": ("pss-restricted-running-as-non-root", "pss-restricted-running-as-non-root-user"),
}
"""Pod rules replaced by the Pod Security Standards controls (issue 15): a configuration naming one is refused
with the names to use instead."""


class Enforcement(StrEnum):
    """What a violation does. The values are CrossGuard's enforcement level names."""

    ADVISORY = "advisory"
    MANDATORY = "mandatory"
    DISABLED = "disabled"


class Level(StrEnum):
    """A Pod Security Standards level (https://kubernetes.io/docs/concepts/security/pod-security-standards/)."""

    BASELINE = "baseline"
    RESTRICTED = "restricted"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True)
class ResourceView:
    """One resource as a rule sees it: its type token, logical name, URN and properties (wire names).

    `derived` keeps what several rules compute from the same view (the pods it carries: `policies.pods`), so
    that it is computed once per view rather than once per rule."""

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class Report(Protocol):
    def __call__(self, message: str, resource: ResourceView | None = None, /) -> None: ...


ResourceCheck: TypeAlias = Callable[[ResourceView, RuleConfig, Report], None]
StackCheck: TypeAlias = Callable[[Sequence[ResourceView], RuleConfig, Report], None]


class ConfigError(ValueError):
    """The policy-pack configuration names an unknown rule or property, or an invalid level."""


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Metadata shared by both kinds of rule.

    `config_schema` holds JSON-schema property definitions (CrossGuard's `PolicyConfigSchema.properties`);
    each carries a `default`, so a rule always runs with a complete configuration. `control` and `level` name
    the Pod Security Standards control a rule implements (None for the project's own rules).
    """

    kind: ClassVar[Literal["resource", "stack"]]

    name: str
    description: str
    enforcement: Enforcement = Enforcement.MANDATORY
    severity: Severity = Severity.HIGH
    config_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    control: str | None = None
    level: Level | None = None

    def __post_init__(self) -> None:
        missing = [key for key, prop in self.config_schema.items() if "default" not in prop]
        if missing:
            raise ValueError(f"rule {self.name}: config properties without a default: {missing}")

    @property
    def defaults(self) -> dict[str, Any]:
        return {key: copy.deepcopy(prop["default"]) for key, prop in self.config_schema.items()}

    def merged_config(self, configured: Mapping[str, Any] | None) -> dict[str, Any]:
        """Schema defaults overlaid with `configured` (the `enforcementLevel` key is ignored)."""
        merged = self.defaults
        for key, value in (configured or {}).items():
            if key != ENFORCEMENT_KEY:
                merged[key] = value
        return merged

    def resolve(self, entry: Any) -> tuple[Enforcement, dict[str, Any]]:
        """Enforcement level and effective configuration from one policy-pack config entry."""
        if entry is None:
            return self.enforcement, self.defaults
        if isinstance(entry, str):
            return _level(self.name, entry), self.defaults
        if not isinstance(entry, Mapping):
            raise ConfigError(f"rule {self.name}: configuration must be a level or an object, not {entry!r}")
        unknown = sorted(set(entry) - set(self.config_schema) - {ENFORCEMENT_KEY})
        if unknown:
            raise ConfigError(f"rule {self.name}: unknown configuration properties {unknown}")
        level = entry.get(ENFORCEMENT_KEY)
        enforcement = self.enforcement if level is None else _level(self.name, level)
        return enforcement, self.merged_config(entry)


@dataclass(frozen=True, kw_only=True)
class ResourceRule(Rule):
    """A rule over one resource; `resource_types` (when set) limits which type tokens it is shown."""

    kind: ClassVar[Literal["resource", "stack"]] = "resource"

    check: ResourceCheck
    resource_types: frozenset[str] | None = None

    def applies_to(self, resource_type: str) -> bool:
        return self.resource_types is None or resource_type in self.resource_types


@dataclass(frozen=True, kw_only=True)
class StackRule(Rule):
    """A rule over every resource of a stack."""

    kind: ClassVar[Literal["resource", "stack"]] = "stack"

    check: StackCheck


def _level(rule: str, value: Any) -> Enforcement:
    # CrossGuard also knows "remediate"; none of these rules remediates, so it means mandatory here too.
    if value == "remediate":
        return Enforcement.MANDATORY
    try:
        return Enforcement(value)
    except ValueError:
        raise ConfigError(f"rule {rule}: unknown enforcement level {value!r}") from None


def validate_pack_config(rules: Sequence[Rule], config: PackConfig) -> None:
    """Raise `ConfigError` for a rule name the registry does not know or an invalid entry."""
    by_name = {rule.name: rule for rule in rules}
    for name, entry in config.items():
        if name == "all":
            _level("all", entry)
            continue
        rule = by_name.get(name)
        if rule is None:
            renamed = RENAMED_RULES.get(name)
            hint = f" (renamed: configure {' and '.join(map(repr, renamed))})" if renamed else ""
            raise ConfigError(f"unknown rule {name!r} in policy configuration{hint}")
        rule.resolve(entry)


def check_unique_names(rules: Sequence[Rule]) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ValueError(f"duplicate rule name {rule.name!r}")
        seen.add(rule.name)
