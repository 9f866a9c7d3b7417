"""Dask cluster profiles: each shipped profile loads and renders the job script a scheduler would get."""

from pathlib import Path

import pytest

import mlipcamp.flows.clusters
from mlipcamp.flows.clusters import (
    WORKER_DASK_CONFIG,
    api_reachable_from_jobs,
    runner_arguments,
    task_resources,
    worker_config_export,
)
from mlipcamp.flows.local_cluster import RestartingLocalCluster
from mlipcamp.settings.execution import Execution, ProfileError, load_profile

PROFILES = sorted((Path(__file__).parents[1] / "deployments" / "dask").glob("*.yaml"))
API = "http://login01:4200/api"


def test_local_cluster_by_default():
    arguments = runner_arguments(Execution(), API)
    assert arguments["cluster_class"] is RestartingLocalCluster
    assert arguments["cluster_kwargs"]["n_workers"] == 2


def test_local_workers_advertise_the_machines_gpus(monkeypatch):
    monkeypatch.setattr(mlipcamp.flows.clusters, "local_gpu_count", lambda: 0)
    assert runner_arguments(Execution(threads_per_worker=2), API)["cluster_kwargs"]["resources"] == {"slots": 2}
    monkeypatch.setattr(mlipcamp.flows.clusters, "local_gpu_count", lambda: 4)
    assert runner_arguments(Execution(), API)["cluster_kwargs"]["resources"] == {"slots": 1, "GPU": 4}


def test_a_cuda_training_holds_a_gpu_and_a_slot():
    assert task_resources("cuda") == {"slots": 1, "GPU": 1}
    assert task_resources("cpu") == task_resources("auto") == task_resources("cpu", 4) == {"slots": 1}
    assert task_resources("cuda", 4) == {"slots": 1, "GPU": 0.25}
    with pytest.raises(ValueError, match="at least 1"):
        task_resources("cuda", 0)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_profile_renders_a_job_script(profile):

    arguments = runner_arguments(Execution(cluster=str(profile)), API)
    arguments["cluster_kwargs"]["gpu_jobs"] = 0  # rendered, not submitted
    with arguments["cluster_class"](**arguments["cluster_kwargs"]) as cluster:
        script = cluster.job_script()
        gpu_script = cluster.gpu_job_script()
    assert f"export PREFECT_API_URL={API}" in script
    assert worker_config_export() in script  # workers keep glibc's malloc defaults
    spec = load_profile(profile)
    assert spec.cluster_kwargs["walltime"] in script
    if "gpu" in profile.name:
        assert "--gres=gpu:1" in script and "--resources GPU=1,slots=8" in script
    else:
        assert "--resources slots=2" in script
    if spec.gpu_jobs is not None:  # GPU-class jobs advertise GPU only: labelling stays on the CPU jobs
        assert "-p gpu" in gpu_script and "--gres=gpu:1" in gpu_script and "--resources GPU=1\n" in gpu_script
        assert f"export PREFECT_API_URL={API}" in gpu_script and "--nthreads 8" in gpu_script


def test_bad_profiles_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        Execution(cluster=str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster_class: dask_jobqueue.NoSuchCluster\n")
    with pytest.raises(ProfileError, match="cannot import cluster class"):
        load_profile(bad)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4200/api",
        "http://127.0.1.1:4200/api",  # Debian's own-hostname address
        "http://localhost:4200/api",
        "http://[::1]:4200/api",
        "http://0.0.0.0:4200/api",  # where a server listens, not where to send
        "http://[::]:4200/api",
        "not a url",
        None,
    ],
)
def test_loopback_or_bind_all_api_is_not_reachable_from_jobs(url):
    assert not api_reachable_from_jobs(url)


def test_routable_or_unresolvable_api_is_taken_as_reachable():
    assert api_reachable_from_jobs("http://10.1.2.3:4200/api")
    assert api_reachable_from_jobs(API)  # login01 does not resolve here; it does on the cluster


@pytest.mark.parametrize("tasks_per_gpu, expected_overlap", [(1, 1), (2, 2), (4, 4)])
def test_md_runs_share_a_gpu_as_configured(tasks_per_gpu, expected_overlap):
    """On a worker with one GPU and four slots, at most ``tasks_per_gpu`` CUDA tasks run at once."""
    import time

    from distributed import Client, LocalCluster

    def hold(_):
        start = time.monotonic()
        time.sleep(0.6)
        return start, time.monotonic()

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=4, processes=False, dashboard_address=None, resources={"slots": 4, "GPU": 1}
        ) as cluster,
        Client(cluster) as client,
    ):
        resources = task_resources("cuda", tasks_per_gpu)
        futures = [client.submit(hold, i, pure=False, resources=resources) for i in range(4)]
        spans = client.gather(futures)
    overlap = max(sum(start <= t < end for start, end in spans) for t, _ in spans)
    assert overlap == expected_overlap


@pytest.mark.parametrize(
    "cluster_class, comes_back",
    [("distributed.LocalCluster", False), ("mlipcamp.flows.local_cluster.RestartingLocalCluster", True)],
    ids=["dask-default", "campaign"],
)
def test_a_local_worker_killed_by_its_task_comes_back(cluster_class, comes_back):
    """Dask's lost-worker check, made to run while the nanny restarts the worker (timeout 0 s), closes a
    LocalCluster's nanny for good (the control); the campaign's cluster gets its worker back."""
    import os
    import time

    import dask
    from distributed import Client
    from prefect.utilities.importtools import from_qualified_name

    settings = {"distributed.deploy.lost-worker-timeout": "0s", "distributed.scheduler.allowed-failures": 0}
    with (
        dask.config.set(settings),
        from_qualified_name(cluster_class)(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        [first] = client.scheduler_info()["workers"]
        client.submit(os._exit, 13)  # what a segfaulting QM code does to its worker
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = set(client.scheduler_info()["workers"])
            if not cluster.workers or workers - {first}:
                break
            time.sleep(0.05)
        assert bool(cluster.workers) == comes_back
        if comes_back:
            assert client.submit(sum, [1, 2]).result(timeout=30) == 3


@pytest.mark.parametrize("configured", [True, False], ids=["campaign", "dask-default"])
def test_local_workers_keep_glibc_malloc_defaults_and_no_profiler(configured, monkeypatch):
    """Dask sets MALLOC_TRIM_THRESHOLD_ in its workers (training 2.3× slower) and samples their stacks
    every 10 ms (labels 20 % slower); campaign workers have neither."""
    import dask
    from distributed import Client, LocalCluster

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "")  # so that the undo removes what the nanny exports here
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setattr(mlipcamp.flows.clusters, "local_gpu_count", lambda: 0)
    kwargs = runner_arguments(Execution(n_workers=1), None)["cluster_kwargs"]
    with (
        dask.config.set(WORKER_DASK_CONFIG if configured else {}),
        LocalCluster(**kwargs) as cluster,
        Client(cluster) as client,
    ):
        [value] = client.run(lambda: __import__("os").environ.get("MALLOC_TRIM_THRESHOLD_")).values()
        [sigint] = client.run(lambda: __import__("signal").getsignal(2) == 1).values()  # SIG_IGN
        [profiling] = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks).values()
    assert value == (None if configured else "65536")
    assert profiling == (not configured)
    assert sigint == configured  # a terminal's Ctrl-C is the run's to handle


def test_batch_job_workers_get_the_campaign_dask_config():
    import os
    import subprocess
    import sys

    line = worker_config_export()
    name, _, value = line.removeprefix("export ").partition("=")
    code = (
        "import dask; from distributed.nanny import _get_env_variables; "
        "print(_get_env_variables('distributed.nanny.pre-spawn-environ'), dask.config.get('distributed.worker.profile'))"
    )
    seen = subprocess.run(
        [sys.executable, "-c", code], env=os.environ | {name: value}, capture_output=True, text=True, check=True
    ).stdout
    assert "MALLOC_TRIM_THRESHOLD_" not in seen and "OMP_NUM_THREADS" in seen and "'enabled': False" in seen


FORKED_WORKERS = """
import json, os, sys, time
from distributed import Client
from mlipcamp.flows.local_cluster import RestartingLocalCluster, fork_workers_from_a_server

os.environ["MLIPCAMP_PROBE"] = "set before the cluster"
fork_workers_from_a_server()

def probe():
    return [os.getpid(), os.getppid(), "mlipcamp.tasks.train" in sys.modules, os.environ.get("MLIPCAMP_PROBE")]

with RestartingLocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
    with Client(cluster) as client:
        before = client.run(probe)
        client.submit(os._exit, 13)  # a worker killed by its task
        deadline = time.monotonic() + 60
        while len(workers := set(client.scheduler_info()["workers"])) < 2 or workers == set(before):
            assert time.monotonic() < deadline, "the killed worker did not come back"
            time.sleep(0.05)
        before, after = list(before.values()), list(client.run(probe).values())
print(json.dumps({"run": os.getpid(), "before": before, "after": after}))
"""


def test_campaign_workers_fork_from_one_server_that_imported_the_tasks():
    """`mlipcamp run`'s workers are children of one fork server (not of the run) that imported the task
    modules (these workers have no preload that would); they see the environment the run had when
    its cluster started, and a worker killed by its task comes back from the same server."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", FORKED_WORKERS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    servers = {parent for _, parent, _, _ in seen["before"] + seen["after"]}
    assert len(servers) == 1 and seen["run"] not in servers
    assert all(
        imported and probe == "set before the cluster" for _, _, imported, probe in seen["before"] + seen["after"]
    )
    assert len({pid for pid, *_ in seen["before"] + seen["after"]}) == 3  # two workers, then one of them anew


@pytest.mark.parametrize("gpus, forked", [(0, True), (2, False)])
def test_the_run_forks_its_workers_only_on_a_machine_without_gpus(gpus, forked, monkeypatch):
    """CUDA in workers forked from the fork server awaits a GPU check: with GPUs they are spawned."""
    import mlipcamp.flows.local_cluster
    from mlipcamp.flows.runner import local_cluster
    from mlipcamp.settings.campaign import load_campaign

    calls = []
    monkeypatch.setattr(mlipcamp.flows.clusters, "local_gpu_count", lambda: gpus)
    monkeypatch.setattr(mlipcamp.flows.local_cluster, "fork_workers_from_a_server", lambda: calls.append(1))

    class Started:
        def __init__(self, **kwargs):
            self.resources = kwargs["resources"]

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(mlipcamp.flows.clusters, "RestartingLocalCluster", Started)
    with local_cluster(load_campaign(Path(__file__).parents[1] / "configs" / "demo.yaml")) as cluster:
        assert ("GPU" in cluster.resources) == (not forked)
    assert calls == ([1] if forked else [])
