"""Alembic migrations, run by ``controlplane migrate`` and at ``controlplane dev`` start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from controlplane.db import sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = sqlalchemy_url(database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
