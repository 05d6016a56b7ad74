"""Every rule of the pack, in one ordered tuple.

Each module ends with its own `RULES`; this is the only place they are gathered, so the registry is an
explicit list rather than an import-time side effect.
"""

from __future__ import annotations

from policies.registry import ResourceRule, StackRule, check_unique_names
from policies.rules import aws, cloudflare, images, pss_baseline, pss_restricted, storage, tenant, workloads

RULES: tuple[ResourceRule | StackRule, ...] = (
    *pss_baseline.RULES,
    *pss_restricted.RULES,
    *workloads.RULES,
    *images.RULES,
    *storage.RULES,
    *tenant.RULES,
    *cloudflare.RULES,
    *aws.RULES,
)
check_unique_names(RULES)

RESOURCE_RULES: tuple[ResourceRule, ...] = tuple(rule for rule in RULES if isinstance(rule, ResourceRule))
STACK_RULES: tuple[StackRule, ...] = tuple(rule for rule in RULES if isinstance(rule, StackRule))
BY_NAME = {rule.name: rule for rule in RULES}

__all__ = ["BY_NAME", "RESOURCE_RULES", "RULES", "STACK_RULES"]
