"""The campaign's local Dask cluster: a LocalCluster whose nannies are never closed for a lost
worker, and whose workers can be forked from a server that imported what they run."""

from __future__ import annotations

import multiprocessing.forkserver
from typing import Any

import dask
from distributed import LocalCluster
from distributed.deploy.cluster import Cluster
from distributed.utils import get_mp_context

from mlipcamp.tasks.worker_setup import task_modules


class RestartingLocalCluster(LocalCluster):
    """A LocalCluster that leaves restarting a dead worker to its nanny, every time.

    Dask's SpecCluster closes a worker's nanny for good when, ``distributed.deploy.lost-worker-timeout``
    (15 s) after a worker was lost, no worker of that name is registered: meant for batch jobs
    that are gone. A local nanny restarts its worker itself, but a worker that a QM code kills again
    and again can be caught between death and re-registration at that instant; the nanny is then
    closed, and the campaign waits forever for a worker that never comes.
    """

    def _update_worker_status(self, op: str, msg: Any) -> None:
        Cluster._update_worker_status(self, op, msg)  # the bookkeeping, without SpecCluster's hard close


def fork_workers_from_a_server() -> dask.config.set:
    """Have this process's local Dask nannies start and restart their workers from multiprocessing's
    fork server, which imports Dask and `task_modules` once, instead of a new interpreter each
    (``spawn``, Dask's default): two workers importing torch, Prefect and the tasks cost about 14 s
    of CPU per run on 2 cores, and a worker that a task killed took 11 s to come back.

    The fork server starts with the first worker and keeps the environment this process had then
    (the nanny's pre-spawn variables, OMP_NUM_THREADS=1 among them, included), so only a process
    whose environment is settled calls this before it starts its cluster: `mlipcamp run`, a
    deployment's flow run. The server stays single-threaded: it imports, it never runs a task.
    It exits when this process does; a worker exits when its nanny's process does (Dask's own pipe),
    whoever its parent is. Returns Dask's configuration change, a context manager that undoes it."""
    method = dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    get_mp_context()  # Dask sets its preload list on its first call; ours replaces it
    multiprocessing.forkserver.set_forkserver_preload(["distributed", *task_modules()])
    return method
