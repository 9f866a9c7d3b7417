"""A campaign that imports a user's file and trains with a bare ``mace_run_train`` run's settings
makes the model that run makes: same data, same split, same E0s (the file's isolated atoms)."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ase.io import read, write
from labelled_data import ec_dataset, ec_structures, write_labelled
from sqlalchemy import select
from test_end_to_end import mlipcamp, query, small_md

from mlipcamp.db.engine import session_scope, sqlite_url
from mlipcamp.db.models import Model
from mlipcamp.science.datasets import ENERGY_KEY, FORCES_KEY, read_labelled_extxyz
from mlipcamp.science.evaluation import error_metrics, predict

DEMO = Path(__file__).parents[1] / "configs" / "demo.yaml"
# what a user copies from a working bare run; mlipcamp's fields carry the same names
BARE_SETTINGS = {
    "num_channels": 8,
    "max_L": 0,
    "max_ell": 2,
    "num_interactions": 2,
    "correlation": 2,
    "r_max": 4.0,
    "batch_size": 4,
    "max_num_epochs": 8,
    "lr": 0.01,
    "eval_interval": 2,
    "default_dtype": "float64",
}


def bare_run(work: Path, train: Path, valid: Path, seed: int) -> Path:
    """``mace_run_train`` as a user runs it: E0s from the train file's isolated atoms."""
    flags = [f"--{name}={value}" for name, value in BARE_SETTINGS.items()]
    command = [
        sys.executable,
        "-c",
        "from mace.cli.run_train import main; main()",
        "--name=bare",
        f"--train_file={train}",
        f"--valid_file={valid}",
        f"--energy_key={ENERGY_KEY}",
        f"--forces_key={FORCES_KEY}",
        f"--seed={seed}",
        "--device=cpu",
        *flags,
        f"--work_dir={work}",
    ]
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return work / "bare.model"


@pytest.mark.slow
def test_campaign_training_matches_bare_mace_run_train(tmp_path):
    train_file = ec_dataset(tmp_path / "user.xyz", "cluster", 40, seed=11, with_atoms=True)
    test_file = write_labelled(tmp_path / "test.xyz", ec_structures("cluster", 30, seed=12))
    data = yaml.safe_load(DEMO.read_text())
    del data["sampling"], data["labelling"], data["training"]["data_kinds"]
    data["datasets"] = [
        {"name": "user", "path": str(train_file), "level_of_theory": "b97-d3/def2-tzvp"},
        {"name": "independent", "path": str(test_file), "level_of_theory": "b97-d3/def2-tzvp", "use": "test"},
    ]
    data["training"].update(seeds=[7], e0s="isolated_atoms")
    data["training"]["mace"] = {k: f"{v} Å" if k == "r_max" else v for k, v in BARE_SETTINGS.items()}
    data["md"].update(small_md(n_molecules=4))
    data["analysis"].update(rdf_r_max="3.5 Å", diffusion_blocks=2)
    config, workdir = tmp_path / "parity.yaml", tmp_path / "work"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    run = mlipcamp("run", str(config), "--workdir", str(workdir), env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    with session_scope(sqlite_url(workdir / "mlipcamp.sqlite")) as session:
        model = session.scalars(select(Model)).one()
        ours, scratch = workdir / "store" / model.file, workdir / "scratch" / "train" / model.key[:16]
        n_train = model.dataset.n_train
    structures = read_labelled_extxyz(train_file)
    assert n_train == len(read(scratch / "train.extxyz", ":")) == len(structures) - 3 - model.dataset.n_valid
    # the bare run reads the same split, with the file's isolated atoms in front, as mace-torch expects
    atoms = [s.atoms for s in structures if s.kind == "isolated_atom"]
    for atom, structure in zip(atoms, structures, strict=False):
        atom.info |= {"config_type": "IsolatedAtom", ENERGY_KEY: structure.energy_eV}
        atom.arrays[FORCES_KEY] = structure.forces_eV_ang
    bare_train = tmp_path / "bare_train.xyz"
    write(bare_train, [*atoms, *read(scratch / "train.extxyz", ":")], format="extxyz")
    bare_dir = tmp_path / "bare"
    bare_dir.mkdir()
    bare = bare_run(bare_dir, bare_train, scratch / "valid.extxyz", seed=7)

    test = read_labelled_extxyz(test_file)
    reference = ([s.energy_eV for s in test], [s.forces_eV_ang for s in test], [len(s.atoms) for s in test])
    errors = {}
    for name, path in (("campaign", ours), ("bare", bare)):
        energies, forces = predict(path, [s.atoms for s in test])
        errors[name] = error_metrics(reference[0], energies, reference[2], reference[1], forces)
    for quantity in ("rmse_e_mev_per_atom", "rmse_f_mev_per_ang"):
        assert errors["campaign"][quantity] == pytest.approx(errors["bare"][quantity], rel=0.02), errors
    listed = query("models", str(config), "--workdir", str(workdir), "--format", "csv")
    row = next(csv.DictReader(io.StringIO(listed.stdout)))
    assert float(row["test_set_independent_rmse_f_mev_per_ang"]) == pytest.approx(
        errors["campaign"]["rmse_f_mev_per_ang"], rel=1e-6
    )
