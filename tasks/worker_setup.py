"""Dask worker preload: a worker leaves Ctrl-C to the run that started it, starts its training fork
server, and imports the tasks it will run.

A terminal's Ctrl-C reaches every process of the foreground group, the local cluster's workers
too; each would print a KeyboardInterrupt traceback while the run is already stopping them. The
tasks' modules (torch, scipy, pymbar, matplotlib: about 8 s here) are imported before the worker
joins the cluster: the local cluster starts while the temporary Prefect server does, so that time
is not added to the first tasks. The fork server then imports mace-torch (6–12 s) while the worker
runs its first tasks, so that no training waits for it (mlipcamp.science.training.mace_runner).
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
import signal

from mlipcamp.science.training.mace_runner import start_server


def dask_setup(worker) -> None:
    """Ignore SIGINT in this worker process (its nanny stops it when the run ends); import Prefect's
    task engine and every module of mlipcamp.tasks; start the training fork server."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    importlib.import_module("prefect.task_engine")
    package = importlib.import_module("mlipcamp.tasks")
    for module in pkgutil.iter_modules(package.__path__, "mlipcamp.tasks."):
        importlib.import_module(module.name)
    start_server()  # last: its imports then run beside the first tasks, not before the worker joins


def dask_teardown(worker) -> None:
    """Freeze the garbage collector's objects: the interpreter's last collection at exit then skips
    them. After a training that collection took over 4 s (torch's object graph), and the nanny
    killed the worker instead, with a warning on the run's terminal."""
    gc.freeze()
