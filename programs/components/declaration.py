"""Declarations: what a component declares, as data, computed before any resource exists.

A component computes each resource it declares in a pure function, as a `Declaration` (the SDK's resource class,
the logical name, the constructor's keyword arguments), then instantiates it with `declare(opts)`. Admission
reads the same declarations without the Pulumi runtime (`programs.components.wire`), so there is one program,
not a program and a copy of it.

Arguments are what the SDK class takes: plain values and the SDK's `...Args` input types, plus two markers the
runtime-free reader must see, allowed at the top level or inside plain dicts and lists (never inside an `...Args`
object):

- `Secret(value)`: the program passes `pulumi.Output.secret(value)`;
- `OutputOf(source, attribute)`: another declared resource's output, e.g. a certificate's PEM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar, cast

import pulumi
from pulumi.type_token import get_type_token

R = TypeVar("R", bound=pulumi.CustomResource)


@dataclass(frozen=True)
class Secret:
    """A value the program marks secret (`pulumi.Output.secret`)."""

    value: Any


@dataclass(frozen=True)
class OutputOf:
    """The output `attribute` (its Python name) of the resource `source` declares."""

    source: Declaration[Any]
    attribute: str


@dataclass(frozen=True, eq=False)
class Declaration(Generic[R]):
    """One resource: its SDK class, its logical name and its constructor's keyword arguments (opts apart)."""

    resource_class: type[R]
    name: str
    args: Mapping[str, Any]

    @property
    def type_token(self) -> str:
        token = get_type_token(self.resource_class)
        if token is None:
            raise TypeError(f"{self.resource_class.__name__} carries no Pulumi type token")
        return token

    def declare(
        self, opts: pulumi.ResourceOptions, sources: Mapping[Declaration[Any], pulumi.CustomResource] | None = None
    ) -> R:
        """Register the resource; `sources` holds the resources already declared that `OutputOf`s refer to."""
        known = sources or {}
        kwargs = {key: _live(value, known) for key, value in self.args.items()}
        construct = cast(Callable[..., R], self.resource_class)
        return construct(self.name, opts=opts, **kwargs)


class DeclarationSet:
    """Base of a component's declarations (a dataclass of `Declaration`s, optional ones and dicts of them)."""

    def all(self) -> list[Declaration[Any]]:
        """Every declaration, in field order: the order the component declares them in."""
        declared: list[Declaration[Any]] = []
        for field in fields(cast(Any, self)):
            declared.extend(_declarations_in(getattr(self, field.name)))
        return declared


def _declarations_in(value: object) -> list[Declaration[Any]]:
    if isinstance(value, Declaration):
        return [value]
    if isinstance(value, Mapping):
        return [item for entry in value.values() for item in _declarations_in(entry)]
    return []


def _live(value: Any, sources: Mapping[Declaration[Any], pulumi.CustomResource]) -> Any:
    if isinstance(value, Secret):
        return pulumi.Output.secret(_live(value.value, sources))
    if isinstance(value, OutputOf):
        return getattr(sources[value.source], value.attribute)
    if isinstance(value, Mapping):
        return {key: _live(item, sources) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_live(item, sources) for item in value]
    return value
