"""The platform stack's outputs, as tenant stacks get them: read with the real pulumi CLI from the same state store,
and cached in Redis with the secret ones (the kubeconfig) sealed: whoever reads Redis reads no credential."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pulumi
import pytest
from pulumi import automation as auto
from pydantic import SecretStr

from controlplane.deployments.platform import platform_settings
from controlplane.engine.platform_outputs import read_platform_outputs
from controlplane.engine.state_backend import backend_url, file_store_folder
from controlplane.runtime import Runtime
from controlplane.settings import Settings
from programs.tenant import PlatformSettings
from tests.accounts.test_secrets_everywhere import redis_dump

KUBECONFIG = "apiVersion: v1\nkind: Config\nusers:\n- name: deployer\n  user:\n    token: tok-5f0c2a9e7d41b3c8\n"
CACHE_KEY = "controlplane:platform-outputs"


def kubeconfig_of(platform: PlatformSettings) -> str | None:
    secret = platform.kubernetes.kubeconfig
    return secret.get_secret_value() if secret is not None else None


def platform_program() -> None:
    pulumi.export("base_domain", "apps.example.test")
    pulumi.export("storage_class", "gp3-encrypted")
    pulumi.export("kubeconfig", pulumi.Output.secret(KUBECONFIG))


@pytest.fixture
def platform(engine_settings: Settings, tmp_path: Path) -> auto.Stack:
    stack = auto.create_stack(
        "prod",
        project_name="platform",
        program=platform_program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(tmp_path),
            project_settings=auto.ProjectSettings(
                name="platform", runtime="python", backend=auto.ProjectBackend(url=backend_url(engine_settings))
            ),
            env_vars={"PULUMI_CONFIG_PASSPHRASE": engine_settings.pulumi_config_passphrase.get_secret_value()},
        ),
    )
    stack.up(color="never")
    return stack


def test_the_outputs_are_read_from_the_same_store_with_the_secret_ones_named(
    engine_settings: Settings, platform: auto.Stack
) -> None:
    outputs = read_platform_outputs(engine_settings, "prod")
    assert outputs.values == {
        "base_domain": "apps.example.test",
        "storage_class": "gp3-encrypted",
        "kubeconfig": KUBECONFIG,
    }
    assert outputs.secret == {"kubeconfig"}
    store = file_store_folder(backend_url(engine_settings))
    assert store is not None
    assert not list(store.rglob("*.attrs"))


def test_the_cache_keeps_no_secret_and_opens_only_whole_and_under_its_passphrase(
    engine_settings: Settings, platform: auto.Stack, runtime: Runtime
) -> None:
    runtime.redis.delete(CACHE_KEY)
    settings = engine_settings.model_copy(update={"platform_stack": "prod", "platform_kubeconfig": None})
    try:
        first = platform_settings(settings, runtime.redis)
        assert kubeconfig_of(first) == KUBECONFIG
        assert (first.base_domain, first.storage_class) == ("apps.example.test", "gp3-encrypted")
        dumped = b"\n".join(redis_dump(runtime))
        assert b"gp3-encrypted" in dumped  # the cache is there, its plain outputs readable
        assert b"tok-5f0c2a9e7d41b3c8" not in dumped
        assert b"kubeconfig" not in dumped

        # An entry that does not open (here tampered with) is read again from the stack, and sealed again.
        entry = json.loads(runtime.redis.get(CACHE_KEY) or b"")
        sealed = base64.b64decode(entry["sealed"])
        entry["sealed"] = base64.b64encode(sealed[:-1] + bytes([sealed[-1] ^ 1])).decode()
        runtime.redis.set(CACHE_KEY, json.dumps(entry))
        assert kubeconfig_of(platform_settings(settings, runtime.redis)) == KUBECONFIG
        assert json.loads(runtime.redis.get(CACHE_KEY) or b"")["sealed"] != entry["sealed"]

        platform.workspace.remove_stack("prod", force=True)  # from now on only the cache can answer
        assert kubeconfig_of(platform_settings(settings, runtime.redis)) == KUBECONFIG
        rotated = settings.model_copy(update={"pulumi_config_passphrase": SecretStr("another passphrase")})
        with pytest.raises(auto.StackNotFoundError):  # it cannot open the entry, so it goes to the (gone) stack
            platform_settings(rotated, runtime.redis)
    finally:
        runtime.redis.delete(CACHE_KEY)
