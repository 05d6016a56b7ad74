"""The service's modules import one another without cycles, counting imports inside functions too.

A cycle hidden in a function-level import (the way ``models`` -> ``api.idempotency`` -> ``runtime`` -> ``models``
once was) works until someone moves an import; this keeps the graph a graph a reader can follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "controlplane"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (name for name in names if name in known)


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {name: set(imports_of(path, known)) - {name} for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that starts and ends at the same module, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target, [*path, target])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def test_the_service_imports_without_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 50
    assert "controlplane.runtime" in graph["controlplane.api.idempotency"]  # the walk sees real edges
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


# Features reach one another only through a feature's public face: its service, its tables and its request and
# response shapes; every API module also declares its access rule with accounts' route guards. Shared layers
# (api, engine, metrics, worker, the top-level modules) and the composition roots (the app, the CLIs, devstack)
# are not features.
FEATURES = frozenset(
    {"accounts", "audit", "billing", "deployments", "fleet", "health", "idempotency", "notifications", "privacy"}
)
PUBLIC_FACE = frozenset({"service", "models", "schemas"})
ROUTE_GUARDS = frozenset({"controlplane.accounts.principal", "controlplane.accounts.scopes"})


def feature_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in FEATURES else None


def reaches_inside(importer: str, imported: str) -> bool:
    """Whether ``importer`` (a feature's module) uses another feature's internals."""
    mine, theirs = feature_of(importer), feature_of(imported)
    if mine is None or theirs is None or mine == theirs or imported in ROUTE_GUARDS:
        return False
    return imported.split(".")[2] not in PUBLIC_FACE


def test_the_boundary_rule_sees_an_import_of_internals() -> None:
    assert reaches_inside("controlplane.fleet.service", "controlplane.deployments.reconcile")
    assert not reaches_inside("controlplane.fleet.service", "controlplane.deployments.service")
    assert not reaches_inside("controlplane.fleet.api", "controlplane.accounts.principal")
    assert not reaches_inside("controlplane.deployments.api", "controlplane.deployments.revisions")
    assert not reaches_inside("controlplane.api.app", "controlplane.deployments.api")


def test_a_feature_reaches_another_only_through_its_service() -> None:
    graph = import_graph()
    crossings = sorted(
        f"{importer} -> {imported}"
        for importer, targets in graph.items()
        for imported in targets
        if reaches_inside(importer, imported)
    )
    assert crossings == []
