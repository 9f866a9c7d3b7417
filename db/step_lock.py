"""One step at a time across campaigns that share a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from mlipcamp.db.engine import get_engine


@contextmanager
def step_lock(url: str, key: str) -> Iterator[None]:
    """Hold the lock of step ``key`` (a hex hash) while the step is looked up, computed and recorded.

    Two campaigns sharing a PostgreSQL database that reach the same step at once then compute it
    once: the second waits and finds the first's row. The lock is a session-level advisory lock
    on a connection of its own, so a killed process releases it with its connection. On SQLite,
    one campaign writes per work directory (``mlipcamp.flows.run_lock``) and nothing is taken.
    """
    if get_engine(url).dialect.name != "postgresql":
        yield
        return
    lock_id = int(key[:15], 16)  # 60 bits: a PostgreSQL bigint
    with get_engine(url).connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
            connection.commit()
