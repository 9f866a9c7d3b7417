"""Dask worker preload: a worker leaves Ctrl-C to the run that started it.

A terminal's Ctrl-C reaches every process of the foreground group, the local cluster's workers
too; each would print a KeyboardInterrupt traceback while the run is already stopping them.
"""

from __future__ import annotations

import signal


def dask_setup(worker) -> None:
    """Ignore SIGINT in this worker process; its nanny stops it when the run ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
