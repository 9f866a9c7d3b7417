"""A whole campaign killed (SIGKILL of its process group) during training and during MD, and stopped
by Ctrl-C (SIGINT to the group) later in MD, then run again, gives results identical to the digit to
an uninterrupted run: the same model files, the same trajectories, the same results table."""

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
from test_end_to_end import MLIPCAMP, mlipcamp, query
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


def tables(config: Path, workdir: Path) -> dict[str, list[dict]]:
    """`results` and `models` as CSV rows, without the columns that measure cost (time, memory, device)."""
    found = {}
    for command in ("results", "models"):
        done = query(command, str(config), "--workdir", str(workdir), "--format", "csv")
        assert done.returncode == 0, done.stderr
        rows = list(csv.DictReader(io.StringIO(done.stdout)))
        found[command] = [{k: v for k, v in row.items() if k not in COSTS} for row in rows]
    return found


def kill_when(config: Path, workdir: Path, env: dict, ready, what: str, sig: int = signal.SIGKILL) -> None:
    """Start a run and send ``sig`` to its whole process group once ``ready()`` holds (SIGINT: as a
    terminal's Ctrl-C, after which the run must stop within 15 s with exit status 130)."""
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
    os.killpg(run.pid, sig)
    assert run.wait(timeout=15 if sig == signal.SIGINT else 60) == (130 if sig == signal.SIGINT else -sig)


def test_campaign_killed_and_interrupted_resumes_to_identical_results(tmp_path, files):  # noqa: F811
    data = imported_only(tmp_path, files)
    data["training"].update(seeds=[1], valid_fraction=0.2, data_kinds=["periodic"])  # one model, one MD run
    data["training"]["mace"].update(max_num_epochs=3, num_channels=8, batch_size=4)
    data["md"].update(
        n_molecules=6,
        thermalization_steps=0,
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

    def md_checkpoint(step: int):
        """A checkpoint at ``step`` or later of a run still in progress."""

        def reached() -> bool:
            for path in (killed / "scratch" / "md").glob("*/checkpoint.npz"):
                with suppress(OSError, ValueError, KeyError), np.load(path) as saved:
                    if int(saved["step"]) >= step and int(saved["stopped_step"]) < 0:
                        return True
            return False

        return reached

    kill_when(config, killed, env, training, "a training to start")
    kill_when(config, killed, env, md_checkpoint(100), "an MD checkpoint at step 100 or later")
    kill_when(config, killed, env, md_checkpoint(250), "an MD checkpoint at step 250 or later", signal.SIGINT)
    resumed = mlipcamp("run", str(config), "--workdir", str(killed), env=env)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    with sqlite3.connect(killed / "prefect" / "prefect.db") as prefect_db:
        logs = [m for (m,) in prefect_db.execute("SELECT message FROM log")]
    # MD went on from a checkpoint at least once (after the SIGKILL; after Ctrl-C too, unless the MD
    # finished and was stored while the run was stopping, which loses nothing either)
    assert any("resumed from the checkpoint at step" in m for m in logs)

    assert stored(killed) == stored(whole)
    assert all(stored(whole).values())
    assert tables(config, killed) == tables(config, whole)
