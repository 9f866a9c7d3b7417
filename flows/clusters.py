"""Dask clusters for the campaign's task runner: a LocalCluster, or a dask-jobqueue
cluster described by a profile file (see deployments/dask/)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from mlipcamp.flows.batch_cluster import batch_cluster
from mlipcamp.flows.local_cluster import RestartingLocalCluster
from mlipcamp.settings.execution import Execution, load_profile

SLOTS = "slots"  # Dask resource every worker advertises (its threads); each heavy task takes one
GPU = "GPU"  # Dask resource of workers with GPUs (jobqueue GPU profiles: GPU=1 per worker); a CUDA training takes one


# Dask's nanny exports MALLOC_TRIM_THRESHOLD_=65536 into every worker to hand memory back to the OS
# sooner. Any explicit value also turns off glibc's adaptive mmap threshold, so every torch tensor
# above 128 KiB is mmapped and unmapped anew: MACE training ran 2.3× slower per epoch. Workers of
# local clusters started under this configuration keep glibc's default; batch-job workers get it
# through DASK_INTERNAL_INHERIT_CONFIG, which dask reads when it is imported.
# Workers also leave Ctrl-C to the run and start their training fork server (mlipcamp.tasks.worker_setup).
WORKER_DASK_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # the worker's statistical profiler samples every thread's stack each 10 ms: measured here, it
    # made GFN2-xTB labels 20 % slower (benchmarks/label_throughput.py); nothing of ours reads it
    "distributed.worker.profile.enabled": False,
    "distributed.worker.preload": ["mlipcamp.tasks.worker_setup"],
}


def worker_config_export() -> str:
    """Shell line that hands WORKER_DASK_CONFIG to the Dask processes of a batch job."""
    import dask.config

    nested: dict[str, Any] = {}
    for path, value in WORKER_DASK_CONFIG.items():
        *parents, leaf = path.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return f"export DASK_INTERNAL_INHERIT_CONFIG={dask.config.serialize(nested)}"


def task_resources(device: str, tasks_per_gpu: int = 1, gpu_jobs: bool = False) -> dict[str, float]:
    """Dask resources of one heavy task: a slot, and 1/``tasks_per_gpu`` of a GPU when it must run
    on CUDA (so that many such tasks share one GPU). With ``gpu_jobs`` (a batch cluster with GPU-class
    jobs, whose workers advertise GPU only) a training or MD task takes its share of one of those."""
    if tasks_per_gpu < 1:
        raise ValueError(f"tasks_per_gpu must be at least 1, got {tasks_per_gpu}")
    if gpu_jobs:
        return {GPU: 1 / tasks_per_gpu}
    return {SLOTS: 1, GPU: 1 / tasks_per_gpu} if device == "cuda" else {SLOTS: 1}


def local_gpu_count() -> int:
    """GPUs torch sees on this machine (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def runner_arguments(execution: Execution, api_url: str | None) -> dict[str, Any]:
    """Keyword arguments of prefect_dask.DaskTaskRunner for the campaign's execution section."""
    if execution.cluster == "local":
        resources = {SLOTS: execution.threads_per_worker}
        if gpus := local_gpu_count():  # local workers share this machine's GPUs
            resources[GPU] = gpus
        return {
            "cluster_class": RestartingLocalCluster,
            "cluster_kwargs": {
                "n_workers": execution.n_workers,
                "threads_per_worker": execution.threads_per_worker,
                "processes": True,
                "dashboard_address": None,
                "resources": resources,
            },
        }
    profile = load_profile(execution.cluster)
    kwargs = dict(profile.cluster_kwargs)
    threads = max(1, int(kwargs.get("cores", 1)) // int(kwargs.get("processes", 1)))
    kwargs["worker_extra_args"] = _with_resource(list(kwargs.get("worker_extra_args", [])), f"{SLOTS}={threads}")
    exports = [worker_config_export()]
    if api_url:  # batch jobs do not inherit our environment: tell them where the Prefect API is
        exports.append(f"export PREFECT_API_URL={api_url}")
    kwargs["job_script_prologue"] = [*kwargs.get("job_script_prologue", []), *exports]
    if profile.gpu_jobs is not None:
        gpu = {"processes": 1, **profile.gpu_jobs.cluster_kwargs}
        gpu["worker_extra_args"] = _with_resource(list(gpu.get("worker_extra_args", [])), f"{GPU}=1")
        if "job_script_prologue" in gpu:
            gpu["job_script_prologue"] = [*gpu["job_script_prologue"], *exports]
        kwargs |= {"gpu_jobs": profile.gpu_jobs.count, "gpu_job_kwargs": gpu}
    kept = {"cluster_class": profile.cluster_class, "lost_after_s": profile.lost_job_after_s}
    arguments: dict[str, Any] = {"cluster_class": batch_cluster, "cluster_kwargs": kept | kwargs}
    if profile.adapt_kwargs:
        arguments["adapt_kwargs"] = profile.adapt_kwargs
    return arguments


def api_reachable_from_jobs(api_url: str | None) -> bool:
    """False for a Prefect API that compute nodes of a batch cluster cannot reach: a loopback host
    (``127.0.0.1``, ``localhost``, a name this machine resolves to loopback, as Debian does its own
    name) or a bind-all address (``0.0.0.0``, which is where a server listens, not an address).
    A name this machine cannot resolve is given the benefit of the doubt."""
    host = urlsplit(api_url).hostname if api_url else None
    if not host:
        return False
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in socket.getaddrinfo(host, None)}
        except OSError:
            return True
    return not any(address.is_loopback or address.is_unspecified for address in addresses)


def _with_resource(worker_args: list[str], resource: str) -> list[str]:
    """dask-worker arguments with ``resource`` added to its one ``--resources A=1,B=2`` option."""
    if "--resources" in worker_args:
        index = worker_args.index("--resources") + 1
        worker_args[index] = f"{worker_args[index]},{resource}"
        return worker_args
    return [*worker_args, "--resources", resource]
