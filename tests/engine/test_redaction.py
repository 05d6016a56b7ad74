"""The path redactor: server folders become labels, the rest of a message is kept."""

from __future__ import annotations

import sys
from pathlib import Path

from controlplane.engine.redaction import PathRedactor
from controlplane.settings import Settings


def redactor(tmp_path: Path) -> PathRedactor:
    settings = Settings(env="test", data_dir=tmp_path / "data")
    return PathRedactor.for_engine(settings, pulumi_home=tmp_path / "data" / "pulumi-home" / "w1")


def test_server_folders_become_labels(tmp_path: Path) -> None:
    redact = redactor(tmp_path)
    data = (tmp_path / "data").resolve()
    assert redact(f"rendered {data}/rendered/1-manifest/v1-service-web.yaml") == (
        "rendered <rendered>/1-manifest/v1-service-web.yaml"
    )
    assert redact(f"lock at {data}/pulumi-home/w1/locks/x") == "lock at <pulumi-home>/locks/x"
    assert redact(f"state in {data}/pulumi-state") == "state in <data>/pulumi-state"
    assert redact(f"{sys.prefix}/lib/python3.11/site-packages/pulumi/x.py") == (
        "<python>/lib/python3.11/site-packages/pulumi/x.py"
    )


def test_every_home_folder_is_hidden(tmp_path: Path) -> None:
    redact = redactor(tmp_path)
    assert (
        redact(f"using pulumi from {Path.home()}/.cache/tools/pulumi") == "using pulumi from <home>/.cache/tools/pulumi"
    )
    assert redact("/home/alice/.pulumi/plugins and /root/.cache") == "<home>/.pulumi/plugins and <home>/.cache"
    assert redact("/homework/x and /rooted") == "/homework/x and /rooted"


def test_text_without_paths_is_unchanged(tmp_path: Path) -> None:
    redact = redactor(tmp_path)
    message = "urn:pulumi:ns-x::tenant::kubernetes:apps/v1:Deployment::web created"
    assert redact(message) == message
