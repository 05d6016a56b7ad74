from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from controlplane.models import metadata

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.attributes["database_url"], poolclass=pool.NullPool)
    with engine.connect() as connection:
        # One migrator at a time, even when several processes start together.
        connection.exec_driver_sql("SELECT pg_advisory_lock(727274)")
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.exec_driver_sql("SELECT pg_advisory_unlock(727274)")
        connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run controlplane migrate against a database")
run_migrations_online()
