from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from controlplane.models import metadata
from controlplane.runtime import Runtime


def test_models_and_migrations_agree(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == [], f"models and migrations disagree; write a migration: {differences}"


def test_migrations_are_at_head(runtime: Runtime) -> None:
    from alembic.script import ScriptDirectory

    from controlplane.migrations import alembic_config

    assert runtime.settings.database_url is not None
    heads = ScriptDirectory.from_config(alembic_config(runtime.settings.database_url)).get_heads()
    with runtime.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    assert len(heads) == 1, f"migrations branch: {heads}"
    assert set(current) == set(heads)
