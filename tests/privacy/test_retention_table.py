"""The retention table is one table: the docs and the code agree, and every job it names exists and is scheduled."""

from __future__ import annotations

import importlib
import re

from controlplane.privacy.retention import RETENTION
from controlplane.settings import Settings
from controlplane.worker.scheduler import periodic_tasks
from tests.conftest import repo_root


def documented_rows() -> list[tuple[str, str, str]]:
    text = (repo_root() / "docs" / "PRIVACY.md").read_text()
    section = text.split("## Retention", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("data", "---"):
            rows.append((cells[0], cells[1], cells[2].strip("`")))
    return rows


def test_docs_and_code_list_the_same_retention() -> None:
    assert documented_rows() == [(r.data, r.kept, r.enforced_by) for r in RETENTION]


def test_every_retention_job_exists_and_is_scheduled() -> None:
    scheduled = {task.func for task in periodic_tasks(Settings(env="test"))}
    for retention in RETENTION:
        if not re.fullmatch(r"[a-z_.]+", retention.enforced_by):
            continue  # "account deletion", "never deleted"
        module, _, name = retention.enforced_by.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), retention.enforced_by
        assert retention.enforced_by in scheduled, f"{retention.enforced_by} is not scheduled"
