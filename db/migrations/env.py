"""Alembic environment: migrations run against the URL set by mlipcamp.db.engine.alembic_config."""

from alembic import context
from sqlalchemy import create_engine, text

from mlipcamp.db.models import Base

config = context.config
MIGRATION_LOCK = 7_140_251  # PostgreSQL advisory lock key: one migration at a time per database


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":  # campaigns starting at once: the others wait, then find head
                connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            context.run_migrations()
    engine.dispose()


run_migrations()
