"""Fixtures for the program tests: fresh recording Pulumi mocks per test, and a runner.

`programs.mocking.RecordingMocks` answers registrations with plausible outputs and records every declared
resource (type, name, URN, camelCase inputs, provider). The stock mocks accept duplicate URNs, which the engine
refuses: every test here fails if its program declared one twice.

Two ways to test: `run(program)` runs a program to completion under fresh mocks and returns them, to assert
on the declarations; `@pulumi.runtime.test` tests RETURN an Output whose `apply` asserts on outputs (an assert in an
`apply` that is not returned is silently lost).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

from programs.mocking import RecordingMocks, run_under_mocks

REPO = Path(__file__).resolve().parents[2]
STACKS = REPO / "stacks"
STACK_FILES = sorted(STACKS.glob("Pulumi.*.yaml"))


class Runner(Protocol):
    def __call__(
        self, program: Callable[[], object], *, project: str = "tenant", stack: str = "test"
    ) -> RecordingMocks: ...


@pytest.fixture(autouse=True)
def mocks() -> Iterator[RecordingMocks]:
    recording = RecordingMocks()
    recording.install(project="tenant", stack="test")
    yield recording
    assert recording.duplicate_urns == [], f"URNs declared twice: {recording.duplicate_urns}"


@pytest.fixture
def run() -> Iterator[Runner]:
    """Run a program to completion under fresh recording mocks (one set per call) and return them."""
    created: list[RecordingMocks] = []

    def _run(program: Callable[[], object], *, project: str = "tenant", stack: str = "test") -> RecordingMocks:
        fresh = RecordingMocks()
        created.append(fresh)
        return run_under_mocks(program, mocks=fresh, project=project, stack=stack)

    yield _run
    for recording in created:
        assert recording.duplicate_urns == [], f"URNs declared twice: {recording.duplicate_urns}"


def stack_config(path: Path) -> dict[str, Any]:
    """A stack file's `config:` map as the Pulumi runtime hands it to a program (objects as JSON)."""
    raw = yaml.safe_load(path.read_text())["config"]
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in raw.items()}


def pinned_kubernetes_version() -> str:
    """The Kubernetes version the platform stacks pin (the manifests are validated against it)."""
    versions = {
        yaml.safe_load(path.read_text())["config"]["platform:cluster"]["kubernetesVersion"] for path in STACK_FILES
    }
    assert len(versions) == 1, f"the stacks pin different Kubernetes versions: {versions}"
    return str(versions.pop())
