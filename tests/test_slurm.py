"""A campaign on a real single-node SLURM through dask-jobqueue: sampling and labelling on CPU jobs,
training and MD on GPU-class jobs (fake gres GPUs); a GPU job cancelled mid-training (as a walltime
would) is replaced and the campaign ends with the results of a local run."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from slurm_node import jobs, start_slurm, stop_slurm
from sqlalchemy import text
from test_end_to_end import DEMO, MLIPCAMP, mlipcamp, query, small_md

from mlipcamp.db.engine import session_scope, sqlite_url

pytestmark = pytest.mark.slow
COSTS = ("device", "train_time_s", "seconds_per_epoch", "peak_memory_mb", "wall_time_s", "steps_per_s", "ns_per_day")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("slurm")
    env = start_slurm(root)
    try:
        yield env
    finally:
        stop_slurm(root, env)


def profile(path: Path, logs: Path) -> Path:
    """One CPU job and one GPU-class job (one core each), both on this machine."""
    common = {"cores": 1, "processes": 1, "memory": "4GB", "walltime": "00:30:00", "interface": "lo"}
    path.write_text(
        yaml.safe_dump(
            {
                "cluster_class": "dask_jobqueue.SLURMCluster",
                "jobs_on_this_host": True,
                "lost_job_after_s": 20,
                "cluster_kwargs": common
                | {"queue": "cpu", "n_workers": 1, "python": sys.executable, "log_directory": str(logs)},
                "gpu_jobs": {"count": 1, "cluster_kwargs": {"queue": "gpu", "job_extra_directives": ["--gres=gpu:1"]}},
            }
        )
    )
    return path


def campaign(tmp_path: Path, cluster: str) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    data["name"] = "slurm" if cluster != "local" else "local"
    data["sampling"].update(n_molecules=4, n_steps=4, snapshot_interval=2, clusters_per_snapshot=8, cluster_size=[1, 2])
    data["sampling"]["periodic_snapshots"] = False
    data["training"].update(data_kinds=["cluster"], seeds=[1, 2], valid_fraction=0.2, test_fraction=0.2)
    data["training"]["mace"].update(max_num_epochs=8, num_channels=8, batch_size=4)
    data["md"].update(small_md())
    data["analysis"].update(rdf_r_max="4 Å", diffusion_blocks=2)
    data["sensitivity"] = {"n_bootstrap": 20}  # the statistics are tested in test_sensitivity.py
    data["execution"] = {"cluster": cluster, "sampling": {"n_threads": 1}, "labelling": {"batch_size": 4}}
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def results(config: Path, workdir: Path) -> dict[str, list[dict]]:
    """`results` and `models` as CSV rows, without the columns that measure cost, and the model files' sha256."""
    found = {}
    for command in ("results", "models"):
        done = query(command, str(config), "--workdir", str(workdir), "--format", "csv")
        assert done.returncode == 0, done.stderr
        found[command] = [
            {k: v for k, v in row.items() if k not in COSTS} for row in csv.DictReader(io.StringIO(done.stdout))
        ]
    with session_scope(sqlite_url(workdir / "mlipcamp.sqlite")) as session:
        found["files"] = sorted(session.execute(text("SELECT name, file_sha256 FROM model")).all())
    return found


def start(config: Path, workdir: Path, env: dict, log: Path) -> subprocess.Popen:
    """`mlipcamp run` in its own process group, its output in ``log`` (a pipe could fill and stall it)."""
    with log.open("w") as out:
        return subprocess.Popen(
            [*MLIPCAMP, "run", str(config), "--workdir", str(workdir)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_campaign_on_slurm_jobs_survives_a_cancelled_gpu_job_and_equals_a_local_run(tmp_path, slurm):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | slurm
    local = campaign(tmp_path, "local")
    logs = tmp_path / "job-logs"
    config = campaign(tmp_path, str(profile(tmp_path / "slurm-profile.yaml", logs)))
    workdir = tmp_path / "slurm"
    # the local run goes alongside the one on SLURM, whose two one-core jobs leave a core idle at times
    runs = {
        "local": start(local, tmp_path / "local", env, tmp_path / "local.log"),
        "slurm": start(config, workdir, env, tmp_path / "slurm.log"),
    }
    run = runs["slurm"]
    seen: dict[str, dict] = {}  # job id → squeue row, over the whole run
    cancelled = None
    deadline = time.monotonic() + 600
    try:
        while run.poll() is None:
            assert time.monotonic() < deadline, "the campaign on SLURM did not finish in 10 minutes"
            for job in jobs(slurm):
                seen.setdefault(job["id"], job).update(state=job["state"])
            training = any((workdir / "scratch" / "train").glob("*/train.log"))
            gpu = [j for j in jobs(slurm) if j["partition"] == "gpu" and j["state"] == "RUNNING"]
            if cancelled is None and training and gpu:  # as a walltime would, in the middle of a training
                cancelled = gpu[0]["id"]
                subprocess.run(["scancel", cancelled], env=os.environ | slurm, check=True)
            time.sleep(1)
        runs["local"].wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in runs.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert runs["local"].returncode == 0, (tmp_path / "local.log").read_text()[-3000:]
    output = (tmp_path / "slurm.log").read_text()
    print("SLURM jobs seen:", *seen.values(), sep="\n  ")
    assert cancelled is not None, "no training ran on a GPU job"
    if run.returncode != 0:  # the lost training was recorded as failed: the next run resumes it
        assert "did not finish" in output or "did not complete" in output, output[-3000:]
        again = mlipcamp("run", str(config), "--workdir", str(workdir), env=env)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]

    partitions = [(job["partition"], job["gres"]) for job in seen.values()]
    assert ("cpu", "N/A") in partitions
    assert partitions.count(("gpu", "gres:gpu:1")) >= 2  # the cancelled GPU job was replaced
    job_of = {job["id"]: job["partition"] for job in seen.values()}
    with session_scope(sqlite_url(workdir / "mlipcamp.sqlite")) as session:
        where = {
            "label": {h for (h,) in session.execute(text("SELECT host FROM label"))},
            "train": {d for (d,) in session.execute(text("SELECT device FROM model"))},
            "md": {d for (d,) in session.execute(text("SELECT device FROM md_run"))},
        }
    partitions_of = {
        step: {job_of[j] for h in hosts for j in re.findall(r"SLURM job (\d+)", h)} for step, hosts in where.items()
    }
    assert partitions_of == {"label": {"cpu"}, "train": {"gpu"}, "md": {"gpu"}}, where
    assert results(config, workdir) == results(local, tmp_path / "local")


@pytest.mark.parametrize("kept", [False, True], ids=["dask-default", "campaign"])
def test_a_gpu_job_whose_worker_restarts_slowly_keeps_its_job(tmp_path, slurm, monkeypatch, kept):
    """Dask's lost-worker clean-up, made to run while the nanny restarts the worker (timeout 0 s: any
    restart is slow), cancels a one-process SLURM job for good (the control); the campaign's GPU job
    keeps its SLURM job, and its worker comes back and takes GPU work."""
    import dask
    from distributed import Client
    from prefect.utilities.importtools import from_qualified_name

    from mlipcamp.flows.clusters import runner_arguments
    from mlipcamp.settings.execution import Execution

    for name, value in slurm.items():
        monkeypatch.setenv(name, value)  # sbatch, squeue and scancel of the cluster find the test's SLURM
    arguments = runner_arguments(Execution(cluster=str(profile(tmp_path / "profile.yaml", tmp_path))), None)
    kwargs = arguments["cluster_kwargs"] | {"n_workers": 0}  # the GPU job alone
    if not kept:  # the same GPU job as a plain SLURMCluster's one job
        cluster_class = from_qualified_name(kwargs.pop("cluster_class"))
        kwargs = {k: v for k, v in kwargs.items() if k not in ("lost_after_s", "gpu_jobs", "gpu_job_kwargs")}
        kwargs |= arguments["cluster_kwargs"]["gpu_job_kwargs"] | {"n_workers": 1}
    else:
        cluster_class = arguments["cluster_class"]
    settings = {"distributed.deploy.lost-worker-timeout": "0s", "distributed.scheduler.allowed-failures": 0}
    with dask.config.set(settings), cluster_class(**kwargs) as cluster, Client(cluster) as client:
        client.wait_for_workers(1, timeout=120)
        [first] = client.scheduler_info()["workers"]
        [job] = [j["id"] for j in jobs(slurm) if j["partition"] == "gpu" and j["state"] == "RUNNING"]
        client.submit(os._exit, 13, resources={"GPU": 1})  # what a crashing CUDA kernel does to its worker
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            back = set(client.scheduler_info()["workers"]) - {first}
            alive = any(j["id"] == job for j in jobs(slurm))
            if back or not alive:
                break
            time.sleep(0.5)
        assert alive == kept and bool(back) == kept, (alive, back)
        if kept:
            assert client.submit(sum, [1, 2], resources={"GPU": 1}).result(timeout=60) == 3
            assert [j["id"] for j in jobs(slurm) if j["partition"] == "gpu"] == [job]  # no second job was needed
