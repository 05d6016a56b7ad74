"""Admission's fast path: the tenant program's resources read from its declarations, without the Pulumi runtime.

`policies.offline.check_tenant_spec` runs the whole tenant program under Pulumi's mocks: about 50 ms for one app,
nearly all of it the SDK's per-resource machinery. The tenant components compute what they declare in pure
functions (`programs.tenant.tenant_declarations`); this module turns those declarations into the views the mock
run records (same type tokens, names and URNs, inputs in wire form by `programs.components.wire`, outputs from
the same `mock_outputs`) and applies the same rules with `policies.offline.evaluate`.

`tests/policies/test_declared_equivalence.py` holds both paths to the same views and violations for every
sample spec; the mock run stays the reference (`controlplane policy check`, CI). If reading the declarations
fails in any way, the check runs the program under mocks instead: admission never passes a spec unevaluated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from policies import offline
from policies.offline import (
    DEFAULT_REGION,
    RecordedResource,
    Violation,
    check_tenant_spec,
    evaluate,
    mock_outputs,
    resource_urn,
    tenant_stack_name,
)
from policies.registry import PackConfig
from policies.tenancy import TENANT_PROJECT
from programs.components.declaration import Declaration, OutputOf
from programs.components.wire import output_wire_name, wire_inputs
from programs.tenant import TenantSpec, tenant_declarations
from programs.tenant.samples import multi_app_spec

log = logging.getLogger(__name__)


def check_tenant_spec_fast(spec: TenantSpec, config: PackConfig | None = None) -> list[Violation]:
    """What `check_tenant_spec(spec, config)` returns, in a few milliseconds."""
    try:
        resources = declared_resources(spec)
    except Exception:  # anything unexpected: the reference path decides, never an unchecked admission
        log.warning("reading the declarations of %r failed; checking under mocks", spec.namespace, exc_info=True)
        return check_tenant_spec(spec, config)
    return evaluate(
        [resource.input_view for resource in resources],
        [resource.output_view for resource in resources],
        config=config,
        stack_name=tenant_stack_name(spec),
    )


def declared_resources(spec: TenantSpec) -> list[RecordedResource]:
    """The resources the tenant program declares for `spec`, as the mock run records them."""
    return record_declarations(tenant_declarations(spec), stack=tenant_stack_name(spec), project=TENANT_PROJECT)


def record_declarations(
    declarations: Iterable[Declaration[Any]], *, stack: str, project: str
) -> list[RecordedResource]:
    """Declarations as the mock run records their resources (without the provider references: no view has
    them). A declaration reading another's output comes after it, as in the program."""
    recorded: dict[Declaration[Any], RecordedResource] = {}

    def resolve(reference: OutputOf) -> Any:
        source = recorded[reference.source]
        return source.outputs.get(output_wire_name(reference.source, reference.attribute))

    for declaration in declarations:
        resource_type, name = declaration.type_token, declaration.name
        urn = resource_urn(stack, project, resource_type, name)
        inputs = wire_inputs(declaration, resolve)
        outputs = mock_outputs(resource_type, name, urn, inputs, DEFAULT_REGION)
        recorded[declaration] = RecordedResource(resource_type, name, urn, inputs, outputs)
    return list(recorded.values())


def warm_up() -> None:
    """Read every kind of declaration once (the SDK types' metadata is resolved on first use, about 0.5 s) and
    warm the mock run up too, for the rare fallback. Call it at startup."""
    offline.warm_up()
    declared_resources(multi_app_spec())
