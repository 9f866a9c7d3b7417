"""Tests of mlipcamp.science.datasets, mlipcamp.science.training and mlipcamp.science.evaluation."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.io import read

from mlipcamp.figures import parity_plot
from mlipcamp.hashing import hash_json
from mlipcamp.science.datasets import split_by_hash, write_extxyz
from mlipcamp.science.devices import resolve_device
from mlipcamp.science.evaluation import error_metrics, predict
from mlipcamp.science.training.mace import (
    TrainingError,
    divergence,
    fit_e0s,
    read_epochs,
    seconds_per_epoch,
    train_mace,
)
from mlipcamp.science.training.settings import MaceHyperparameters, mace_arguments

torch.set_num_threads(1)

E0_TRUE = {1: -13.6, 6: -1030.5, 8: -2040.25}  # eV


def test_fit_e0s_recovers_known_e0s_from_varied_compositions():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 7, size=(12, 3)) + np.array([1, 1, 0])  # at least one H and one C each
    numbers = [np.array([1] * h + [6] * c + [8] * o) for h, c, o in counts]
    energies = [sum(E0_TRUE[int(z)] for z in zs) for zs in numbers]
    e0s = fit_e0s(numbers, energies)
    assert sorted(e0s) == [1, 6, 8]
    for z, e in E0_TRUE.items():
        assert e0s[z] == pytest.approx(e, abs=1e-8)


def test_fit_e0s_rank_deficient_reproduces_energies():
    ec = np.array([6, 6, 8, 6, 8, 8, 1, 1, 1, 1])  # C3H4O3
    numbers = [ec, np.concatenate([ec, ec]), np.concatenate([ec, ec, ec])]
    energies = [-561.46, -1122.95, -1684.41]  # eV, roughly 3 x one molecule, not exactly
    e0s = fit_e0s(numbers, energies)
    predicted = [sum(e0s[int(z)] for z in zs) for zs in numbers]
    # least squares on a single column (n molecules): E_mol = sum(n E) / sum(n^2)
    e_mol = (1 * -561.46 + 2 * -1122.95 + 3 * -1684.41) / 14
    np.testing.assert_allclose(predicted, [e_mol, 2 * e_mol, 3 * e_mol], rtol=0, atol=1e-9)
    # minimum-norm: E0 proportional to the stoichiometry (3 C, 4 H, 3 O)
    assert e0s[1] / e0s[6] == pytest.approx(4 / 3)
    assert e0s[6] == pytest.approx(e0s[8])
    with pytest.raises(ValueError):
        fit_e0s([ec], [1.0, 2.0])


def test_error_metrics_known_values():
    ref_e, pred_e, n = [10.0, 20.0], [10.2, 19.2], [2, 4]  # per-atom errors +0.1, -0.2 eV/atom
    ref_f = [np.zeros((2, 3)), np.zeros((4, 3))]
    pred_f = [np.full((2, 3), 0.3), np.full((4, 3), -0.3)]
    pred_f[1][0, 0] = 0.0  # 17 components of |0.3| and one of 0
    m = error_metrics(ref_e, pred_e, n, ref_f, pred_f)
    assert m["rmse_e_mev_per_atom"] == pytest.approx(1000 * np.sqrt((0.1**2 + 0.2**2) / 2))
    assert m["mae_e_mev_per_atom"] == pytest.approx(150.0)
    assert m["rmse_f_mev_per_ang"] == pytest.approx(300 * np.sqrt(17 / 18))
    assert m["mae_f_mev_per_ang"] == pytest.approx(300 * 17 / 18)
    with pytest.raises(ValueError):
        error_metrics(ref_e, pred_e, [2, 3], ref_f, pred_f)


def test_parity_plot_writes_png(tmp_path):
    f = [np.ones((2, 3)), np.zeros((1, 3))]
    out = parity_plot([1.0, 2.0], [1.1, 1.9], [2, 1], f, f, tmp_path / "p" / "parity.png", "test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_split_by_hash_deterministic_complete_and_stable():
    hashes = [hash_json({"i": i}) for i in range(400)]
    splits = split_by_hash(hashes, valid_fraction=0.1, test_fraction=0.2)
    assert splits == split_by_hash(list(hashes), 0.1, 0.2)
    assert len(splits) == 400 and set(splits) == {"train", "valid", "test"}
    assert 0.13 < splits.count("test") / 400 < 0.27
    assert 0.05 < splits.count("valid") / 400 < 0.15
    # adding structures never moves an existing one
    more = split_by_hash(hashes + [hash_json({"j": j}) for j in range(300)], 0.1, 0.2)
    assert more[:400] == splits
    # test membership depends on test_fraction only, not on valid_fraction
    other_valid = split_by_hash(hashes, 0.3, 0.2)
    assert [s == "test" for s in other_valid] == [s == "test" for s in splits]


def test_split_by_hash_small_sets_and_validation():
    for n in (3, 4, 5):
        splits = split_by_hash([hash_json(n * 10 + i) for i in range(n)], 0.05, 0.05)
        assert {"train", "valid", "test"} <= set(splits)
    assert split_by_hash([hash_json(1), hash_json(2)], 0.05, 0.05) == ["train", "train"]
    for bad in [(0.0, 0.1), (0.1, 1.0), (0.5, 0.5), (-0.1, 0.2)]:
        with pytest.raises(ValueError):
            split_by_hash(["a", "b", "c"], *bad)


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError):
        resolve_device("gpu0")


def test_test_fraction_zero_holds_nothing_out():
    hashes = [f"{i:04d}" for i in range(50)]
    splits = split_by_hash(hashes, valid_fraction=0.2, test_fraction=0.0)
    assert "test" not in splits and 0 < splits.count("valid") < 25
    assert split_by_hash(hashes[:3], 0.2, 0.0).count("valid") == 1  # a tiny set still validates


def test_mace_arguments_are_read_by_mace_as_the_settings_say():
    args = mace_arguments(MaceHyperparameters(num_channels=8, max_num_epochs=3, lr=0.005))
    assert "--num_channels=8" in args and "--max_num_epochs=3" in args and "--lr=0.005" in args
    assert "--r_max=4.0" in args and "--default_dtype=float64" in args and "--stage_two" not in args
    assert "--stage_two" in mace_arguments(MaceHyperparameters(stage_two=True))
    with pytest.raises(ValueError):
        MaceHyperparameters(default_dtype="float16")


# a value for each optional mace-torch flag that differs from mace-torch's own default
OPTIONAL_VALUES = {
    "model": "ScaleShiftMACE",
    "hidden_irreps": "8x0e + 8x1o",
    "max_ell": 2,
    "num_radial_basis": 6,
    "num_cutoff_basis": 4,
    "radial_MLP": "[32, 32]",
    "MLP_irreps": "8x0e",
    "interaction": "RealAgnosticInteractionBlock",
    "interaction_first": "RealAgnosticInteractionBlock",
    "gate": "tanh",
    "scaling": "std_scaling",
    "loss": "ef",
    "compute_stress": True,
    "stress_weight": 2.5,
    "virials_weight": 3.5,
    "valid_batch_size": 7,
    "eval_interval": 3,
    "patience": 9,
    "optimizer": "adamw",
    "weight_decay": 1e-6,
    "scheduler": "ExponentialLR",
    "scheduler_patience": 11,
    "lr_factor": 0.5,
    "lr_scheduler_gamma": 0.99,
    "clip_grad": 5.0,
    "ema": True,
    "ema_decay": 0.95,
    "start_stage_two": 13,
    "stage_two_lr": 0.0005,
    "stage_two_energy_weight": 500.0,
    "stage_two_forces_weight": 50.0,
    "stage_two_stress_weight": 70.0,
}


def _non_defaults() -> MaceHyperparameters:
    """Settings whose every field differs from its default and from mace-torch's (so a dropped flag shows)."""

    def other(default: object) -> object:
        if isinstance(default, bool):
            return not default
        if isinstance(default, int | float):
            return default * 2 + 1
        return "float32" if default == "float64" else pytest.fail(f"no other value for {default!r}")

    fields = MaceHyperparameters.model_fields
    assert set(OPTIONAL_VALUES) == {name for name, f in fields.items() if f.default is None}
    return MaceHyperparameters(
        **{name: OPTIONAL_VALUES[name] if f.default is None else other(f.default) for name, f in fields.items()}
    )


def test_every_mace_setting_reaches_mace_run_train():
    """mace-torch's own parser reads the generated command line back to every field's value, and
    every value differs from mace-torch's default."""
    from mace.tools import build_default_arg_parser

    parser = build_default_arg_parser()
    hyper = _non_defaults()
    parsed = parser.parse_args(["--name=x", "--train_file=t.xyz", *mace_arguments(hyper)])
    defaults = parser.parse_args(["--name=x", "--train_file=t.xyz"])
    dest = {name: parser._option_string_actions[f"--{name}"].dest for name in MaceHyperparameters.model_fields}
    read_back = {name: getattr(parsed, attribute) for name, attribute in dest.items()}  # stage_two is read as swa
    assert read_back == hyper.model_dump() | {"r_max": hyper.r_max}
    assert all(read_back[name] != getattr(defaults, attribute) for name, attribute in dest.items())


def test_unset_optional_flags_keep_mace_defaults_and_model_identity():
    """An optional flag left None is not passed, and not part of a model's identity."""
    plain = MaceHyperparameters()
    assert not any(arg.startswith(("--max_ell", "--valid_batch_size", "--model")) for arg in mace_arguments(plain))
    assert set(plain.identity()) == {
        name for name, f in MaceHyperparameters.model_fields.items() if f.default is not None
    }
    assert MaceHyperparameters(max_ell=2).identity() == plain.identity() | {"max_ell": 2}


LOG = """2026-11-21 09:15:28.936 INFO: Started training, reporting errors on validation set
2026-11-21 09:15:29.512 INFO: Initial: head: Default, loss=11.30124860, RMSE_E_per_atom=   10.00 meV, RMSE_F=  918.51 meV / A
2026-11-21 09:15:34.936 INFO: Epoch 0: head: Default, loss=7.26589808, RMSE_E_per_atom=  268.90 meV, RMSE_F=  732.98 meV / A
2026-11-21 09:15:37.000 INFO: Training step
2026-11-21 09:15:40.936 INFO: Epoch 1: head: Default, loss=4.0, RMSE_E_per_atom=  479.11 meV, RMSE_F=  548.12 meV / A
2026-11-21 09:15:46.936 INFO: Epoch 2: head: Default, loss={last}, RMSE_E_per_atom=  531.80 meV, RMSE_F=  455.91 meV / A
"""


def test_read_epochs_and_seconds_per_epoch():
    start, records = read_epochs(LOG.format(last="2.5").splitlines())
    assert start.second == 28 and [r.epoch for r in records] == [0, 1, 2]
    assert [r.valid_loss for r in records] == [7.26589808, 4.0, 2.5]
    assert seconds_per_epoch(start, records) == pytest.approx(18.0 / 3)
    assert divergence(records) is None
    assert seconds_per_epoch(None, records) is None and seconds_per_epoch(start, []) is None


@pytest.mark.parametrize(("last", "reason"), [("nan", "nan at epoch 2"), ("4001", "exploded from 4 (epoch 1) to 4001")])
def test_divergence_detected(last, reason):
    assert reason in divergence(read_epochs(LOG.format(last=last).splitlines())[1])
    assert divergence(read_epochs(LOG.format(last="3999").splitlines())[1]) is None


def test_stage_two_loss_is_compared_within_its_stage():
    lines = LOG.format(last="5000").splitlines()
    lines.insert(5, "2026-11-21 09:15:41.000 INFO: Changing loss based on Stage Two Weights")
    _, records = read_epochs(lines)
    assert [r.stage for r in records] == [1, 1, 2]
    assert divergence(records) is None  # 5000 is 1250 x the stage-one best, but the first stage-two loss


@pytest.mark.skipif(importlib.util.find_spec("cuequivariance_torch") is not None, reason="cuEquivariance installed")
def test_cueq_without_its_package_is_refused_before_training(tmp_path):
    with pytest.raises(TrainingError, match="mlipcamp\\[cueq\\]"):
        train_mace(
            tmp_path / "t.xyz", tmp_path / "v.xyz", MaceHyperparameters(enable_cueq=True), 1, {1: -1.0}, tmp_path
        )
    assert "--enable_cueq=True" in mace_arguments(MaceHyperparameters(enable_cueq=True))


def test_write_extxyz_roundtrip(tmp_path):
    atoms = [Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]]), Atoms("O", positions=[[0, 0, 0]])]
    forces = [np.array([[0, 0, 1.5], [0, 0, -1.5]]), np.zeros((1, 3))]
    stress = [np.arange(6, dtype=float), None]
    path = write_extxyz(atoms, [-31.5, -432.1], forces, stress, path=tmp_path / "d.xyz")
    back = read(path, index=":")
    assert back[0].info["REF_energy"] == -31.5 and back[1].info["REF_energy"] == -432.1
    np.testing.assert_array_equal(back[0].arrays["REF_forces"], forces[0])
    np.testing.assert_array_equal(np.reshape(back[0].info["REF_stress"], (3, 3)), [[0, 5, 4], [5, 1, 3], [4, 3, 2]])
    assert "REF_stress" not in back[1].info and back[0].calc is None
    with pytest.raises(ValueError):
        write_extxyz(atoms, [0.0, 0.0], [np.zeros((1, 3)), np.zeros((1, 3))], path=tmp_path / "bad.xyz")


# ---------------------------------------------------------------- training on GFN2-xTB labels


def _ec_clusters(n: int) -> list[Atoms]:
    """Rattled EC monomers and dimers (1-2 molecules, 10-20 atoms) from an rdkit conformer."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("C1COC(=O)O1"))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    AllChem.MMFFOptimizeMolecule(mol)
    ec = Atoms([a.GetSymbol() for a in mol.GetAtoms()], positions=mol.GetConformer().GetPositions())
    ec.positions -= ec.get_center_of_mass()
    rng = np.random.default_rng(0)
    clusters = []
    for i in range(n):
        cluster = ec.copy()
        if i % 2:
            other = ec.copy()
            other.rotate(rng.uniform(0, 360), rng.normal(size=3))
            other.translate(rng.normal(size=3) * 0.3 + [5.0, 0, 0])
            cluster += other
        cluster.rattle(0.05, seed=i)
        clusters.append(cluster)
    return clusters


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """24 EC clusters with GFN2-xTB energies (eV) and forces (eV/Å) written to train/valid xyz."""
    from tblite.ase import TBLite

    clusters = _ec_clusters(24)
    energies, forces = [], []
    for atoms in clusters:
        atoms = atoms.copy()
        atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    d = tmp_path_factory.mktemp("data")
    train, valid = slice(0, 18), slice(18, 24)
    return {
        "clusters": clusters,
        "energies": energies,
        "forces": forces,
        "train": write_extxyz(clusters[train], energies[train], forces[train], path=d / "train.xyz"),
        "valid": write_extxyz(clusters[valid], energies[valid], forces[valid], path=d / "valid.xyz"),
        "e0s": fit_e0s([a.numbers for a in clusters[train]], energies[train]),
    }


SMALL = MaceHyperparameters(num_channels=8, max_num_epochs=3, batch_size=6)


@pytest.mark.slow
def test_stage_two_saves_its_model_and_weighs_energies(labelled, tmp_path):
    settings = MaceHyperparameters(num_channels=8, max_num_epochs=4, batch_size=6, stage_two=True)
    result = train_mace(labelled["train"], labelled["valid"], settings, 5, labelled["e0s"], tmp_path, device="cpu")
    assert result.model_path.name == "mace_stagetwo.model" and result.model_path.is_file()
    log = result.log_path.read_text()
    assert "Changing loss based on Stage Two Weights" in log and "energy weight : 1000" in log
    assert [r.stage for r in read_epochs(log.splitlines())[1]] == [1, 1, 1, 2]


@pytest.mark.slow
def test_train_predict_and_reproduce(labelled, tmp_path):
    results = []
    for run in ("a", "b"):
        t0 = time.perf_counter()
        res = train_mace(labelled["train"], labelled["valid"], SMALL, 5, labelled["e0s"], tmp_path / run, device="cpu")
        print(f"run {run}: train_mace {time.perf_counter() - t0:.1f} s, subprocess {res.train_time_s:.1f} s")
        results.append(res)
    res = results[0]
    assert res.model_path == tmp_path / "a" / "mace.model" and res.model_path.is_file()
    assert res.epochs == 3 and 0 < res.seconds_per_epoch < res.train_time_s / 3
    assert 100 < res.peak_memory_mb < 10_000  # MiB of the training process: torch alone is ~300
    assert res.device == "cpu" and res.mace_version.startswith("0.3") and res.e0s == labelled["e0s"]
    assert "Training complete" in res.log_path.read_text()
    assert not list(res.model_path.parent.glob("*compiled*"))  # mace-torch's TorchScript copies are skipped

    clusters = labelled["clusters"]
    energies, forces = predict(res.model_path, clusters)
    assert energies.shape == (24,) and np.isfinite(energies).all()
    assert [f.shape for f in forces] == [(len(a), 3) for a in clusters]
    assert all(np.isfinite(f).all() for f in forces)
    # E0s dominate a barely trained model: energies within 1 eV/atom of xTB
    per_atom = (energies - np.array(labelled["energies"])) / [len(a) for a in clusters]
    assert np.abs(per_atom).max() < 1.0
    m = error_metrics(labelled["energies"], energies, [len(a) for a in clusters], labelled["forces"], forces)
    print(m)
    assert all(np.isfinite(v) and v > 0 for v in m.values())
    # three epochs already beat predicting zero forces
    rms_f_mev = 1000 * np.sqrt(np.mean(np.concatenate(labelled["forces"]) ** 2))
    assert m["rmse_f_mev_per_ang"] < 0.95 * rms_f_mev

    # same seed: bitwise-identical weights; predictions equal to float64 round-off (the first
    # forward pass in a process can differ from later ones in the last bit)
    weights_a, weights_b = (torch.load(r.model_path, weights_only=False).state_dict() for r in results)
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    energies_b, forces_b = predict(results[1].model_path, clusters)
    np.testing.assert_allclose(energies_b, energies, rtol=1e-14, atol=0)
    for fa, fb in zip(forces, forces_b, strict=True):
        np.testing.assert_allclose(fb, fa, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_diverging_run_raises(labelled, tmp_path):
    with pytest.raises(TrainingError, match="non-finite"):
        train_mace(
            labelled["train"],
            labelled["valid"],
            MaceHyperparameters(num_channels=8, max_num_epochs=2, lr=1e6),
            5,
            labelled["e0s"],
            tmp_path,
            device="cpu",
        )


@pytest.mark.slow
def test_corrupt_train_file_raises(labelled, tmp_path):
    bad = tmp_path / "bad.xyz"
    bad.write_text("10\nnot an extxyz header\nC 0 0\n")
    with pytest.raises(TrainingError, match="exited with code"):
        train_mace(bad, labelled["valid"], SMALL, 5, labelled["e0s"], tmp_path / "run", device="cpu")


def _initial_valid_loss(log_path) -> float:
    line = next(line for line in log_path.read_text().splitlines() if "INFO: Initial:" in line)
    return float(line.split("loss=")[1].split(",")[0])


@pytest.mark.slow
def test_fine_tuning_starts_from_the_base_model(labelled, tmp_path):
    base_settings = MaceHyperparameters(num_channels=8, max_num_epochs=6, batch_size=6)
    base = train_mace(
        labelled["train"], labelled["valid"], base_settings, 1, labelled["e0s"], tmp_path / "base", device="cpu"
    )
    # settings that differ from the base: the base's architecture and cutoff win
    other = MaceHyperparameters(num_channels=4, r_max=3.0, max_num_epochs=2, batch_size=6, lr=0.001)
    tuned = train_mace(
        labelled["train"],
        labelled["valid"],
        other,
        2,
        labelled["e0s"],
        tmp_path / "tuned",
        device="cpu",
        base_model=base.model_path,
    )
    scratch = train_mace(
        labelled["train"], labelled["valid"], other, 2, labelled["e0s"], tmp_path / "scratch", device="cpu"
    )
    assert "Using foundation model" in tuned.log_path.read_text()
    model, base_model = (torch.load(p, weights_only=False) for p in (tuned.model_path, base.model_path))
    assert float(model.r_max) == float(base_model.r_max) == 4.0
    assert model.state_dict().keys() == base_model.state_dict().keys()
    assert all(model.state_dict()[k].shape == v.shape for k, v in base_model.state_dict().items())
    # the fine-tuning run starts exactly at the base model's best validation loss, below a fresh model's
    initial_tuned = _initial_valid_loss(tuned.log_path)
    base_losses = read_epochs(base.log_path.read_text().splitlines())[1]
    assert initial_tuned == pytest.approx(min(r.valid_loss for r in base_losses), rel=1e-6)
    assert initial_tuned < _initial_valid_loss(scratch.log_path)
    with pytest.raises(ValueError, match="not found"):
        train_mace(
            labelled["train"],
            labelled["valid"],
            other,
            2,
            labelled["e0s"],
            tmp_path / "x",
            base_model=tmp_path / "no.model",
        )


def test_peak_memory_is_the_training_programs_own_not_its_parents():
    """A Dask worker holding 400 MiB starts the training: the training must not report them."""
    import subprocess
    import sys

    from mlipcamp.science.training.mace_runner import peak_rss_mb

    ballast = np.ones(400 * 2**20 // 8)  # 400 MiB, resident
    code = "from mlipcamp.science.training.mace_runner import peak_rss_mb; print(peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert peak_rss_mb() > 400 and child < 100  # getrusage's ru_maxrss gave the child 426 MiB
    del ballast


def test_training_environment_drops_dasks_malloc_setting():
    from mlipcamp.science.training.mace import training_environment

    env = training_environment({"MALLOC_TRIM_THRESHOLD_": "65536", "PATH": "/bin", "OMP_NUM_THREADS": "8"}, 2)
    assert env == {"PATH": "/bin", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}


@pytest.mark.slow
def test_trainings_fork_from_one_server_and_die_with_it(labelled, tmp_path):
    """Every CPU training is a child of this process's one fork server (mace-torch imported once)
    and runs mace-torch's own CLI; killing the server kills a running training, which then fails."""
    import os
    import signal
    import threading

    import psutil

    from mlipcamp.science.training.mace_runner import TRAINING_PROCESS_NAME, run_training

    def servers() -> set[int]:
        return {p.pid for p in psutil.Process().children() if "forkserver" in " ".join(p.cmdline())}

    for name in ("a", "b"):
        log = tmp_path / f"{name}.log"
        assert run_training(["--help"], tmp_path, log, tmp_path / "stats.json", dict(os.environ)) == 0
        assert "usage: mace_run_train" in log.read_text()
    server = servers()
    assert len(server) == 1
    # a training for a GPU is a new interpreter of its own, not a child of the server
    log = tmp_path / "gpu.log"
    assert run_training(["--help"], tmp_path, log, tmp_path / "stats.json", dict(os.environ), device="cuda") == 0
    assert "usage: mace_run_train" in log.read_text() and servers() == server

    failures = []

    def train_forever() -> None:
        endless = MaceHyperparameters(num_channels=8, max_num_epochs=100_000)
        try:
            train_mace(labelled["train"], labelled["valid"], endless, 5, labelled["e0s"], tmp_path / "c", device="cpu")
        except TrainingError as exc:
            failures.append(str(exc))

    training = threading.Thread(target=train_forever)
    training.start()
    deadline = time.monotonic() + 120
    while not (running := [p for p in psutil.Process().children(recursive=True) if p.name() == TRAINING_PROCESS_NAME]):
        assert time.monotonic() < deadline and training.is_alive(), failures
        time.sleep(0.2)
    assert {running[0].ppid()} == server
    psutil.Process(next(iter(server))).send_signal(signal.SIGKILL)
    training.join(timeout=60)
    assert not training.is_alive() and len(failures) == 1 and "mace run_train" in failures[0], failures
    psutil.wait_procs(running, timeout=10)
    assert not running[0].is_running()
    # the next training starts a new server
    assert run_training(["--help"], tmp_path, tmp_path / "d.log", tmp_path / "stats.json", dict(os.environ)) == 0
    assert len(servers()) == 1 and servers() != server


def test_a_training_stopped_by_a_signal_says_so_without_the_log(tmp_path, monkeypatch):
    import signal

    from mlipcamp.science.training import mace as mace_training

    monkeypatch.setattr(mace_training, "run_training", lambda *args: -signal.SIGINT)
    with pytest.raises(TrainingError, match=r"^mace run_train was stopped by SIGINT \(log .*train.log\)$"):
        train_mace(tmp_path / "t.xyz", tmp_path / "v.xyz", SMALL, 1, {1: -13.6}, tmp_path / "run", device="cpu")
