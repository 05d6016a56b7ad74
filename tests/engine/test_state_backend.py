"""The state store: its URL, and what a kill mid-write leaves in a ``file://`` store and how recovery repairs it
(the last with the real pulumi CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.engine.interface import EngineError, RunKind
from controlplane.engine.pulumi_engine import PROJECT_NAME, PulumiEngine
from controlplane.engine.state_backend import backend_url, file_store_folder, remove_unreadable_sidecars
from controlplane.settings import Settings
from programs.tenant.samples import multi_app_spec


def test_a_file_store_is_opened_without_metadata_sidecars(tmp_path: Path) -> None:
    default = backend_url(Settings(env="test", data_dir=tmp_path / "data"))
    assert default == (tmp_path / "data" / "pulumi-state").resolve().as_uri() + "?metadata=skip"
    assert (tmp_path / "data" / "pulumi-state").is_dir()

    folder = tmp_path / "my state"
    configured = backend_url(Settings(env="test", pulumi_backend_url=folder.as_uri() + "?no_tmp_dir=true"))
    assert configured == folder.as_uri() + "?no_tmp_dir=true&metadata=skip"
    assert folder.is_dir()
    assert file_store_folder(configured) == folder


def test_an_operator_choice_and_other_stores_are_kept(tmp_path: Path) -> None:
    chosen = (tmp_path / "s").as_uri() + "?metadata=write"
    assert backend_url(Settings(env="test", pulumi_backend_url=chosen)) == chosen
    s3 = "s3://state-bucket/tenants?region=us-east-1"
    assert backend_url(Settings(env="test", pulumi_backend_url=s3)) == s3
    assert remove_unreadable_sidecars(s3, "tenant", "ns-x") == []


def test_only_the_stacks_torn_sidecars_are_removed(tmp_path: Path) -> None:
    stacks = tmp_path / ".pulumi" / "stacks" / "tenant"
    locks = tmp_path / ".pulumi" / "locks" / "organization" / "tenant" / "ns-a"
    stacks.mkdir(parents=True)
    locks.mkdir(parents=True)
    whole = b'{"md5": "TXg21yCfrR3QWnxWZHwpHg=="}'
    (tmp_path / ".pulumi" / "meta.yaml.attrs").write_bytes(b"")
    (stacks / "ns-a.json.attrs").write_bytes(b"")  # truncated, never written: the kill's instant
    (stacks / "ns-a.json.bak.attrs").write_bytes(b'{"md5": "TXg2')  # cut mid-write
    (locks / "1f2e.json.attrs").write_bytes(b"")
    (stacks / "ns-b.json.attrs").write_bytes(b"")  # another stack's: its own recovery's business
    (stacks / "ns-a.json").write_bytes(b"{}")
    kept = stacks / "ns-a.json.1.attrs"
    kept.write_bytes(whole)

    removed = remove_unreadable_sidecars(tmp_path.as_uri() + "?metadata=skip", "tenant", "ns-a")

    assert sorted(path.name for path in removed) == [
        "1f2e.json.attrs",
        "meta.yaml.attrs",
        "ns-a.json.attrs",
        "ns-a.json.bak.attrs",
    ]
    assert sorted(path.name for path in stacks.iterdir()) == ["ns-a.json", "ns-a.json.1.attrs", "ns-b.json.attrs"]
    assert kept.read_bytes() == whole
    assert not list(locks.iterdir())


def test_a_state_sidecar_a_kill_left_empty_is_repaired_by_the_recovery(engine_settings: Settings) -> None:
    engine = PulumiEngine(engine_settings)
    spec = multi_app_spec(cloudflare=False, render_yaml_to_directory=str(engine_settings.platform_render_dir))
    stack = "ns-torn"
    engine.run(RunKind.UP, stack, spec, lambda event: None)
    store = file_store_folder(engine.backend_url)
    assert store is not None
    assert not list(store.rglob("*.attrs"))  # nothing is written in place, where a kill could tear it

    # A store written by a CLI that keeps sidecars, killed as it truncated the checkpoint's one.
    (store / ".pulumi" / "stacks" / PROJECT_NAME / f"{stack}.json.attrs").write_bytes(b"")
    with pytest.raises(EngineError, match="failed to load checkpoint"):
        engine.run(RunKind.UP, stack, spec, lambda event: None)

    engine.cancel(stack)  # what a reconcile does first after a run was cut short
    again = engine.run(RunKind.UP, stack, spec, lambda event: None)
    assert set(again.changes) == {"same"}
