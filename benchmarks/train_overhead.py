"""Training overhead: a user's settings trained by bare ``mace_run_train`` and by the campaign's
training step, on the same data, split and seed, in this run.

    .venv/bin/python benchmarks/train_overhead.py [--structures 200] [--epochs 20] [--channels 16]

The data are EC clusters labelled with ASE's EMT (tests/labelled_data.py: smooth labels a MACE
model can learn), with MACE-style isolated atoms in front, and an independent test set of 100.
The campaign imports the file and trains one model (``mlipcamp run``; its MD is a few steps); its
training step is timed from Prefect's record of the task run (start to end: reading the dataset,
writing the split, E0s, ``run_train`` forked from the worker's training server, storing the model). The bare run then
trains on the split the campaign wrote, with the same flags, timed around the subprocess. Prints
both times, their ratio (campaign / bare; target <= 1.05) and both models' test RMSEs, which must
agree.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
SEED = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--channels", type=int, default=16)
    args = parser.parse_args()
    from labelled_data import ec_dataset, ec_structures, write_labelled

    work = Path(tempfile.mkdtemp(prefix="mlipcamp-train-overhead-"))
    settings = {  # what a user copies from a working mace_run_train command
        "num_channels": args.channels,
        "max_L": 0,
        "num_interactions": 2,
        "correlation": 2,  # mlipcamp's default; mace-torch's is 3: a user gives what they mean
        "r_max": 4.0,
        "batch_size": 8,
        "max_num_epochs": args.epochs,
        "lr": 0.01,
        "energy_weight": 1.0,
        "forces_weight": 100.0,
        "default_dtype": "float64",
    }
    user_file = ec_dataset(work / "user.xyz", "cluster", args.structures, seed=11, with_atoms=True)
    test_file = write_labelled(work / "test.xyz", ec_structures("cluster", 100, seed=12))
    print(f"{args.structures} EMT-labelled EC clusters (+ 3 isolated atoms), settings {settings}")

    campaign_s, model_file, split = campaign_training(work, user_file, test_file, settings)
    bare_s, bare_file = bare_training(work / "bare", split, settings, user_file)
    print(f"campaign training step : {campaign_s:8.1f} s")
    print(f"bare mace_run_train    : {bare_s:8.1f} s")
    print(f"ratio campaign / bare  : {campaign_s / bare_s:.3f}  (target <= 1.05)")
    test_errors(test_file, {"campaign": model_file, "bare": bare_file})


def campaign_training(work: Path, user_file: Path, test_file: Path, settings: dict) -> tuple[float, Path, dict]:
    """Seconds of the campaign's training task, its model file and the train/valid files it wrote."""
    from sqlalchemy import select

    from mlipcamp.db.engine import session_scope, sqlite_url
    from mlipcamp.db.models import Model

    data = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    del data["sampling"], data["labelling"], data["training"]["data_kinds"]
    data["datasets"] = [
        {"name": "user", "path": str(user_file), "level_of_theory": "b97-d3/def2-tzvp"},
        {"name": "independent", "path": str(test_file), "level_of_theory": "b97-d3/def2-tzvp", "use": "test"},
    ]
    data["training"].update(seeds=[SEED], e0s="isolated_atoms")
    data["training"]["mace"] = {k: f"{v} Å" if k == "r_max" else v for k, v in settings.items()}
    data["md"].update(n_molecules=4, n_steps=40, log_interval=1, trajectory_interval=1)
    data["md"]["stability"] = {"check_connectivity": False}
    data["analysis"].update(rdf_r_max="3.5 Å", diffusion_blocks=2)
    config, workdir = work / "campaign.yaml", work / "campaign"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    mlipcamp = [
        sys.executable,
        "-c",
        "from mlipcamp.cli import main; main()",
        "run",
        str(config),
        "--workdir",
        str(workdir),
    ]
    done = subprocess.run(mlipcamp, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the campaign failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    with sqlite3.connect(workdir / "prefect" / "prefect.db") as prefect_db:
        [(start, end)] = prefect_db.execute("SELECT start_time, end_time FROM task_run WHERE name LIKE 'train %'")
    seconds = (_time(end) - _time(start)).total_seconds()
    with session_scope(sqlite_url(workdir / "mlipcamp.sqlite")) as session:
        model = session.scalars(select(Model)).one()
        model_file, scratch = workdir / "store" / model.file, workdir / "scratch" / "train" / model.key[:16]
    return seconds, model_file, {"train": scratch / "train.extxyz", "valid": scratch / "valid.extxyz"}


def bare_training(work: Path, split: dict, settings: dict, user_file: Path) -> tuple[float, Path]:
    """Seconds of ``mace_run_train`` with the user's flags on the campaign's split, and its model.
    The isolated atoms of ``user_file`` go in front of the training file, as a user of mace-torch
    gives them."""
    from ase.io import read, write

    from mlipcamp.science.datasets import ENERGY_KEY, FORCES_KEY, ISOLATED_ATOM, read_labelled_extxyz

    work.mkdir()
    isolated = []
    for structure in read_labelled_extxyz(user_file):
        if structure.kind == "isolated_atom":
            atom = structure.atoms
            atom.info |= {"config_type": ISOLATED_ATOM, ENERGY_KEY: structure.energy_eV}
            atom.arrays[FORCES_KEY] = structure.forces_eV_ang
            isolated.append(atom)
    train = work / "train.xyz"
    write(train, [*isolated, *read(split["train"], ":")], format="extxyz")
    command = [
        sys.executable,
        "-c",
        "from mace.cli.run_train import main; main()",
        "--name=bare",
        f"--train_file={train}",
        f"--valid_file={split['valid']}",
        f"--energy_key={ENERGY_KEY}",
        f"--forces_key={FORCES_KEY}",
        f"--seed={SEED}",
        "--device=cpu",
        *(f"--{name}={value}" for name, value in settings.items()),
        f"--work_dir={work}",
    ]
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as the campaign's default n_threads
    start = time.perf_counter()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bare mace_run_train failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds, work / "bare.model"


def test_errors(test_file: Path, models: dict[str, Path]) -> None:
    """Print each model's RMSE of energy and forces on the independent test set."""
    from mlipcamp.science.datasets import read_labelled_extxyz
    from mlipcamp.science.evaluation import error_metrics, predict

    test = read_labelled_extxyz(test_file)
    reference = ([s.energy_eV for s in test], [s.forces_eV_ang for s in test], [len(s.atoms) for s in test])
    for name, path in models.items():
        energies, forces = predict(path, [s.atoms for s in test])
        errors = error_metrics(reference[0], energies, reference[2], reference[1], forces)
        print(
            f"test RMSE {name:8s}: E {errors['rmse_e_mev_per_atom']:8.3f} meV/atom, "
            f"F {errors['rmse_f_mev_per_ang']:8.2f} meV/Å"
        )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


if __name__ == "__main__":
    main()
