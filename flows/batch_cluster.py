"""The campaign's batch-job Dask cluster: a dask-jobqueue cluster (SLURM, PBS …) whose CPU jobs follow
the profile, with GPU-class jobs beside them for training and MD, and whose lost jobs come back.

A job killed by its walltime or ``scancel`` takes its workers with it. Dask's own clean-up closes
such a job only when its worker had the job's name (one process per job) and does not submit a new
one unless the cluster is rescaled; its tasks then wait for a worker that never comes, and the flow
stays Running for ever (Prefect issue 12969, prefect-dask 109). Here every job whose workers have
all been gone for ``lost_after_s`` is cancelled and submitted again, and a job whose worker merely
restarts within that time (a slow CUDA start after a crash) is left alone.
"""

from __future__ import annotations

import time
from typing import Any

from distributed.utils import import_term
from tornado.ioloop import PeriodicCallback

CHECK_EVERY_S = 5.0


def batch_cluster(
    cluster_class: str,
    gpu_jobs: int = 0,
    gpu_job_kwargs: dict[str, Any] | None = None,
    lost_after_s: float = 60.0,
    **kwargs,
):
    """A ``cluster_class`` (e.g. ``dask_jobqueue.SLURMCluster``) with ``kwargs`` for its CPU jobs, and
    ``gpu_jobs`` jobs more with ``gpu_job_kwargs`` in place of those (queue, ``--gres``, one process
    advertising ``GPU=1``), kept for the whole run whatever adapt does with the CPU jobs. A job whose
    workers have all been gone ``lost_after_s`` seconds is cancelled and submitted again (Dask's
    own lost-worker timeout is 15 s)."""
    base = import_term(cluster_class)
    cls = type(f"Campaign{base.__name__}", (KeptJobs, base), {})
    return cls(gpu_jobs=gpu_jobs, gpu_job_kwargs=gpu_job_kwargs or {}, lost_after_s=lost_after_s, **kwargs)


class KeptJobs:
    """Mixin for a dask_jobqueue cluster class: fixed GPU-class jobs, and lost jobs replaced."""

    def __init__(self, *, gpu_jobs: int, gpu_job_kwargs: dict[str, Any], lost_after_s: float, **kwargs):
        super().__init__(**kwargs)
        self._lost_after_s = lost_after_s
        self._gpu_options = {**self._job_kwargs, **gpu_job_kwargs}
        self._gpu_count, self._gpu_jobs, self._submitted = gpu_jobs, {}, 0
        self._last_seen: dict[str, float] = {}
        self._keeping = False
        keeper = PeriodicCallback(self._keep_jobs, CHECK_EVERY_S * 1000)
        self.periodic_callbacks["mlipcamp-keep-jobs"] = keeper  # stopped when the cluster closes
        self.loop.add_callback(keeper.start)
        self.loop.add_callback(self._keep_jobs)

    async def _keep_jobs(self) -> None:
        """Replace jobs whose workers have been gone for ``lost_after_s``; top up the GPU jobs."""
        if self._keeping or self.status.name not in ("running", "created"):
            return
        self._keeping = True  # one check at a time: a submission awaits sbatch
        try:
            await self._check_jobs()
        finally:
            self._keeping = False

    async def _check_jobs(self) -> None:
        now = time.monotonic()
        registered = {str(w.get("name")) for w in self.scheduler_info.get("workers", {}).values()}
        jobs = {**self.workers, **self._gpu_jobs}
        lost = []
        for name in jobs:
            if any(w == name or w.startswith(f"{name}-") for w in registered):
                self._last_seen[name] = now
            elif name in self._last_seen and now - self._last_seen[name] > self._lost_after_s:
                lost.append(name)
        for name in lost:
            del self._last_seen[name]
            job = self._gpu_jobs.pop(name, None) or self.workers.pop(name, None)
            if job is not None:
                await job.close()  # cancels the job if the scheduler still has it
        while len(self._gpu_jobs) < self._gpu_count:
            self._submitted += 1
            name = f"{self._name}-gpu-{self._submitted}"
            job = self.job_cls(self.scheduler.address, name=name, **self._gpu_options)
            await job
            self._gpu_jobs[name] = job
        if set(self.worker_spec) - set(self.workers):  # CPU jobs closed here or by Dask: submitted again
            await self._correct_state()

    async def _close(self) -> None:
        for job in self._gpu_jobs.values():
            await job.close()
        self._gpu_jobs.clear()
        await super()._close()

    def gpu_job_script(self) -> str:
        """The batch script of a GPU-class job, as the scheduler gets it."""
        return self.job_cls(name="gpu-job", **self._gpu_options).job_script()
