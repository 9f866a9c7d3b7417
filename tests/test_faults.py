"""Faults of the file system, reported as a user needs them: a file store that turns read-only
during training, a disk that fills mid-run, a finished work directory on a read-only file system.
They mount real file systems (a tmpfs, read-only bind mounts), so they need root."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from test_end_to_end import MLIPCAMP, mlipcamp, query, small_md
from test_imported_campaign import files, imported_only  # noqa: F401 (files is a fixture)

from mlipcamp.db.engine import session_scope, sqlite_url
from mlipcamp.db.models import Label, Model

pytestmark = pytest.mark.slow


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@contextmanager
def tmpfs(path: Path, size_mib: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(path))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {exc}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def read_only(source: Path, target: Path) -> Iterator[Path]:
    """``source`` seen read-only at ``target`` (a read-only bind mount; ``target`` may be ``source``)."""
    target.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(source), str(target))
    try:
        _mount("-o", "remount,bind,ro", str(target))
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


def fill(directory: Path) -> Path:
    """Write a file until the file system holding ``directory`` is full."""
    filler = directory / "filler"
    with suppress(OSError), filler.open("wb") as out:
        while True:
            out.write(b"\0" * 2**20)
            out.flush()
    return filler


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def count(url: str, query) -> int:
    try:
        with session_scope(url) as session:
            return session.scalar(query)
    except Exception:  # the database is not created yet
        return -1


def outputs(config: Path, workdir: Path) -> dict[str, str]:
    """What `status`, `results`, `models` and `sensitivity` print (CSV where they have it)."""
    commands = {
        "status": ("status",),
        "results": ("results", "--format", "csv"),
        "models": ("models", "--format", "csv"),
        "sensitivity": ("sensitivity", "--format", "csv"),
    }
    printed = {}
    for name, args in commands.items():
        done = query(args[0], str(config), "--workdir", str(workdir), *args[1:])
        assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"
        printed[name] = done.stdout
    return printed


def test_read_only_store_full_disk_and_a_read_only_finished_workdir(tmp_path, files):  # noqa: F811
    data = imported_only(tmp_path, files)
    data["training"].update(seeds=[1, 2], valid_fraction=0.2)
    data["training"]["mace"].update(max_num_epochs=3, num_channels=8, batch_size=4)
    data["md"].update(small_md())
    data["analysis"].update(rdf_r_max="4 Å", diffusion_blocks=2)
    config = tmp_path / "imported.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}  # Prefect's home: the workdir

    with tmpfs(tmp_path / "disk", 300) as workdir:
        url = sqlite_url(workdir / "mlipcamp.sqlite")
        n_labels = 12 + 6 + 6  # the three imported files, isolated atoms excluded

        # 1. The store turns read-only once the data is in: every training fails, each recorded with its reason.
        run = subprocess.Popen(
            [*MLIPCAMP, "run", str(config), "--workdir", str(workdir)], env=env, stdout=subprocess.PIPE, text=True
        )
        wait_for(lambda: count(url, select(func.count()).select_from(Label)) == n_labels, 300, "the imported labels")
        with read_only(workdir / "store", workdir / "store"):
            run.communicate(timeout=600)
            status = query("status", str(config), "--workdir", str(workdir))
        train = next(line for line in status.stdout.splitlines() if "train" in line).split("│")
        assert [cell.strip() for cell in train[2:6]] == ["4", "0", "4", "0"], (
            status.stdout
        )  # planned done failed pending
        with session_scope(url) as session:
            errors = list(session.scalars(select(Model.error)))  # one per model: two may read alike
        assert len(errors) == 4 and all("Read-only file system" in (e or "") for e in errors), errors
        with sqlite3.connect(workdir / "prefect" / "prefect.db") as prefect_db:  # what the Prefect UI shows
            states = prefect_db.execute("SELECT state_name, state_type FROM task_run WHERE name LIKE 'train %'")
            assert sorted(states) == [("TrainingFailed", "COMPLETED")] * 4

        # 2. The disk fills after the run started: the last line says so, and how to resume.
        run = subprocess.Popen(
            [*MLIPCAMP, "run", str(config), "--workdir", str(workdir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert "campaign" in run.stdout.readline()
        filler = fill(workdir)
        out, err = run.communicate(timeout=600)
        assert run.returncode == 1, out[-2000:] + err[-2000:]
        last = err.strip().splitlines()[-1]  # after the failed tasks' tracebacks, Prefect's and Dask's
        assert last.startswith("error: campaign demo did not finish: the file system of"), err[-4000:]
        assert "No space left on device" in last and f"--workdir {workdir}`" in last, err[-4000:]

        # 3. Space freed: the run resumes and finishes; a finished work directory is still read on a
        #    read-only file system, every query printing what it prints from the writable one.
        filler.unlink()
        resumed = mlipcamp("run", str(config), "--workdir", str(workdir), env=env)
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        with session_scope(url) as session:
            assert set(session.scalars(select(Model.status))) == {"ok"}
        writable = outputs(config, workdir)
        assert len(list(csv.DictReader(io.StringIO(writable["models"])))) == 4
        with read_only(workdir, tmp_path / "archive") as archive:
            assert outputs(config, archive) == {
                name: text.replace(str(workdir), str(archive)) for name, text in writable.items()
            }
