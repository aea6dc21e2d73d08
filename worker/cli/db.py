"""`billing-worker db`: schema migrations."""

import click

from worker.config import load_settings
from worker.db.migrate import upgrade as upgrade_schema


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply every migration up to the newest schema."""
    settings = load_settings()
    upgrade_schema(settings.effective_database_url)
    click.echo("database schema is up to date")
