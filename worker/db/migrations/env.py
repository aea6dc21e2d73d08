"""Alembic environment: the URL comes from the caller (`billing-worker db upgrade`)."""

from alembic import context

from worker.db.models import Base
from worker.db.session import engine_for

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "worker.db.migrate sets sqlalchemy.url"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with engine_for(url).connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
