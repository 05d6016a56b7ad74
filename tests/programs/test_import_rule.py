"""Programs never import the service: every module under programs/ is checked by its syntax tree."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.programs.conftest import REPO

PROGRAMS = REPO / "programs"
FORBIDDEN = "controlplane"


def imported_modules(path: Path) -> list[str]:
    modules: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            modules += [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return modules


def test_programs_import_nothing_from_the_service() -> None:
    files = sorted(PROGRAMS.rglob("*.py"))
    assert len(files) > 10
    offenders = [
        f"{path.relative_to(REPO)}: {module}"
        for path in files
        for module in imported_modules(path)
        if module == FORBIDDEN or module.startswith(FORBIDDEN + ".")
    ]
    assert offenders == []


def test_the_check_sees_an_offending_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import os\nfrom controlplane.db import x\nimportlib.import_module('controlplane.api')\n")
    assert imported_modules(sample) == ["os", "controlplane.db", "controlplane.api"]
