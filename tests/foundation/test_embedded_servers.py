"""The embedded PostgreSQL is a development server: commits skip the wait for the disk, crash consistency stays."""

from __future__ import annotations

import psycopg

from controlplane.embedded import EmbeddedPostgres


def test_commits_do_not_wait_for_the_disk_but_writes_stay_crash_safe(postgres: EmbeddedPostgres) -> None:
    with psycopg.connect(postgres.url) as conn:
        settings = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', "
                                     "'fsync', 'full_page_writes')").fetchall())  # fmt: skip
    assert settings == {"synchronous_commit": "off", "fsync": "on", "full_page_writes": "on"}
