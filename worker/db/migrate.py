"""Schema migrations (Alembic), run by `billing-worker db upgrade` and by `run` at start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from worker.db.urls import sqlite_path

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Create or bring the schema up to date; the one place a SQLite event log is created."""
    sqlite_file = sqlite_path(database_url)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)
