"""An API key is shown once: afterwards neither the database nor any endpoint can give it back."""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from controlplane.runtime import Runtime
from tests.support.live import Live


def whole_database_as_text(runtime: Runtime) -> str:
    with runtime.engine.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
        ).scalars()
        dumps = [
            conn.execute(text(f"SELECT coalesce(string_agg(t::text, chr(10)), '') FROM \"{table}\" t")).scalar_one()  # noqa: S608
            for table in tables
        ]
    return "\n".join(dumps)


def test_an_api_key_is_not_recoverable_after_creation(live: Live, runtime: Runtime) -> None:
    created = live.client.post("/v1/api-keys", json={"name": "ci", "scopes": ["namespaces:read"]}, headers=live.headers)
    assert created.status_code == 201
    key = created.json()["key"]
    secret = key.removeprefix("cpk_").partition("_")[2]  # the public id has no "_"; the secret may
    live.client.app.state.api_logs.flush()  # type: ignore[attr-defined]

    stored = whole_database_as_text(runtime)
    assert secret not in stored
    assert hashlib.sha256(key.encode()).hexdigest() not in stored  # not an unkeyed hash either
    listed = live.client.get("/v1/api-keys", headers=live.headers).json()["items"]
    assert all("key" not in item for item in listed)
    assert secret not in str(listed)
    # The key still works: what is stored is enough to check it, not to give it back.
    assert live.client.get("/v1/namespaces", headers={"Authorization": f"Bearer {key}"}).status_code == 200
