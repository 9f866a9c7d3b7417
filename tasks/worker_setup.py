"""Dask worker preload: a worker leaves Ctrl-C to the run that started it and imports the tasks it
will run.

A terminal's Ctrl-C reaches every process of the foreground group, the local cluster's workers
too; each would print a KeyboardInterrupt traceback while the run is already stopping them. The
tasks' modules (torch, scipy, pymbar, matplotlib: about 7 s here) are imported before the worker
joins the cluster: the local cluster starts while the temporary Prefect server does, so that time
is not added to the first tasks. Workers of `mlipcamp run` are forked from a server that imported
them already (`task_modules`, mlipcamp.flows.local_cluster). A worker's first CPU training starts
its training fork server (mlipcamp.science.training.mace_runner), not the worker: a run with
nothing left to train, or one training on a GPU, never imports mace-torch in a fork server.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
import signal


def task_modules() -> list[str]:
    """What a worker runs: Prefect's task engine and every module of mlipcamp.tasks."""
    package = importlib.import_module("mlipcamp.tasks")
    return [
        "prefect.task_engine",
        *(module.name for module in pkgutil.iter_modules(package.__path__, "mlipcamp.tasks.")),
    ]


def dask_setup(worker) -> None:
    """Ignore SIGINT in this worker process (its nanny stops it when the run ends); import
    `task_modules`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in task_modules():
        importlib.import_module(name)


def dask_teardown(worker) -> None:
    """Freeze the garbage collector's objects: the interpreter's last collection at exit then skips
    them. After a training that collection took over 4 s (torch's object graph), and the nanny
    killed the worker instead, with a warning on the run's terminal."""
    gc.freeze()
