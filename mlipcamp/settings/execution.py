"""Where and how a campaign runs (the ``execution`` section): Dask cluster, devices, threads, GPU
sharing, labelling batch size. Nothing here changes a result, so no cache key holds it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlipcamp.schema import StrictModel

Device = Literal["auto", "cpu", "cuda"]


class ProfileError(ValueError):
    """A Dask cluster profile that cannot be used; the message names the file and the problem."""


class GpuJobs(BaseModel):
    """GPU-class batch jobs beside a profile's CPU jobs: trainings and MD runs go to them, labelling
    and sampling to the CPU jobs."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=1, description="GPU jobs kept for the whole run")
    cluster_kwargs: dict[str, Any] = Field(
        {}, description="the CPU jobs' arguments that differ, e.g. queue, job_extra_directives: [--gres=gpu:1]"
    )


class ClusterProfile(BaseModel):
    """A Dask cluster class with its arguments (deployments/dask/*.yaml); ``adapt_kwargs`` make it
    scale with the work."""

    model_config = ConfigDict(extra="forbid")
    cluster_class: str = Field(description="import path, e.g. dask_jobqueue.SLURMCluster")
    cluster_kwargs: dict[str, Any] = {}
    adapt_kwargs: dict[str, Any] | None = None
    gpu_jobs: GpuJobs | None = None
    lost_job_after_s: float = Field(
        60.0, gt=0, description="a job whose workers have all been gone this long is cancelled and submitted again"
    )
    jobs_on_this_host: bool = Field(
        False, description="the batch jobs run on this machine (a one-node cluster): a loopback Prefect API serves them"
    )

    @field_validator("cluster_class")
    @classmethod
    def _importable(cls, path: str) -> str:
        module, _, name = path.rpartition(".")
        try:
            getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError):
            raise ValueError(f"cannot import cluster class {path!r}") from None
        return path


def load_profile(path: str | Path) -> ClusterProfile:
    """Read a cluster profile; raise ProfileError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"profile {path} not found")
    try:
        return ClusterProfile.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ProfileError(f"profile {path} is invalid: {exc}") from None


class SamplingExecution(StrictModel):
    n_threads: int = Field(1, ge=1, description="OpenMP threads of the sampling potential")


class LabellingExecution(StrictModel):
    batch_size: int = Field(
        50, ge=1, description="most structures per labelling task (batches are balanced over the worker slots)"
    )
    n_threads: int = Field(1, ge=1, description="OpenMP/BLAS threads per QM job")


class TrainingExecution(StrictModel):
    device: Device = "auto"
    n_threads: int = Field(1, ge=1, description="torch threads per training on CPU")


class MDExecution(StrictModel):
    device: Device = "auto"
    n_threads: int = Field(1, ge=1, description="torch threads per MD run on CPU")
    runs_per_gpu: int = Field(1, ge=1, description="MD runs sharing one GPU (device cuda): each holds 1/this of it")


class Execution(StrictModel):
    cluster: str = Field("local", description="'local', or a Dask cluster profile file (deployments/dask/*.yaml)")
    n_workers: int = Field(2, ge=1, description="Dask worker processes of the local cluster")
    threads_per_worker: int = Field(1, ge=1)
    sampling: SamplingExecution = SamplingExecution()
    labelling: LabellingExecution = LabellingExecution()
    training: TrainingExecution = TrainingExecution()
    md: MDExecution = MDExecution()

    @field_validator("cluster")
    @classmethod
    def _profile(cls, cluster: str) -> str:
        if cluster != "local":
            load_profile(cluster)
        return cluster

    @property
    def local_slots(self) -> int | None:
        """Tasks the local cluster runs at once; None on batch jobs, whose number changes."""
        return self.n_workers * self.threads_per_worker if self.cluster == "local" else None

    @property
    def profile(self) -> ClusterProfile | None:
        """The batch cluster's profile; None for the local cluster."""
        return None if self.cluster == "local" else load_profile(self.cluster)
