"""A migrated, empty Prefect database for the temporary server of a new work directory.

Prefect builds a new SQLite database by running its Alembic migrations (114 of them in Prefect 3.8),
which took 7–8 s of the temporary server's 12–16 s start here, on every first run of a campaign.
The first server of each Prefect version saves its database as a template just after it started
(it then holds only Prefect's block registry); later servers of a new work directory start from a
copy, and Prefect finds it migrated. Any failure here only means a slower start.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlipcamp.db.engine import copy_sqlite, sqlite_file


def server_sqlite_path() -> Path | None:
    """The SQLite file the Prefect server would use, or None (PostgreSQL, an in-memory database)."""
    from prefect.settings import get_current_settings

    path = sqlite_file(get_current_settings().server.database.connection_url.get_secret_value())
    return None if path is None or "memory" in path.name else path


def template_path() -> Path:
    """Where this Prefect version's template lives: the user's cache directory."""
    import prefect

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mlipcamp" / f"prefect-{prefect.__version__}.db"


def seed(database: Path) -> bool:
    """Copy the template to ``database`` when that does not exist yet; True when copied."""
    template = template_path()
    if database.exists() or not template.is_file():
        return False
    return copy_sqlite(template, database)


def save_template(database: Path) -> None:
    """Save ``database`` (a server's, just started) as the template, unless one is saved already."""
    template = template_path()
    if not template.exists():
        copy_sqlite(database, template)
