"""YAML (and JSON) documents uploaded by callers, parsed within limits and off the event loop.

A document is refused before it is built when it is nested deeper than ``max_depth`` or would expand, aliases
included, to more than ``max_nodes`` nodes: the first pass reads libyaml's events (an iterative parser, so depth
cannot exhaust a stack) and counts what each anchor stands for; only a document within the limits is then
composed and constructed. A billion-laughs document is refused by that count; deep nesting never reaches a
recursive composer.
"""

from __future__ import annotations

from typing import Any

import yaml
from fastapi.concurrency import run_in_threadpool

from controlplane.errors import BadRequest, PayloadTooLarge

MAX_DEPTH = 32
MAX_NODES = 200_000

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPENS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSES = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class MalformedDocument(BadRequest):
    code = "malformed_config"


async def parse_yaml(raw: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    """The document in ``raw`` (YAML 1.1, so JSON too), parsed on a worker thread."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"documents are limited to {max_bytes} bytes")
    return await run_in_threadpool(load_yaml, raw, max_depth, max_nodes)


def load_yaml(raw: bytes, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    try:
        text = raw.decode("utf-8")
        _check_limits(text, max_depth, max_nodes)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (libyaml's, when present)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        if "nesting depth" in str(exc):  # libyaml's own limit on flow collections, deeper than ours
            raise _too_deep(max_depth) from exc
        raise MalformedDocument("the document is not valid YAML or JSON") from exc


def _check_limits(text: str, max_depth: int, max_nodes: int) -> None:
    nodes = 0
    open_collections: list[tuple[str | None, int]] = []  # (its anchor, the node count before it opened)
    sizes: dict[str, int] = {}  # what each anchor expands to, in nodes
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            nodes += sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            nodes += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, _OPENS):
            open_collections.append((event.anchor, nodes))
            nodes += 1
            if len(open_collections) > max_depth:
                raise _too_deep(max_depth)
        elif isinstance(event, _CLOSES):
            anchor, before = open_collections.pop()
            if anchor is not None:
                sizes[anchor] = nodes - before
        if nodes > max_nodes:
            raise MalformedDocument(f"the document expands to more than {max_nodes} values")


def _too_deep(max_depth: int) -> MalformedDocument:
    return MalformedDocument(f"the document is nested too deep (more than {max_depth} levels)")
