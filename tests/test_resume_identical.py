"""A whole campaign killed (SIGKILL of its process group) during training and again during MD, then
run again, gives results identical to the digit to an uninterrupted run: the same model files, the
same trajectories, the same results table."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlalchemy import select
from test_end_to_end import MLIPCAMP, mlipcamp
from test_imported_campaign import files, imported_only  # noqa: F401 (files is a fixture)

from mlipcamp.db.engine import session_scope, sqlite_url
from mlipcamp.db.models import MDRun, Model

pytestmark = pytest.mark.slow
COSTS = ("device", "train_time_s", "seconds_per_epoch", "peak_memory_mb", "wall_time_s", "steps_per_s", "ns_per_day")


def stored(workdir: Path) -> dict[str, str | None]:
    """sha256 of every model file and trajectory, by name."""
    with session_scope(sqlite_url(workdir / "mlipcamp.sqlite")) as session:
        models = {m.name: m.file_sha256 for m in session.scalars(select(Model))}
        runs = {r.name: r.trajectory_sha256 for r in session.scalars(select(MDRun))}
    return models | runs


def tables(config: Path, workdir: Path, env: dict) -> dict[str, list[dict]]:
    """`results` and `models` as CSV rows, without the columns that measure cost (time, memory, device)."""
    found = {}
    for command in ("results", "models"):
        done = mlipcamp(command, str(config), "--workdir", str(workdir), "--format", "csv", env=env)
        assert done.returncode == 0, done.stderr
        rows = list(csv.DictReader(io.StringIO(done.stdout)))
        found[command] = [{k: v for k, v in row.items() if k not in COSTS} for row in rows]
    return found


def kill_when(config: Path, workdir: Path, env: dict, ready, what: str) -> None:
    """Start a run and SIGKILL its whole process group once ``ready()`` holds."""
    run = subprocess.Popen(
        [*MLIPCAMP, "run", str(config), "--workdir", str(workdir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not ready():
        assert run.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()


def test_campaign_killed_in_training_and_in_md_resumes_to_identical_results(tmp_path, files):  # noqa: F811
    data = imported_only(tmp_path, files)
    data["training"].update(seeds=[1], valid_fraction=0.2)
    data["training"]["mace"].update(max_num_epochs=4, num_channels=8, batch_size=4)
    data["md"].update(
        n_molecules=6,
        n_steps=400,
        log_interval=5,
        trajectory_interval=10,
        checkpoint_interval=50,
        stability={"check_connectivity": False},
    )
    data["analysis"].update(rdf_r_max="4 Å", diffusion_blocks=2)
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}

    whole = tmp_path / "whole"
    done = mlipcamp("run", str(config), "--workdir", str(whole), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    killed = tmp_path / "killed"

    def training() -> bool:
        return any((killed / "scratch" / "train").glob("*/train.log"))

    def md_halfway() -> bool:
        """A checkpoint of a run still in progress, past its first."""
        for path in (killed / "scratch" / "md").glob("*/checkpoint.npz"):
            with suppress(OSError, ValueError, KeyError), np.load(path) as saved:
                if int(saved["step"]) >= 100 and int(saved["stopped_step"]) < 0:
                    return True
        return False

    kill_when(config, killed, env, training, "a training to start")
    kill_when(config, killed, env, md_halfway, "an MD checkpoint at step 100 or later")
    resumed = mlipcamp("run", str(config), "--workdir", str(killed), env=env)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    with sqlite3.connect(killed / "prefect" / "prefect.db") as prefect_db:
        logs = [m for (m,) in prefect_db.execute("SELECT message FROM log")]
    assert any("resumed from the checkpoint at step" in m for m in logs)

    assert stored(killed) == stored(whole)
    assert all(stored(whole).values())
    assert tables(config, killed, env) == tables(config, whole, env)
