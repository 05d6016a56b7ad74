"""Safe readers for resource properties in wire form.

CrossGuard hands rules `Mapping`/`Sequence` proxies (that raise on values unknown during a preview), the
offline check hands them plain dicts and lists; these helpers accept both and never raise on a missing or
mistyped key, so a rule reads `get_path(props, "spec.template.spec")` instead of chaining `.get`s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_EMPTY: Mapping[str, Any] = {}


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else _EMPTY


def items(value: Any) -> Sequence[Any]:
    """`value` if it is a list (not a string), else an empty one."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return value
    return ()


def strings(value: Any) -> list[str]:
    """The string elements of a list."""
    return [item for item in items(value) if isinstance(item, str)]


def get_path(props: Any, path: str, default: Any = None) -> Any:
    """Follow a dotted path of mapping keys; `default` as soon as a step is missing."""
    current: Any = props
    for key in path.split("."):
        if not isinstance(current, Mapping) or key not in current:
            return default
        current = current[key]
    return current


def is_true(value: Any) -> bool:
    """True for `True` and for the string "true" (provider inputs arrive as strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_false(value: Any) -> bool:
    """True for `False` and for the string "false": a value explicitly set to false."""
    return value is False or (isinstance(value, str) and value.lower() == "false")
