"""The results database (SQLAlchemy models, Alembic migrations, queries) and the content-addressed file store."""
