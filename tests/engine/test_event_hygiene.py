"""What leaves the engine is fit for a tenant: every event has a level, and no server path is in any of them.

Found: a run's events showed server paths (the data folder, the rendered manifests' folder, the tools under the home
folder). The engine redacts them before anything is stored, so the event log, ``operations.error`` and
``namespaces.last_error`` never hold them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from controlplane.engine.interface import EngineEvent, RunKind
from controlplane.engine.pulumi_engine import PulumiEngine
from controlplane.settings import Settings
from programs.tenant import LifecycleState
from programs.tenant.samples import multi_app_spec

LEVELS = {"debug", "info", "warning", "error"}


def test_events_carry_a_level_and_no_server_path(engine_settings: Settings) -> None:
    data_dir = engine_settings.data_dir.resolve()
    settings = engine_settings.model_copy(update={"platform_render_dir": None})  # the default: <data>/rendered
    engine = PulumiEngine(settings)
    spec = multi_app_spec(LifecycleState.ACTIVE, cloudflare=False, render_yaml_to_directory=str(data_dir / "rendered"))
    events: list[EngineEvent] = []
    engine.run(RunKind.UP, "ns-hygiene", spec, events.append)

    assert {event.data.get("level") for event in events} <= LEVELS
    debug = [event for event in events if event.data["level"] == "debug"]
    assert debug, "the engine's chatter is there, at debug level"
    for event in debug:
        if event.type == "diagnostic":  # the engine's chatter, or what it says about itself rather than a resource
            assert event.data["severity"] == "debug" or event.data["urn"] is None, event.data
    assert all(event.data["op"] == "same" for event in debug if event.type.startswith("resource_"))
    created = [event for event in events if event.type == "resource_done" and event.data["op"] == "create"]
    assert created
    assert all(event.data["level"] == "info" for event in created)

    text = json.dumps([event.data for event in events])
    for server_path in {str(data_dir), str(Path.home()), sys.prefix, str(engine.pulumi_home)}:
        assert server_path not in text, f"{server_path} leaked into the events"
    rendered = [event.data["message"] for event in events if str(event.data.get("message")).endswith(".yaml")]
    assert rendered, "the engine says which manifest it rendered"
    assert [message for message in rendered if "<rendered>/" not in message] == []
