"""Engine, sessions and schema migration of the results database (``Session`` re-exported for type hints)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 60.0


class DatabaseError(RuntimeError):
    """The database cannot be reached or migrated; the message says which URL and why."""


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def sqlite_read_url(path: str | Path) -> str:
    """URL of a SQLite file for reading: the plain URL where its directory is writable, else read-only.

    A WAL database needs its ``-shm`` file: in a read-only directory (archived results) SQLite can
    only create it if it exists already. A cleanly closed database has no ``-wal`` file, so all its
    data is in the main file and it is opened ``immutable``; one left with a ``-wal`` file (a killed
    run) is opened ``mode=ro`` and reads the log too, if its ``-shm`` file is there.
    """
    path = Path(path).resolve()
    if os.access(path.parent, os.W_OK) and os.access(path, os.W_OK):
        return sqlite_url(path)
    wal = path.with_name(path.name + "-wal")
    return f"sqlite:///file:{path}?mode=ro{'' if wal.exists() else '&immutable=1'}&uri=true"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (plain or read-only form); None for a server database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database.removeprefix("file:")).resolve()


def copy_sqlite(source: Path, target: Path) -> bool:
    """Copy a SQLite database, consistently even while another process writes it (SQLite's online
    backup), as one file (no -wal beside it), written next to ``target`` and renamed onto it; False,
    and nothing left behind, when it cannot be done."""
    import sqlite3
    import tempfile
    from contextlib import closing, suppress

    partial = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(handle)
        with (
            closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(partial)) as dst,
        ):
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        os.replace(partial, target)
        return True
    except (OSError, sqlite3.Error):
        if partial is not None:
            with suppress(OSError):
                os.unlink(partial)
        return False


def is_read_only(url: str) -> bool:
    return url.startswith("sqlite:///file:") and "mode=ro" in url


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL and process; SQLite gets WAL, a busy timeout and foreign keys."""
    if is_read_only(url):
        return create_engine(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = sessionmaker(get_engine(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def init_db(url: str) -> None:
    """Create or upgrade the schema to the newest Alembic revision (a read-only one is only checked)."""
    if is_read_only(url):
        _check_revision(url)
        return
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        command.upgrade(alembic_config(url), "head")
    except Exception as exc:  # the driver's own exception types differ per backend
        raise DatabaseError(f"database {redact(url)} cannot be opened or migrated: {exc}") from exc


def _check_revision(url: str) -> None:
    """Refuse a read-only database whose schema this version cannot read."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    try:
        with get_engine(url).connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception as exc:  # the driver's own exception types differ per backend
        raise DatabaseError(f"database {redact(url)} cannot be read: {exc}") from exc
    if current != head:
        raise DatabaseError(
            f"database {redact(url)} is read-only and at schema revision {current}; this mlipcamp reads "
            f"{head}: open it once where it can be written (any mlipcamp command) to upgrade it"
        )


def database_url_problem(url: str) -> str | None:
    """Why a user's ``database_url`` cannot be used, in one line; None when it can.

    A password in the URL is refused: the URL reaches the flow's parameters, which the Prefect UI
    shows. PostgreSQL (libpq) reads it from ``PGPASSWORD`` or ``~/.pgpass`` instead.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return f"database_url: no SQLAlchemy dialect {parsed.drivername!r} (e.g. postgresql+psycopg, sqlite)"
    except (ArgumentError, ValueError):
        return f"database_url: {url!r} is not a SQLAlchemy URL (e.g. postgresql+psycopg://user@host:5432/mlipcamp)"
    if parsed.password is not None:
        return (
            "database_url: holds a password, which the Prefect UI would show with the flow's parameters; "
            "give it in PGPASSWORD or ~/.pgpass instead"
        )
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        extra = ""
        if parsed.get_backend_name() == "postgresql":
            use = "" if parsed.drivername == "postgresql+psycopg" else "use postgresql+psycopg:// and "
            extra = f" ({use}pip install 'mlipcamp[postgres]')"
        return f"database_url: the {parsed.drivername} driver is not installed: {exc}{extra}"
    return None


def redact(url: str) -> str:
    """The URL with any password replaced by ***."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
