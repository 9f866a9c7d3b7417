"""Production MD: NPT/NVT on a small Lennard-Jones argon box (each atom its own molecule),
bitwise restarts from checkpoints, atomic writes, the stability watch, and the engine interface
(declared state in checkpoints, restore, an engine of the test's own)."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from argon import FastArgon
from ase import Atoms, units
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from pydantic import ValidationError

from mlipcamp.science.md import LOG_COLUMNS, MolecularDynamics, Stability, read_md_log, read_trajectory, run_md
from mlipcamp.science.md.checkpoint import CHECKPOINT_NAME, RUN_ARRAYS
from mlipcamp.science.md.engine import IsotropicMTKEngine, LangevinEngine, MDEngine, make_engine
from mlipcamp.science.md.stability import connectivity_problem, covalent_bonds

NPT = {"ensemble": "npt", "timestep": 5.0, "thermostat_damping": 100.0, "barostat_damping": 500.0}
NVT = dict(NPT, ensemble="nvt")
TEMPERATURE_K, PRESSURE_BAR = 90.0, 1.0


def md_settings(**fields) -> MolecularDynamics:
    """MolecularDynamics of ``fields`` (NPT at 5 fs unless they say otherwise)."""
    return MolecularDynamics(**({"n_molecules": 32} | NPT | fields))


def run(atoms, calculator, md: MolecularDynamics, out_dir, temperature_K: float = TEMPERATURE_K, **kwargs):
    """run_md at ``temperature_K`` and, for NPT, 1 bar."""
    return run_md(
        atoms, calculator, md, temperature_K, PRESSURE_BAR if md.ensemble == "npt" else None, out_dir, **kwargs
    )


class ArgonLJ(LennardJones):
    """Argon Lennard-Jones whose results depend on the structure only (no neighbour-list cache,
    which a bitwise restart needs). It raises on its ``crash_at``-th calculation and, once
    ``fault`` is set, returns a NaN energy (``"nan"``) or 1000 eV/Å more force on atom 3 (``"force"``)."""

    def __init__(self, crash_at: int | None = None, **params):
        super().__init__(**({"sigma": 3.405, "epsilon": 0.0103, "rc": 8.5, "smooth": True} | params))
        self.crash_at, self.calls, self.fault = crash_at, 0, None

    def calculate(self, atoms=None, properties=None, system_changes=()):
        self.calls += 1
        if self.calls == self.crash_at:
            raise RuntimeError("simulated crash")
        self.nl = None
        super().calculate(atoms, properties, system_changes)
        if self.fault == "nan":
            self.results["energy"] = self.results["free_energy"] = np.nan
        elif self.fault == "force":
            self.results["forces"][3] += [1000.0, 0.0, 0.0]


def argon_box():
    atoms = bulk("Ar", "fcc", a=5.6, cubic=True).repeat(2)  # 32 atoms, expanded lattice (eq. ≈ 5.3 Å)
    atoms.arrays["mol_id"] = np.arange(len(atoms))
    return atoms


def atoms_temperature_from_seed(seed: int) -> float:
    """Temperature (K) of the Maxwell–Boltzmann draw run_md makes, recomputed independently."""
    atoms = argon_box()
    thermalize_momenta(atoms, TEMPERATURE_K, rng=np.random.default_rng(seed))
    Stationary(atoms)
    return atoms.get_temperature()


LJ_RUN = {"n_steps": 200, "log_interval": 10, "trajectory_interval": 25, "seed": 3}


@pytest.fixture(scope="module")
def lj_run(tmp_path_factory):
    atoms = argon_box()
    calls = []
    settings = md_settings(**LJ_RUN)
    result = run(atoms, ArgonLJ(), settings, tmp_path_factory.mktemp("lj"), progress=lambda *a: calls.append(a))
    return atoms, settings, result, calls


def test_log_columns_rows_and_values(lj_run):
    _atoms, settings, result, _ = lj_run
    log = read_md_log(result.log_path)
    assert tuple(log) == LOG_COLUMNS
    np.testing.assert_array_equal(log["step"], np.arange(0, 201, 10))
    np.testing.assert_allclose(log["time_ps"], log["step"] * 0.005)
    assert all(np.all(np.isfinite(v)) for v in log.values())
    # density = mass / volume: 32 Ar (39.948 amu) in a 11.2 Å box at step 0 → 1.5109 g/cm³
    assert log["volume_ang3"][0] == pytest.approx(11.2**3)
    assert log["density_g_cm3"][0] == pytest.approx(32 * 39.948 / 11.2**3 * 1.66053907, rel=1e-6)
    np.testing.assert_allclose(log["density_g_cm3"] * log["volume_ang3"], 32 * 39.948 * 1.66053907, rtol=1e-6)
    assert log["temperature_K"][0] == pytest.approx(atoms_temperature_from_seed(settings.seed), rel=1e-6)
    # forces vanish on the perfect lattice: the atoms only move if the integrator got the velocities
    assert log["temperature_K"].min() > 10
    assert np.all(log["etot_eV"] > log["epot_eV"])  # kinetic energy is positive
    # the barostat is active: the expanded box (pressure ≪ 1 bar) shrinks by several percent
    assert log["pressure_bar"][0] < -500
    assert log["volume_ang3"].min() < 0.95 * log["volume_ang3"][0]
    assert result.n_steps_done == 200 and result.production_start_step == 0 and result.resumed_from_step == 0
    assert result.stopped_reason is None and result.stopped_step is None
    assert result.steps_per_s == pytest.approx(200 / result.wall_time_s)
    assert result.ns_per_day == pytest.approx(result.steps_per_s * 5e-6 * 86400)


def test_trajectory_frames(lj_run):
    atoms, _, result, calls = lj_run
    traj = read_trajectory(result.traj_path)
    assert traj["positions"].shape == (9, 32, 3) and traj["positions"].dtype == np.float32
    assert traj["cells"].shape == (9, 3, 3)
    np.testing.assert_array_equal(traj["steps"], np.arange(0, 201, 25))
    np.testing.assert_allclose(traj["time_ps"], traj["steps"] * 0.005)
    np.testing.assert_allclose(traj["positions"][0], atoms.positions, atol=1e-5)
    np.testing.assert_array_equal(atoms.positions, argon_box().positions)  # input not modified
    assert atoms.calc is None
    np.testing.assert_array_equal(traj["mol_id"], np.arange(32))
    np.testing.assert_array_equal(traj["numbers"], np.full(32, 18))
    np.testing.assert_allclose(traj["masses"], 39.948)
    assert traj["production_start_step"] == 0
    assert np.all(np.isfinite(traj["positions"]))
    # cells match the logged volumes at the shared steps (every 50 steps)
    log = read_md_log(result.log_path)
    shared = np.isin(log["step"], traj["steps"])
    np.testing.assert_allclose(
        np.linalg.det(traj["cells"][np.isin(traj["steps"], log["step"])]), log["volume_ang3"][shared], rtol=1e-8
    )
    assert calls[-1] == (200, 200) and [c[0] for c in calls] == sorted({*range(10, 201, 10), *range(25, 201, 25)})


def test_same_seed_reproduces_trajectory(tmp_path):
    short = {"n_steps": 60, "log_interval": 20, "trajectory_interval": 20}
    runs = [
        run(argon_box(), ArgonLJ(), md_settings(seed=seed, **short), tmp_path / name)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    ]
    a, b, c = (read_trajectory(r.traj_path) for r in runs)
    np.testing.assert_array_equal(a["positions"], b["positions"])
    np.testing.assert_array_equal(a["cells"], b["cells"])
    assert runs[0].log_path.read_text() == runs[1].log_path.read_text()
    assert not np.allclose(a["positions"][-1], c["positions"][-1])


RESTART = {
    "n_steps": 40,
    "equilibration_steps": 20,
    "log_interval": 5,
    "trajectory_interval": 5,
    "checkpoint_interval": 20,
    "seed": 1,
}


def load_checkpoint(path) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.mark.parametrize("ensemble", [NPT, NVT], ids=["npt", "nvt"])
def test_restart_after_crash_reproduces_uninterrupted_run(tmp_path, ensemble):
    settings = md_settings(**RESTART, **ensemble)
    whole = run(argon_box(), ArgonLJ(), settings, tmp_path / "whole")

    with pytest.raises(RuntimeError, match="simulated crash"):  # one calculation per step: dies in step 47
        run(argon_box(), ArgonLJ(crash_at=48), settings, tmp_path / "cut")
    assert read_md_log(tmp_path / "cut" / "md_log.csv")["step"][-1] == 45  # rows past the checkpoint at 40
    assert int(load_checkpoint(tmp_path / "cut" / CHECKPOINT_NAME)["step"]) == 40
    resumed = run(argon_box(), ArgonLJ(), settings, tmp_path / "cut")

    assert resumed.resumed_from_step == 40 and resumed.n_steps_done == whole.n_steps_done == 60
    assert resumed.production_start_step == 20 and resumed.stopped_reason is None
    assert resumed.steps_per_s == pytest.approx(20 / resumed.wall_time_s)  # this call's 20 steps only
    assert resumed.log_path.read_text() == whole.log_path.read_text()
    steps = read_md_log(resumed.log_path)["step"]
    np.testing.assert_array_equal(steps, np.arange(0, 61, 5))
    a, b = read_trajectory(whole.traj_path), read_trajectory(resumed.traj_path)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(b[key], a[key], err_msg=key)
    np.testing.assert_array_equal(b["steps"], np.arange(0, 61, 5))
    assert b["production_start_step"] == 20
    # the final states (positions, momenta, cell, integrator variables, records) agree bit for bit
    final_whole, final_resumed = load_checkpoint(whole.checkpoint_path), load_checkpoint(resumed.checkpoint_path)
    assert final_whole.keys() == final_resumed.keys() >= {"positions", "momenta", "cell", "log_bytes", "n_frames"}
    for key in final_whole:
        np.testing.assert_array_equal(final_resumed[key], final_whole[key], err_msg=key)
    assert not np.array_equal(final_whole["positions"], argon_box().positions)
    volumes = read_md_log(whole.log_path)["volume_ang3"]
    if settings.ensemble == "nvt":
        assert np.all(volumes == volumes[0]) and volumes[0] == pytest.approx(11.2**3) and "engine.rng" in final_whole
    else:
        assert volumes[-1] < volumes[0] and "engine.barostat_p_xi" in final_whole


def test_finished_run_returns_without_calculating(tmp_path):
    settings = md_settings(n_steps=20, log_interval=5, trajectory_interval=5, checkpoint_interval=10, **NVT)
    first = run(argon_box(), ArgonLJ(), settings, tmp_path)
    log, traj = first.log_path.read_text(), read_trajectory(first.traj_path)
    again = run(argon_box(), ArgonLJ(crash_at=1), settings, tmp_path)
    assert again.resumed_from_step == again.n_steps_done == 20
    assert np.isnan(again.steps_per_s) and np.isnan(again.ns_per_day)
    assert again.log_path.read_text() == log
    np.testing.assert_array_equal(read_trajectory(again.traj_path)["positions"], traj["positions"])


def test_checkpoint_of_other_settings_or_structure_refused(tmp_path):
    short = {"n_steps": 10, "log_interval": 5, "checkpoint_interval": 5}
    settings = md_settings(**short)
    run(argon_box(), ArgonLJ(), settings, tmp_path)
    with pytest.raises(ValueError, match=re.escape("different settings (temperature_K: 90.0 → 100.0)")):
        run(argon_box(), ArgonLJ(), settings, tmp_path, temperature_K=100.0)
    with pytest.raises(ValueError, match=re.escape("different settings (pressure_bar: 1.0 → 1000.0)")):
        run_md(argon_box(), ArgonLJ(), settings, TEMPERATURE_K, 1000.0, tmp_path)
    with pytest.raises(
        ValueError, match=re.escape("different settings (ensemble: 'npt' → 'nvt', pressure_bar: 1.0 → None)")
    ):
        run(argon_box(), ArgonLJ(), md_settings(**short, **NVT), tmp_path)
    # a 1e-9 fs change, below the 6 digits a campaign file's dump keeps, still counts
    with pytest.raises(ValueError, match=re.escape("different settings (timestep: 5.0 → 5.000000001)")):
        run(argon_box(), ArgonLJ(), md_settings(**short, timestep=5.000000001), tmp_path)
    with pytest.raises(ValueError, match=re.escape("different settings (stability.max_force: 20.0 → 10.0)")):
        run(argon_box(), ArgonLJ(), md_settings(**short, stability={"max_force": 10.0}), tmp_path)
    moved = argon_box()
    moved.rattle(0.01, seed=1)
    with pytest.raises(ValueError, match="different starting structure"):
        run(moved, ArgonLJ(), settings, tmp_path)
    assert run(argon_box(), ArgonLJ(crash_at=1), settings, tmp_path).resumed_from_step == 10  # and the original is kept


def test_failed_checkpoint_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    settings = md_settings(n_steps=60, log_interval=5, trajectory_interval=5, checkpoint_interval=20, **NVT)
    checkpoint = tmp_path / CHECKPOINT_NAME
    replace, writes = os.replace, []

    def full_disk_on_second_checkpoint(src, dst):
        writes.append(str(dst))
        if str(dst) == str(checkpoint) and writes.count(str(checkpoint)) == 2:
            raise OSError("disk full")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk_on_second_checkpoint)
    with pytest.raises(OSError, match="disk full"):
        run(argon_box(), ArgonLJ(), settings, tmp_path)
    monkeypatch.setattr(os, "replace", replace)
    saved = load_checkpoint(checkpoint)  # the step-20 checkpoint, whole and readable
    assert int(saved["step"]) == 20 and int(saved["n_frames"]) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME, "frames.bin", "md_log.csv"]  # no temporary
    resumed = run(argon_box(), ArgonLJ(), settings, tmp_path)
    assert resumed.resumed_from_step == 20 and resumed.n_steps_done == 60


def test_checkpoint_size_does_not_grow_and_lost_frames_are_refused(tmp_path):
    settings = md_settings(n_steps=60, log_interval=5, trajectory_interval=5, checkpoint_interval=20, **NVT)
    sizes = []

    def record(done, total):
        if done % 20 == 0 and done < 60:
            sizes.append((tmp_path / CHECKPOINT_NAME).stat().st_size)

    result = run(argon_box(), ArgonLJ(), settings, tmp_path, progress=record)
    sizes.append(result.checkpoint_path.stat().st_size)  # frames live in frames.bin; only the RNG state's text varies
    assert len(sizes) == 3 and max(sizes) - min(sizes) < 16
    assert (tmp_path / "frames.bin").stat().st_size == 13 * (
        8 + 9 * 8 + 32 * 3 * 4
    )  # 13 records of step, cell, positions
    current = load_checkpoint(result.checkpoint_path)
    # checkpoints of the formats before frames.bin and before engines
    for dropped in (("log_bytes", "n_frames"), ("engine",)):
        np.savez(tmp_path / "older.npz", **{k: v for k, v in current.items() if k not in dropped})
        os.replace(tmp_path / "older.npz", result.checkpoint_path)
        with pytest.raises(ValueError, match="written by an older mlipcamp"):
            run(argon_box(), ArgonLJ(), settings, tmp_path)
    np.savez(tmp_path / "current.npz", **current)
    os.replace(tmp_path / "current.npz", result.checkpoint_path)
    os.truncate(tmp_path / "frames.bin", 100)
    with pytest.raises(
        ValueError, match=re.escape("frames.bin holds 100 bytes, fewer than the 6032 its checkpoint recorded")
    ):
        run(argon_box(), ArgonLJ(), settings, tmp_path)


def test_settings_fingerprint_ignores_number_types(tmp_path):
    run(argon_box(), ArgonLJ(), md_settings(n_steps=10, log_interval=5, checkpoint_interval=5), tmp_path)
    same = md_settings(n_steps=np.int64(10), log_interval=np.int64(5), checkpoint_interval=5, timestep=5)
    resumed = run_md(argon_box(), ArgonLJ(crash_at=1), same, np.int64(90), np.float64(1.0), tmp_path)
    assert resumed.resumed_from_step == resumed.n_steps_done == 10


# --- stability watch ---------------------------------------------------------------------------


def break_at_step_20(calculator: ArgonLJ, fault: str):
    """Progress callback that turns on ``calculator.fault`` after step 20: steps 21+ are faulty."""
    return lambda done, total: setattr(calculator, "fault", fault) if done == 20 else None


@pytest.mark.parametrize(
    "fault, reason",
    [
        ("nan", "non-finite values: epot_eV, etot_eV"),
        ("force", r"force (99\d|1e\+03) eV/Å on atom 3 exceeds 20 eV/Å"),
    ],
)
def test_faulty_calculator_stops_run_at_next_log_step(tmp_path, fault, reason):
    settings = md_settings(n_steps=60, log_interval=5, trajectory_interval=10, checkpoint_interval=20, timestep=1.0)
    calculator = ArgonLJ()
    result = run(argon_box(), calculator, settings, tmp_path, progress=break_at_step_20(calculator, fault))
    assert re.fullmatch(reason, result.stopped_reason)
    assert result.stopped_step == result.n_steps_done == 25
    log = read_md_log(result.log_path)
    np.testing.assert_array_equal(log["step"], np.arange(0, 26, 5))  # the log ends with the faulty row
    assert np.isnan(log["epot_eV"][-1]) == (fault == "nan") and np.all(np.isfinite(log["epot_eV"][:-1]))
    np.testing.assert_array_equal(read_trajectory(result.traj_path)["steps"], [0, 10, 20])
    # a stopped run is finished: calling again returns its result without calculating
    again = run(argon_box(), ArgonLJ(crash_at=1), settings, tmp_path)
    assert (again.stopped_reason, again.stopped_step, again.resumed_from_step) == (result.stopped_reason, 25, 25)


def test_density_outside_window_stops_run(lj_run, tmp_path):
    """The box overshoots past 1.9 g/cm³ at step 20: the run stops at the first such log step, identical to the
    unwatched run until then."""
    _, _, full, _ = lj_run
    result = run(argon_box(), ArgonLJ(), md_settings(**LJ_RUN, stability={"density_window": (0.2, 1.9)}), tmp_path)
    full_log, log = read_md_log(full.log_path), read_md_log(result.log_path)
    first_dense = full_log["step"][np.argmax(full_log["density_g_cm3"] > 1.9)]
    assert 0 < first_dense < 200 and result.stopped_step == result.n_steps_done == first_dense
    assert re.fullmatch(r"density 1\.9\d* g/cm³ outside \[0\.2, 1\.9\] g/cm³", result.stopped_reason)
    n = len(log["step"])
    assert log["step"][-1] == first_dense
    for column in LOG_COLUMNS:
        np.testing.assert_array_equal(log[column], full_log[column][:n])
    assert read_trajectory(result.traj_path)["steps"][-1] <= first_dense


def test_temperature_runaway_stops_run(tmp_path):
    """Rattled copper at 10 K target: the released strain heats it past 3 × 10 K within tens of fs."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.1, seed=0)
    atoms.arrays["mol_id"] = np.arange(len(atoms))
    settings = md_settings(
        ensemble="nvt", n_steps=40, timestep=2.0, log_interval=2, stability={"check_connectivity": False}
    )
    result = run(atoms, EMT(), settings, tmp_path, temperature_K=10.0)
    log = read_md_log(result.log_path)
    assert 0 < result.stopped_step == log["step"][-1] < 40
    assert log["temperature_K"][-1] > 30 and np.all(log["temperature_K"][:-1] <= 30)
    assert re.fullmatch(r"temperature runaway: \d+\.?\d* K > 3 × 10 K", result.stopped_reason)


def h2_gas() -> Atoms:
    """Four H2 molecules (0.74 Å) in a 6 Å box, one mol_id each."""
    atoms = Atoms(cell=[6.0, 6.0, 6.0], pbc=True)
    for k, corner in enumerate([(0, 0, 0), (3, 0, 0), (0, 3, 3), (3, 3, 0)]):
        h2 = molecule("H2")
        h2.translate(np.add(corner, 1.0))
        h2.arrays["mol_id"] = np.full(2, k)
        atoms += h2
    return atoms


def test_broken_molecule_stops_run(tmp_path):
    """A pair potential whose minimum (1.01 Å) lies beyond the broken-bond distance (1.6 × 0.62 Å) pulls every molecule apart."""
    repulsive = LennardJones(sigma=0.9, epsilon=0.01, rc=2.5)
    short = {"ensemble": "nvt", "n_steps": 20, "timestep": 0.5, "log_interval": 5}
    settings = md_settings(**short, stability={"max_temperature_factor": 1e4})
    result = run(h2_gas(), repulsive, settings, tmp_path, temperature_K=10.0)
    assert result.stopped_step == 10
    assert re.fullmatch(
        r"broken molecule: mol_id 0 lost the bond between atoms 0 and 1 \(H–H (0\.99|1\.\d\d) Å\), \d bond\(s\) lost",
        result.stopped_reason,
    )
    unwatched = md_settings(**short, stability=Stability(max_temperature_factor=1e4, check_connectivity=False))
    assert run(h2_gas(), repulsive, unwatched, tmp_path / "off", temperature_K=10.0).stopped_reason is None


def test_fused_molecules_stop_run(tmp_path):
    """Two H atoms of different molecules 1 Å apart attract each other (minimum at 0.56 Å) and bond."""
    atoms = Atoms("H2", positions=[[2.0, 2.0, 2.0], [3.0, 2.0, 2.0]], cell=[6.0, 6.0, 6.0], pbc=True)
    atoms.arrays["mol_id"] = np.array([0, 1])
    assert connectivity_problem(atoms, covalent_bonds(atoms)) is None
    settings = md_settings(
        ensemble="nvt",
        n_steps=100,
        timestep=1.0,
        log_interval=5,
        trajectory_interval=5,
        stability={"max_temperature_factor": 1e4},
    )
    result = run(atoms, LennardJones(sigma=0.5, epsilon=0.1, rc=3.0), settings, tmp_path, temperature_K=10.0)
    assert 0 < result.stopped_step < 100
    assert re.fullmatch(
        r"fused molecules: mol_id 0 and 1 bonded through atoms 0 and 1 \(H–H 0\.\d\d Å\), 1 such bond\(s\)",
        result.stopped_reason,
    )
    final = read_trajectory(result.traj_path)
    assert final["steps"][-1] == result.stopped_step
    assert (
        np.linalg.norm(np.diff(final["positions"][-1], axis=0))
        < 0.744
        < np.linalg.norm(np.diff(final["positions"][-2], axis=0))
    )


def two_waters() -> Atoms:
    """Two water molecules 3 Å apart in a 6 Å box, the second one straddling the box edge."""
    first, second = molecule("H2O"), molecule("H2O")
    first.translate([2.0, 3.0, 3.0])
    second.translate([5.5, 3.0, 3.0])  # its atoms lie on both sides of x = 6 Å, unwrapped
    atoms = first + second
    atoms.set_cell([6.0, 6.0, 6.0])
    atoms.pbc = True
    atoms.arrays["mol_id"] = np.repeat([0, 1], 3)
    return atoms


def test_connectivity_problem_names_molecule_and_atoms():
    start = two_waters()
    reference = covalent_bonds(start)
    np.testing.assert_array_equal(reference, [[0, 1], [0, 2], [3, 4], [3, 5]])  # O–H bonds across the edge too
    assert connectivity_problem(start, reference) is None

    stretched = start.copy()
    stretched.positions[5] += [0.0, 0.0, -0.6]  # O–H 0.97 Å → 1.42 Å: a hot stretch, below 1.6 × (0.66 + 0.31) Å
    assert connectivity_problem(stretched, reference) is None
    broken = start.copy()
    broken.positions[5] += [0.0, 0.0, -0.8]  # → 1.59 Å
    assert (
        connectivity_problem(broken, reference)
        == "broken molecule: mol_id 1 lost the bond between atoms 3 and 5 (O–H 1.59 Å), 1 bond(s) lost"
    )

    contact = start.copy()
    contact.positions[1] = contact.positions[3] + [-1.0, 0.0, 0.0]  # an H of water 0 at 1 Å from the O of water 1
    assert connectivity_problem(contact, covalent_bonds(contact)) is None  # a short hydrogen bond, not a covalent one
    fused = start.copy()
    fused.positions[1] = fused.positions[3] + [-0.9, 0.0, 0.0]  # 0.9 Å < 0.66 + 0.31 Å
    message = connectivity_problem(fused, covalent_bonds(start))
    assert message.startswith("fused molecules: mol_id 0 and 1 bonded through atoms 1 and 3 (H–O 0.90 Å)")


def test_mol_id_required(tmp_path):
    atoms = argon_box()
    del atoms.arrays["mol_id"]
    with pytest.raises(ValueError, match="mol_id"):
        run(atoms, ArgonLJ(), md_settings(n_steps=10), tmp_path)


@pytest.mark.parametrize(
    "ensemble, temperature_K, pressure_bar, message",
    [
        ("npt", 0.0, 1.0, "temperature_K must be positive and finite, got 0.0"),
        ("nvt", -10.0, None, "temperature_K must be positive and finite, got -10.0"),
        ("npt", float("nan"), 1.0, "temperature_K must be positive and finite, got nan"),
        ("nvt", float("inf"), None, "temperature_K must be positive and finite, got inf"),
        ("npt", 300.0, None, "pressure_bar must be finite for NPT, got None"),
        ("npt", 300.0, float("inf"), "pressure_bar must be finite for NPT, got inf"),
        ("npt", 300.0, "1 bar", "pressure_bar must be finite for NPT, got '1 bar'"),
        ("nvt", 300.0, 1.0, "pressure_bar applies to NPT only; pass None for NVT, got 1.0"),
    ],
)
def test_conditions_validation(tmp_path, ensemble, temperature_K, pressure_bar, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run_md(
            argon_box(),
            ArgonLJ(),
            md_settings(ensemble=ensemble, n_steps=10),
            temperature_K,
            pressure_bar,
            tmp_path / "run",
        )
    assert not (tmp_path / "run").exists()  # refused before anything is written


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("ensemble", "nve", "Input should be 'npt' or 'nvt'"),
        ("n_steps", 0, "greater than 0"),
        ("n_steps", 10.5, "fractional part"),
        ("equilibration_steps", -1, "greater than or equal to 0"),
        ("equilibration_steps", 2.5, "fractional part"),
        ("timestep", 0.0, "must be positive"),
        ("timestep", -1.0, "must be positive"),
        ("timestep", float("inf"), "must be finite"),
        ("thermostat_damping", float("nan"), "must be finite"),
        ("barostat_damping", -5.0, "must be positive"),
        ("barostat_damping", float("inf"), "must be finite"),
        ("log_interval", 0, "greater than 0"),
        ("trajectory_interval", -10, "greater than 0"),
        ("checkpoint_interval", 0, "greater than 0"),
        ("seed", -1, "greater than or equal to 0"),
        ("traj_interval", 10, "Extra inputs are not permitted"),
    ],
)
def test_settings_validation_names_field(field, value, message):
    with pytest.raises(ValidationError) as error:
        MolecularDynamics(**({"n_molecules": 32, "n_steps": 100} | {field: value}))
    [problem] = error.value.errors()
    assert problem["loc"] == (field,) and message in problem["msg"]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("max_force", 0.0, "greater than 0"),
        ("max_force", float("nan"), "greater than 0"),
        ("density_window", (2.0, 1.0), "0 <= low < high"),
        ("max_temperature_factor", 1.0, "greater than 1"),
    ],
)
def test_stability_validation_names_field(field, value, message):
    with pytest.raises(ValidationError) as error:
        Stability(**{field: value})
    [problem] = error.value.errors()
    assert problem["loc"] == (field,) and message in problem["msg"]


# --- engines -------------------------------------------------------------------------------------


def started_box(md: MolecularDynamics, temperature_K: float = TEMPERATURE_K):
    """The argon box with the calculator and run_md's starting momenta."""
    atoms = argon_box()
    atoms.calc = ArgonLJ()
    thermalize_momenta(atoms, temperature_K, rng=np.random.default_rng(md.seed))
    Stationary(atoms)
    return atoms


def conditions(md: MolecularDynamics) -> tuple[float, float | None]:
    return TEMPERATURE_K, PRESSURE_BAR if md.ensemble == "npt" else None


@pytest.mark.parametrize(
    "ensemble, engine_class, names",
    [
        (
            NPT,
            IsotropicMTKEngine,
            {
                "nsteps",
                "eps",
                "p_eps",
                "cell0",
                "volume0",
                "thermostat_eta",
                "thermostat_p_eta",
                "barostat_xi",
                "barostat_p_xi",
            },
        ),
        (NVT, LangevinEngine, {"nsteps", "rng"}),
    ],
    ids=["npt", "nvt"],
)
def test_checkpoint_holds_only_the_engines_declared_state(tmp_path, ensemble, engine_class, names):
    settings = md_settings(**RESTART, **ensemble)
    engine = make_engine(started_box(settings), settings, *conditions(settings))
    assert type(engine) is engine_class and set(engine.state_names) == set(engine.state()) == names

    result = run(argon_box(), ArgonLJ(), settings, tmp_path)
    saved = load_checkpoint(result.checkpoint_path)
    assert saved.keys() == RUN_ARRAYS | {f"engine.{name}" for name in names}
    assert str(saved["engine"]) == engine_class.name and int(saved["engine.nsteps"]) == int(saved["step"]) == 60
    if engine_class is IsotropicMTKEngine:
        # the reference cell is the starting box; the box after step 60 is it scaled by exp(eps)
        np.testing.assert_array_equal(saved["engine.cell0"], argon_box().cell[:])
        assert saved["engine.volume0"] == pytest.approx(11.2**3, rel=1e-12)
        np.testing.assert_array_equal(saved["cell"], saved["engine.cell0"] * np.exp(saved["engine.eps"]))
        assert saved["engine.eps"] < -0.01  # the expanded box shrank
        assert saved["engine.thermostat_eta"].shape == saved["engine.barostat_p_xi"].shape == (3,)
        assert np.all(saved["engine.thermostat_eta"] != 0) and np.all(saved["engine.barostat_xi"] != 0)
    else:
        # the noise stream spawned from the seed, after 60 steps of two (32, 3) normal draws each
        noise = np.random.default_rng(np.random.SeedSequence(settings.seed).spawn(1)[0])
        for _ in range(2 * 60):
            noise.standard_normal((32, 3))
        assert json.loads(str(saved["engine.rng"])) == noise.bit_generator.state


@pytest.mark.parametrize("ensemble", [NPT, NVT], ids=["npt", "nvt"])
def test_engine_restore_continues_bit_identically(ensemble):
    settings = md_settings(n_steps=100, **ensemble)
    original = make_engine(started_box(settings), settings, *conditions(settings))
    original.step(7)
    state, atoms = original.state(), original.atoms
    copies = []
    for restore in (True, False):
        fresh = started_box(settings)
        fresh.set_positions(atoms.get_positions())
        fresh.set_momenta(atoms.get_momenta())
        fresh.set_cell(atoms.cell[:])
        copy = make_engine(fresh, settings, *conditions(settings))
        if restore:
            copy.restore(state)
        copy.step(9)
        copies.append(copy)
    original.step(9)
    restored, unrestored = copies
    for engine in (original, restored):
        assert engine.atoms.get_temperature() > 10
    np.testing.assert_array_equal(restored.atoms.get_positions(), original.atoms.get_positions())
    np.testing.assert_array_equal(restored.atoms.get_momenta(), original.atoms.get_momenta())
    np.testing.assert_array_equal(restored.atoms.cell[:], original.atoms.cell[:])
    assert restored.state().keys() == original.state().keys()
    for name, value in original.state().items():
        np.testing.assert_array_equal(restored.state()[name], value, err_msg=name)
    # without restore the same atoms take another path: the state is needed, not decoration
    assert not np.array_equal(unrestored.atoms.get_positions(), original.atoms.get_positions())


def test_checkpoint_of_other_engine_or_state_refused(tmp_path):
    settings = md_settings(n_steps=20, log_interval=5, checkpoint_interval=10)
    checkpoint = tmp_path / CHECKPOINT_NAME
    with pytest.raises(RuntimeError, match="simulated crash"):  # in step 17, past the checkpoint at 10
        run(argon_box(), ArgonLJ(crash_at=18), settings, tmp_path)
    saved = load_checkpoint(checkpoint)
    for changed, message in [
        (
            saved | {"engine": np.array("gpu-batched")},
            "written by the MD engine 'gpu-batched', not 'ase-isotropic-mtk'",
        ),
        ({k: v for k, v in saved.items() if k != "engine.barostat_xi"}, "holds engine state ['barostat_p_xi', 'cell0'"),
    ]:
        np.savez(tmp_path / "changed.npz", **changed)
        os.replace(tmp_path / "changed.npz", checkpoint)
        with pytest.raises(ValueError, match=re.escape(message)):
            run(argon_box(), ArgonLJ(), settings, tmp_path)
    assert read_md_log(tmp_path / "md_log.csv")["step"][-1] == 15  # refused before the files were cut back to step 10


class VelocityVerlet(MDEngine):
    """An NVE engine of the test's own, to show that run_md and checkpoints work with any engine:
    its one state variable, ``n_taken``, counts its steps across restarts."""

    name = "test-velocity-verlet"
    state_names = ("n_taken",)

    def __init__(self, atoms, md, temperature_K, pressure_bar):
        self.atoms, self.dt, self.n_taken = atoms, md.timestep * units.fs, 0

    def step(self, n: int) -> None:
        masses = self.atoms.get_masses()[:, None]
        for _ in range(n):
            momenta = self.atoms.get_momenta() + 0.5 * self.dt * self.atoms.get_forces()
            self.atoms.set_positions(self.atoms.get_positions() + self.dt * momenta / masses)
            self.atoms.set_momenta(momenta + 0.5 * self.dt * self.atoms.get_forces())
            self.n_taken += 1

    def state(self) -> dict[str, np.ndarray]:
        return {"n_taken": np.int64(self.n_taken)}

    def restore(self, state) -> None:
        self.n_taken = int(state["n_taken"])


def test_run_md_takes_any_engine(tmp_path, monkeypatch):
    import mlipcamp.science.md.run as run_module

    monkeypatch.setattr(run_module, "make_engine", VelocityVerlet)
    settings = md_settings(**(RESTART | NVT | {"timestep": 2.0}))
    whole = run(argon_box(), ArgonLJ(), settings, tmp_path / "whole")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(argon_box(), ArgonLJ(crash_at=48), settings, tmp_path / "cut")
    monkeypatch.setattr(run_module, "make_engine", make_engine)  # its checkpoint is refused by another engine
    with pytest.raises(ValueError, match="written by the MD engine 'test-velocity-verlet', not 'ase-langevin'"):
        run(argon_box(), ArgonLJ(), settings, tmp_path / "cut")
    monkeypatch.setattr(run_module, "make_engine", VelocityVerlet)
    resumed = run(argon_box(), ArgonLJ(), settings, tmp_path / "cut")
    assert resumed.resumed_from_step == 40 and resumed.log_path.read_text() == whole.log_path.read_text()
    saved = load_checkpoint(resumed.checkpoint_path)
    assert saved.keys() == RUN_ARRAYS | {"engine.n_taken"} and str(saved["engine"]) == "test-velocity-verlet"
    assert int(saved["engine.n_taken"]) == 60  # 40 before the crash, handed back through restore, + 20
    log = read_md_log(whole.log_path)
    assert np.ptp(log["etot_eV"]) < 1e-4 * np.ptp(log["epot_eV"])  # NVE: the total energy stays put


@pytest.mark.slow
@pytest.mark.parametrize("repeat", [2, 3])
def test_fast_argon_equals_ase_lennard_jones(repeat):
    """The tests' vectorised LJ (tests/argon.py) against ASE's, on a strained, disordered box small
    enough to need periodic images beyond the nearest (32 atoms) and one that does not (108)."""
    atoms = bulk("Ar", "fcc", a=5.6, cubic=True).repeat(repeat)
    atoms.positions += np.random.default_rng(repeat).normal(0.0, 0.3, atoms.positions.shape)
    atoms.set_cell(atoms.cell.array * [1.0, 0.97, 1.02] + [[0, 0, 0], [0.4, 0, 0], [0, 0, 0]], scale_atoms=True)
    reference = atoms.copy()
    reference.calc = LennardJones(sigma=3.405, epsilon=0.0103, rc=8.5, smooth=False)
    atoms.calc = FastArgon()
    assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), reference.get_forces(), atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(), reference.get_stress(), atol=1e-14)
    assert np.abs(reference.get_stress()).max() > 1e-4


def test_npt_at_the_nvt_pressure_keeps_the_nvt_density(tmp_path):
    """The barostat's target is the pressure the log reports: supercritical LJ argon (130 K) at a
    fixed 1.2 g/cm³ has a mean pressure P (NVT); NPT at P holds 1.2 g/cm³ (measured here: 454 bar,
    then 1.208 g/cm³ with 108 atoms).
    A sign or unit slip in the pressure moves it far away."""
    atoms = bulk("Ar", "fcc", a=5.6, cubic=True).repeat(3)  # 108 atoms
    mass_g = atoms.get_masses().sum() / (units.mol * 1.0)
    atoms.set_cell(atoms.cell * (mass_g / 1.2 / (atoms.get_volume() * 1e-24)) ** (1 / 3), scale_atoms=True)
    atoms.arrays["mol_id"] = np.arange(len(atoms))
    common = {
        "n_molecules": 108,
        "timestep": 5.0,
        "thermostat_damping": 500.0,
        "barostat_damping": 2500.0,
        "log_interval": 10,
        "trajectory_interval": 100,
        "seed": 1,
        "stability": {"check_connectivity": False},
    }

    def kept(ensemble, pressure_bar, steps, name):
        md = MolecularDynamics(**common, ensemble=ensemble, n_steps=steps)
        run_md(atoms, FastArgon(), md, 130.0, pressure_bar, tmp_path / name)
        log = read_md_log(tmp_path / name / "md_log.csv")
        return {k: log[k][len(log[k]) // 3 :].mean() for k in ("density_g_cm3", "pressure_bar", "temperature_K")}

    nvt = kept("nvt", None, 1500, "nvt")
    assert nvt["density_g_cm3"] == pytest.approx(1.2, rel=1e-9) and nvt["pressure_bar"] > 100
    npt = kept("npt", float(nvt["pressure_bar"]), 3000, "npt")
    assert npt["density_g_cm3"] == pytest.approx(1.2, rel=0.03)
    assert npt["temperature_K"] == pytest.approx(130.0, rel=0.05)


THERMALIZED = dict(RESTART, thermalization_steps=30)


def test_thermalization_runs_nvt_first_and_npt_starts_where_it_ends(tmp_path):
    settings = md_settings(**THERMALIZED)
    calls = []
    result = run(argon_box(), ArgonLJ(), settings, tmp_path / "run", progress=lambda *a: calls.append(a))
    stage = read_md_log(tmp_path / "run" / "thermalization" / "md_log.csv")
    np.testing.assert_array_equal(stage["step"], np.arange(0, 31, 5))
    assert np.all(stage["volume_ang3"] == stage["volume_ang3"][0])  # NVT: the packing density
    production = read_md_log(result.log_path)
    assert result.n_steps_done == 60 and production["step"][-1] == 60
    assert production["volume_ang3"][-1] != production["volume_ang3"][0]  # then the barostat acts
    start = read_trajectory(result.traj_path)["positions"][0]
    thermalized = load_checkpoint(tmp_path / "run" / "thermalization" / CHECKPOINT_NAME)["positions"]
    np.testing.assert_array_equal(start, thermalized.astype(start.dtype))  # frames are float32; starts where it ended
    assert calls[0] == (5, 90) and calls[-1] == (90, 90)  # progress counts both stages


@pytest.mark.parametrize("crash_at", [20, 48], ids=["in-thermalization", "in-production"])
def test_thermalized_run_resumes_bit_for_bit(tmp_path, crash_at):
    settings = md_settings(**THERMALIZED)
    whole = run(argon_box(), ArgonLJ(), settings, tmp_path / "whole")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(argon_box(), ArgonLJ(crash_at=crash_at), settings, tmp_path / "cut")
    resumed = run(argon_box(), ArgonLJ(), settings, tmp_path / "cut")
    assert resumed.log_path.read_text() == whole.log_path.read_text()
    final_whole, final_resumed = load_checkpoint(whole.checkpoint_path), load_checkpoint(resumed.checkpoint_path)
    for key in final_whole:
        np.testing.assert_array_equal(final_resumed[key], final_whole[key], err_msg=key)


def test_thermalization_is_for_npt_runs():
    with pytest.raises(ValidationError, match="thermalization_steps: applies to NPT runs"):
        md_settings(**NVT, n_steps=10, thermalization_steps=5)


def test_thermalization_enters_the_identity_only_when_asked_for():
    assert "thermalization_steps" not in md_settings(n_steps=10).identity()
    settings = md_settings(n_steps=10, equilibration_steps=5, thermalization_steps=7)
    assert settings.identity()["thermalization_steps"] == 7
    assert settings.total_steps == 15 and settings.steps_with_thermalization == 22


def test_dtype_enters_the_identity_only_when_asked_for():
    assert "dtype" not in md_settings(n_steps=10).identity()
    assert md_settings(n_steps=10, dtype="float32").identity()["dtype"] == "float32"
    with pytest.raises(ValidationError, match="dtype"):
        md_settings(n_steps=10, dtype="float16")
