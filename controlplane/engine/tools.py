"""Which of the engine's tools this process can find: the ``pulumi`` CLI and the plugins a tenant stack needs.

Cheap (no Pulumi import, a few ``PATH`` lookups), so the reconcile job asks before every run and the scheduler's
resync asks before picking up namespaces that wait for the engine. ``scripts/install-tools`` provides them all.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from controlplane.settings import Settings

PULUMI = "pulumi"
KUBERNETES_PROVIDER = "pulumi-resource-kubernetes"
CLOUDFLARE_PROVIDER = "pulumi-resource-cloudflare"
PYTHON_HOST = "pulumi-language-python"  # runs the Python policy pack
INSTALL_HINT = (
    "run scripts/install-tools (it downloads or builds them, then prints the folders to put on PATH; "
    "controlplane dev does both by itself)"
)


def wanted_tools(settings: Settings) -> list[str]:
    tools = [PULUMI, KUBERNETES_PROVIDER]
    if settings.cloudflare_api_token is not None:
        tools.append(CLOUDFLARE_PROVIDER)
    if settings.policy_pack_dir is not None:
        tools.append(PYTHON_HOST)
    return tools


def missing_tools(settings: Settings, pulumi_home: Path | None = None) -> list[str]:
    """The wanted tools found neither under ``pulumi_root/bin`` nor on ``PATH`` (nor, for plugins, installed into
    ``pulumi_home``)."""
    folders = [str(settings.pulumi_root / "bin")] if settings.pulumi_root is not None else []
    search = os.pathsep.join([*folders, os.environ.get("PATH", "")])
    return [
        tool
        for tool in wanted_tools(settings)
        if shutil.which(tool, path=search) is None and not _installed_plugin(pulumi_home, tool)
    ]


def missing_message(missing: list[str]) -> str:
    return f"the engine's tools are missing ({', '.join(missing)}): {INSTALL_HINT}"


def _installed_plugin(pulumi_home: Path | None, tool: str) -> bool:
    """A plugin ``pulumi plugin install`` put into this PULUMI_HOME (``plugins/resource-kubernetes-v4.25.0/...``)."""
    if pulumi_home is None or not tool.startswith("pulumi-resource-"):
        return False
    folder = tool.removeprefix("pulumi-")  # resource-kubernetes
    return any(path.is_file() for path in (pulumi_home / "plugins").glob(f"{folder}-v*/{tool}"))
