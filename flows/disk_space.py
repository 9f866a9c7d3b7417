"""Free space on a run's file system: refused at the start when too little, named when a run fails for it."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from mlipcamp.settings.campaign import CampaignError

MIN_FREE_MIB = 100  # the temporary Prefect server's database and a first model need tens of MiB
FULL_BELOW_MIB = 8  # what is left when writes fail: file systems keep some blocks back


def free_mib(path: Path) -> float:
    """Free space (MiB) on the file system holding ``path`` (its nearest existing parent)."""
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free / 2**20


def require_free_space(workdir: Path) -> None:
    """Raise CampaignError when the work directory's file system cannot hold a run."""
    if (free := free_mib(workdir)) < MIN_FREE_MIB:
        raise CampaignError(
            f"work directory {workdir}: only {free:.0f} MiB free on its file system; a run needs {MIN_FREE_MIB} MiB"
        )


def disk_full(workdir: Path, exc: BaseException) -> str | None:
    """'the file system of … is full' when ``exc`` or the state of the disk says so, else None.

    A full disk often reaches the run as an HTTP 500 from the Prefect server (whose database lives
    in the work directory), so the free space is checked as well as the exception chain.
    """
    chain, seen = exc, set()
    full = False
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        full |= isinstance(chain, OSError) and chain.errno == errno.ENOSPC
        chain = chain.__cause__ or chain.__context__
    free = free_mib(workdir)
    if not full and free >= FULL_BELOW_MIB:
        return None
    return f"the file system of {workdir} is full ({free:.1f} MiB free: No space left on device)"
