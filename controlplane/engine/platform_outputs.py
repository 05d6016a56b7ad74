"""Reading the platform stack's outputs (kubeconfig, zone, storage class, ...) for the tenant stacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pulumi import automation as auto

from controlplane.engine.interface import EngineUnavailable
from controlplane.engine.pulumi_engine import INSTALL_HINT
from controlplane.engine.state_backend import backend_url
from controlplane.settings import Settings


@dataclass(frozen=True)
class PlatformOutputs:
    values: dict[str, Any]
    secret: frozenset[str]  # the names the platform program exported as secrets (the kubeconfig)


def read_platform_outputs(settings: Settings, stack_name: str) -> PlatformOutputs:
    """The outputs of the operators' platform stack (``org/platform/prod``), secrets included and named."""
    root = str(settings.pulumi_root) if settings.pulumi_root else None
    try:
        command = auto.PulumiCommand(root=root)
    except FileNotFoundError as exc:
        raise EngineUnavailable(INSTALL_HINT) from exc
    env = {"PULUMI_CONFIG_PASSPHRASE": settings.pulumi_config_passphrase.get_secret_value()}
    if settings.pulumi_backend_url:
        env["PULUMI_BACKEND_URL"] = backend_url(settings)
    stack = auto.select_stack(
        stack_name,
        project_name="platform",
        program=lambda: None,
        opts=auto.LocalWorkspaceOptions(pulumi_command=command, env_vars=env),
    )
    outputs = stack.outputs()
    return PlatformOutputs(
        {name: output.value for name, output in outputs.items()},
        frozenset(name for name, output in outputs.items() if output.secret),
    )
