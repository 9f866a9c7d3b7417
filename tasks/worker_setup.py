"""Dask worker preload: a worker leaves Ctrl-C to the run that started it, and starts its training
fork server at once.

A terminal's Ctrl-C reaches every process of the foreground group, the local cluster's workers
too; each would print a KeyboardInterrupt traceback while the run is already stopping them. The
fork server imports mace-torch (6–12 s) while the worker does other work, so that no training
waits for it (mlipcamp.science.training.mace_runner).
"""

from __future__ import annotations

import signal

from mlipcamp.science.training.mace_runner import start_server


def dask_setup(worker) -> None:
    """Ignore SIGINT in this worker process (its nanny stops it when the run ends); start the
    training fork server."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    start_server()
