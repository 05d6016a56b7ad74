"""Adapt the rule registry into CrossGuard policy objects.

Constructing `ResourceValidationPolicy`/`StackValidationPolicy` only stores metadata; it is
`PolicyPack(...)` (in `policies/__main__.py`, nowhere else) that starts the analyzer's gRPC server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import Severity as PolicySeverity

from policies.registry import Enforcement, ResourceRule, ResourceView, Rule, StackRule
from policies.rules import RULES

PACK_NAME = "controlplane-policies"

_LEVELS = {
    Enforcement.ADVISORY: EnforcementLevel.ADVISORY,
    Enforcement.MANDATORY: EnforcementLevel.MANDATORY,
    Enforcement.DISABLED: EnforcementLevel.DISABLED,
}


def _config_schema(rule: Rule) -> PolicyConfigSchema | None:
    if not rule.config_schema:
        return None
    return PolicyConfigSchema(properties={key: dict(prop) for key, prop in rule.config_schema.items()})


def _resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        view = ResourceView(type=args.resource_type, name=args.name, props=args.props, urn=args.urn)

        def report(message: str, resource: ResourceView | None = None, /) -> None:
            report_violation(message, None)

        rule.check(view, rule.merged_config(args.get_config()), report)

    return ResourceValidationPolicy(validate=validate, **_policy_fields(rule))


def _stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        views = [ResourceView(type=r.resource_type, name=r.name, props=r.props, urn=r.urn) for r in args.resources]

        def report(message: str, resource: ResourceView | None = None, /) -> None:
            report_violation(message, resource.urn if resource is not None and resource.urn else None)

        rule.check(views, rule.merged_config(args.get_config()), report)

    return StackValidationPolicy(validate=validate, **_policy_fields(rule))


def _policy_fields(rule: Rule) -> dict[str, Any]:
    """What every CrossGuard policy built from a rule carries, resource or stack."""
    return {
        "name": rule.name,
        "description": rule.description,
        "enforcement_level": _LEVELS[rule.enforcement],
        "config_schema": _config_schema(rule),
        "severity": PolicySeverity(rule.severity.value),
    }


def to_policy(rule: Rule) -> Policy:
    """The CrossGuard policy for one rule."""
    if isinstance(rule, ResourceRule):
        return _resource_policy(rule)
    if isinstance(rule, StackRule):
        return _stack_policy(rule)
    raise TypeError(f"rule {rule.name} is neither a resource nor a stack rule")


def build_policies(rules: Sequence[Rule] = RULES) -> list[Policy]:
    """Every rule as a CrossGuard policy, in registry order."""
    return [to_policy(rule) for rule in rules]


def initial_config(rules: Sequence[Rule] = RULES) -> dict[str, Mapping[str, Any]]:
    """Each configurable rule's defaults, in the policy-pack config file's shape (for documentation)."""
    return {rule.name: rule.defaults for rule in rules if rule.config_schema}
