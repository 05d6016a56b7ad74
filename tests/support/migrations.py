"""A scratch database migrated up to an older revision, for tests of the migration that follows it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from sqlalchemy.engine import make_url

from controlplane.embedded import EmbeddedPostgres
from controlplane.migrations import upgrade


@contextlib.contextmanager
def database_at(postgres: EmbeddedPostgres, name: str, revision: str) -> Iterator[str]:
    """The database ``name`` (created afresh), migrated up to ``revision``; yields its URL and drops it after."""
    admin = make_url(postgres.url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = make_url(postgres.url).set(database=name).render_as_string(hide_password=False)
    upgrade(url, revision)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
