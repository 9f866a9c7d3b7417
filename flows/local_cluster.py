"""The campaign's local Dask cluster: a LocalCluster whose nannies are never closed for a lost worker."""

from __future__ import annotations

from typing import Any

from distributed import LocalCluster
from distributed.deploy.cluster import Cluster


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
