"""Where a campaign writes: its work directory, results database and file store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlipcamp.db.store import FileStore


@dataclass(frozen=True)
class Workspace:
    """Plain paths and a URL, so it travels to Dask workers as a task argument."""

    workdir: str
    db_url: str
    campaign_id: int
    store_root: str | None = (
        None  # the database's file store (mlipcamp.db.records.database_store); default: workdir/store
    )

    @property
    def store(self) -> FileStore:
        return FileStore(self.store_root or Path(self.workdir) / "store")

    @property
    def plots_dir(self) -> Path:
        path = Path(self.workdir) / "plots"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def plot_path(self, *parts: str) -> Path:
        """PNG path under plots/ named from ``parts`` (level names like ``pbe-d3bj/def2-svp`` made file-safe)."""
        stem = "_".join(re.sub(r"[^A-Za-z0-9.+-]+", "-", part).strip("-") for part in parts)
        return self.plots_dir / f"{stem}.png"

    def scratch(self, *parts: str) -> Path:
        """A directory for a step's working files (training runs, MD output)."""
        path = Path(self.workdir, "scratch", *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path
