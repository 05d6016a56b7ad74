"""A declaration's inputs in wire form, computed the way the Python SDK serializes them, without its runtime.

The wire form is what the engine (and so a policy, or the mock monitor) receives for a resource: camelCase
property names from the SDK types' metadata, user-defined map keys untouched, numbers as floats, None dropped
from every map, and a top-level property that holds a secret anywhere marked secret as a whole,
`{SIG_KEY: SECRET_SIG, "value": ...}` with no marker inside (the monitor's deserializer lifts nested secrets to
the property). Registering through the SDK adds what its resource classes set themselves: a Kubernetes object's
`apiVersion` and `kind`, and a provider's non-string settings encoded as JSON.

What this does not reproduce, on purpose: provider settings the SDKs read from the process environment when the
program leaves them unset (`KUBECONFIG`, `PULUMI_K8S_*`). They belong to the process, not to the spec.

`tests/policies/test_declared_equivalence.py` holds this to the mock run for every sample spec, and
`tests/policies/test_declared_wire.py` to the SDK for what the tenant program does not declare yet.
"""

from __future__ import annotations

import functools
import json
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi import _types

from programs.components.declaration import Declaration, OutputOf, Secret
from programs.mocking import SECRET_SIG, SIG_KEY

PROVIDER_PREFIX = "pulumi:providers:"
KUBERNETES_PREFIX = "kubernetes:"

ResolveOutput = Callable[[OutputOf], Any]
"""The value of another resource's output, in wire form (None when it has none)."""


_PASSED_AS_IS = frozenset({str, bool, type(None)})
_NUMBERS = frozenset({int, float})


class UnsupportedDeclaration(TypeError):
    """The declaration holds something this module does not translate; only the SDK itself can."""


def wire_inputs(declaration: Declaration[Any], resolve: ResolveOutput) -> dict[str, Any]:
    """The declaration's inputs as the engine would receive them."""
    fields = _constructor_fields(declaration.resource_class)
    provider = declaration.type_token.startswith(PROVIDER_PREFIX)
    inputs: dict[str, Any] = {}
    for python_name, value in {**declaration.args, **_set_by_the_sdk(declaration.type_token)}.items():
        if python_name not in fields:
            raise UnsupportedDeclaration(f"{declaration.type_token} takes no argument {python_name!r}")
        wire_name, typ = fields[python_name]
        converter = _Converter(resolve)
        converted = converter.convert(_provider_setting(value) if provider else value, typ)
        if converted is not None:
            inputs[wire_name] = secret(converted) if converter.found_secret else converted
    return inputs


def output_wire_name(source: Declaration[Any], attribute: str) -> str:
    """The wire name of the output a resource class exposes as `attribute`."""
    names = _types.resource_py_to_pulumi_names(source.resource_class)
    if attribute not in names:
        raise UnsupportedDeclaration(f"{source.type_token} has no output {attribute!r}")
    return names[attribute]


def secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG


class _Converter:
    """Converts one top-level property; `found_secret` tells whether anything in it was secret."""

    def __init__(self, resolve: ResolveOutput) -> None:
        self._resolve = resolve
        self.found_secret = False

    def convert(self, value: Any, typ: Any) -> Any:
        """`value` in wire form; `typ` is the type the SDK declares for it, unwrapped (None when unknown)."""
        kind = type(value)
        if kind in _PASSED_AS_IS:  # exact types first: nearly every value, checked without isinstance
            return value
        if kind in _NUMBERS:
            return float(value)
        if kind in _FIELDS or _types.is_input_type(kind):
            return self._convert_input_type(value)
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, Secret):
            if value.value is None:
                raise UnsupportedDeclaration("a secret None (the SDK keeps it where a plain None is dropped)")
            self.found_secret = True
            return self.convert(value.value, typ)
        if isinstance(value, OutputOf):
            return self.convert(_as_declared(self._resolve(value)), typ)
        if isinstance(value, Mapping):
            return self._convert_map(value, typ)
        if isinstance(value, Sequence):
            element = _element_type(typ)
            return [self.convert(item, element) for item in value]
        raise UnsupportedDeclaration(f"no wire form for a {type(value).__name__}")

    def _convert_input_type(self, value: Any) -> dict[str, Any]:
        # What `input_type_to_dict` reads through each property's getter, read directly (the getters only do this).
        fields = _fields(type(value))
        converted: dict[str, Any] = {}
        for python_name, item in vars(value).items():
            wire_name, typ = fields[python_name]
            wire_value = self.convert(item, typ)
            if wire_value is not None:
                converted[wire_name] = wire_value
        return converted

    def _convert_map(self, value: Mapping[str, Any], typ: Any) -> dict[str, Any]:
        if isinstance(typ, type) and _types.is_input_type(typ):
            # The SDK would translate this dict's keys with the type's metadata: declare the `...Args` instead.
            raise UnsupportedDeclaration(f"a plain dict where the SDK expects {typ.__name__}")
        element = _value_type(typ)
        converted = {key: self.convert(item, element) for key, item in value.items()}
        return {key: item for key, item in converted.items() if item is not None}


def _as_declared(value: Any) -> Any:
    """A resolved output (wire form) as a declared value: its secret markers become `Secret`s again."""
    if is_secret(value):
        return Secret(_as_declared(value["value"]))
    if isinstance(value, Mapping):
        return {key: _as_declared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_declared(item) for item in value]
    return value


def _set_by_the_sdk(type_token: str) -> dict[str, Any]:
    """What the SDK's resource class sets whatever the program passes: a Kubernetes object's apiVersion and kind."""
    if not type_token.startswith(KUBERNETES_PREFIX):
        return {}
    _, group_version, kind = type_token.split(":")
    return {"api_version": group_version.removeprefix("core/"), "kind": kind}


def _provider_setting(value: Any) -> Any:
    # Provider configuration travels as strings: the SDKs encode every other setting as JSON.
    if value is None or isinstance(value, str | Secret):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise UnsupportedDeclaration(f"no wire form for a provider setting of type {type(value).__name__}")


_CONSTRUCTOR_FIELDS: dict[type, dict[str, tuple[str, Any]]] = {}


def _constructor_fields(resource_class: type) -> dict[str, tuple[str, Any]]:
    """The `_fields` of the resource's constructor arguments (computed once per class)."""
    fields = _CONSTRUCTOR_FIELDS.get(resource_class)
    if fields is None:
        fields = _CONSTRUCTOR_FIELDS[resource_class] = _fields(_init_args_class(resource_class))
    return fields


def _init_args_class(resource_class: type) -> type:
    """The SDK's input type for the resource's constructor (`<Resource>InitArgs`, else `<Resource>Args`)."""
    module = sys.modules[resource_class.__module__]
    for name in (f"{resource_class.__name__}InitArgs", f"{resource_class.__name__}Args"):
        candidate = getattr(module, name, None)
        if isinstance(candidate, type) and _types.is_input_type(candidate):
            return candidate
    raise UnsupportedDeclaration(f"no input type found for {resource_class.__qualname__}")


_FIELDS: dict[type, dict[str, tuple[str, Any]]] = {}


def _fields(input_type: type) -> dict[str, tuple[str, Any]]:
    """Python name -> (wire name, unwrapped type) of every property of an SDK input type (computed once)."""
    fields = _FIELDS.get(input_type)
    if fields is None:
        types = _types.input_type_types(input_type)
        names = _types.input_type_py_to_pulumi_names(input_type)
        fields = _FIELDS[input_type] = {python: (wire, types.get(wire)) for python, wire in names.items()}
    return fields


def _element_type(typ: Any) -> Any:
    arguments = typing.get_args(typ)
    return _unwrapped(arguments[0]) if len(arguments) == 1 else None


def _value_type(typ: Any) -> Any:
    arguments = typing.get_args(typ)
    return _unwrapped(arguments[1]) if len(arguments) == 2 and arguments[0] is str else None


@functools.lru_cache(maxsize=1024)
def _unwrapped(typ: Any) -> Any:
    return _types.unwrap_type(typ)
