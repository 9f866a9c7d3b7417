"""A running campaign under signals, with real processes: a second run is refused at once, Ctrl-C
or SIGTERM stops everything the run started within 15 s and says how to resume, and a SIGKILLed
run leaves nothing behind that blocks the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml
from labelled_data import ec_dataset
from test_end_to_end import MLIPCAMP, mlipcamp
from test_imported_campaign import imported_only

from mlipcamp.db.engine import session_scope, sqlite_url
from mlipcamp.db.leases import lease_holder
from mlipcamp.flows.run_lock import workdir_lock
from mlipcamp.science.training.mace_runner import TRAINING_PROCESS_NAME

STOP_WITHIN_S = 15.0


@pytest.fixture
def long_campaign(tmp_path) -> tuple[Path, Path, dict]:
    """An imported-data campaign whose trainings run for many minutes: a run is interrupted while
    MACE trains in subprocesses of the Dask workers."""
    files = {
        "clusters": ec_dataset(tmp_path / "clusters.xyz", "cluster", 12, seed=1, with_atoms=True),
        "boxes": ec_dataset(tmp_path / "boxes.xyz", "periodic", 6, seed=2),
        "test": ec_dataset(tmp_path / "test.xyz", "cluster", 6, seed=3),
    }
    data = imported_only(tmp_path, files)
    data["training"]["mace"].update(max_num_epochs=100000, num_channels=8, batch_size=4)
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return config, tmp_path / "work", env | {"PREFECT_HOME": str(tmp_path / "prefect-home")}


def start_run(config: Path, workdir: Path, env: dict) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """`mlipcamp run` in a session of its own, once a MACE training runs; with its descendants."""
    run = subprocess.Popen(
        [*MLIPCAMP, "run", str(config), "--workdir", str(workdir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not _training(run.pid):
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "no MACE training started within 300 s"
        time.sleep(1)
    return run, psutil.Process(run.pid).children(recursive=True)


def _training(pid: int) -> bool:
    return any(p.name() == TRAINING_PROCESS_NAME for p in psutil.Process(pid).children(recursive=True))


def assert_all_gone(processes: list[psutil.Process], within_s: float) -> None:
    _, alive = psutil.wait_procs(processes, timeout=within_s)
    assert not alive, [" ".join(p.cmdline())[:120] for p in alive]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_interrupted_run_stops_everything_and_says_how_to_resume(long_campaign, how):
    config, workdir, env = long_campaign
    run, descendants = start_run(config, workdir, env)
    assert len(descendants) >= 4  # Prefect server, Dask workers, MACE trainings

    second = mlipcamp("run", str(config), "--workdir", str(workdir), env=env)
    assert second.returncode == 4
    assert second.stderr.strip().count("\n") == 0, second.stderr
    assert "already running" in second.stderr and f"pid {run.pid}" in second.stderr

    start = time.monotonic()
    if how == "sigterm":
        run.send_signal(signal.SIGTERM)
    else:  # a terminal's Ctrl-C goes to the whole foreground process group
        os.killpg(run.pid, signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    stopped_s = time.monotonic() - start
    assert run.returncode == 130, stderr
    assert "resume with `mlipcamp run" in stderr.strip().splitlines()[-1] and "Traceback" not in stderr, stderr
    assert stopped_s < STOP_WITHIN_S, stopped_s
    assert_all_gone(descendants, within_s=STOP_WITHIN_S - stopped_s)
    with session_scope(sqlite_url(workdir / "mlipcamp.sqlite")) as session:
        assert lease_holder(session, 1) is None
    with workdir_lock(workdir, "demo"):
        pass


@pytest.mark.slow
def test_killed_run_leaves_nothing_running_and_nothing_blocking(long_campaign):
    config, workdir, env = long_campaign
    run, descendants = start_run(config, workdir, env)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert_all_gone(descendants, within_s=STOP_WITHIN_S)
    # the kernel dropped the lock; the lease names a dead process of this host: the next run goes on
    again, _ = start_run(config, workdir, env)
    again.send_signal(signal.SIGTERM)
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 130, stderr
