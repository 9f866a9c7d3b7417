"""Production MD: NPT/NVT on a small Lennard-Jones argon box (each atom its own molecule),
bitwise restarts from checkpoints, atomic writes and the stability watch."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from mlipcamp.science.md.run import (
    CHECKPOINT_NAME,
    LOG_COLUMNS,
    MDSettings,
    StabilityLimits,
    connectivity_problem,
    covalent_bonds,
    read_md_log,
    read_trajectory,
    run_md,
)

SETTINGS = dict(ensemble="npt", temperature_K=90.0, pressure_bar=1.0, timestep_fs=5.0, tdamp_fs=100.0, pdamp_fs=500.0)
NVT = dict(SETTINGS, ensemble="nvt", pressure_bar=None)
NO_CONNECTIVITY = StabilityLimits(check_connectivity=False)


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


def atoms_temperature_from_seed(settings: MDSettings) -> float:
    """Temperature (K) of the Maxwell–Boltzmann draw run_md makes, recomputed independently."""
    atoms = argon_box()
    MaxwellBoltzmannDistribution(atoms, temperature_K=settings.temperature_K, rng=np.random.default_rng(settings.seed))
    Stationary(atoms)
    return atoms.get_temperature()


@pytest.fixture(scope="module")
def lj_run(tmp_path_factory):
    atoms = argon_box()
    calls = []
    settings = MDSettings(n_steps=200, log_interval=10, traj_interval=25, seed=3, **SETTINGS)
    result = run_md(atoms, ArgonLJ(), settings, tmp_path_factory.mktemp("lj"), progress=lambda *a: calls.append(a))
    return atoms, settings, result, calls


def test_log_columns_rows_and_values(lj_run):
    atoms, settings, result, _ = lj_run
    log = read_md_log(result.log_path)
    assert tuple(log) == LOG_COLUMNS
    np.testing.assert_array_equal(log["step"], np.arange(0, 201, 10))
    np.testing.assert_allclose(log["time_ps"], log["step"] * 0.005)
    assert all(np.all(np.isfinite(v)) for v in log.values())
    # density = mass / volume: 32 Ar (39.948 amu) in a 11.2 Å box at step 0 → 1.5109 g/cm³
    assert log["volume_ang3"][0] == pytest.approx(11.2**3)
    assert log["density_g_cm3"][0] == pytest.approx(32 * 39.948 / 11.2**3 * 1.66053907, rel=1e-6)
    np.testing.assert_allclose(log["density_g_cm3"] * log["volume_ang3"], 32 * 39.948 * 1.66053907, rtol=1e-6)
    assert log["temperature_K"][0] == pytest.approx(atoms_temperature_from_seed(settings), rel=1e-6)
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
    np.testing.assert_allclose(np.linalg.det(traj["cells"][np.isin(traj["steps"], log["step"])]), log["volume_ang3"][shared], rtol=1e-8)
    assert calls[-1] == (200, 200) and [c[0] for c in calls] == sorted({*range(10, 201, 10), *range(25, 201, 25)})


def test_same_seed_reproduces_trajectory(tmp_path):
    short = dict(n_steps=60, log_interval=20, traj_interval=20, **SETTINGS)
    runs = [
        run_md(argon_box(), ArgonLJ(), MDSettings(seed=seed, **short), tmp_path / name)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    ]
    a, b, c = (read_trajectory(r.traj_path) for r in runs)
    np.testing.assert_array_equal(a["positions"], b["positions"])
    np.testing.assert_array_equal(a["cells"], b["cells"])
    assert runs[0].log_path.read_text() == runs[1].log_path.read_text()
    assert not np.allclose(a["positions"][-1], c["positions"][-1])


RESTART = dict(n_steps=40, equilibration_steps=20, log_interval=5, traj_interval=5, checkpoint_interval=20, seed=1)


def load_checkpoint(path) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.mark.parametrize("ensemble", [SETTINGS, NVT], ids=["npt", "nvt"])
def test_restart_after_crash_reproduces_uninterrupted_run(tmp_path, ensemble):
    settings = MDSettings(**RESTART, **ensemble)
    whole = run_md(argon_box(), ArgonLJ(), settings, tmp_path / "whole")

    with pytest.raises(RuntimeError, match="simulated crash"):  # one calculation per step: dies in step 47
        run_md(argon_box(), ArgonLJ(crash_at=48), settings, tmp_path / "cut")
    assert read_md_log(tmp_path / "cut" / "md_log.csv")["step"][-1] == 45  # rows past the checkpoint at 40
    assert int(load_checkpoint(tmp_path / "cut" / CHECKPOINT_NAME)["step"]) == 40
    resumed = run_md(argon_box(), ArgonLJ(), settings, tmp_path / "cut")

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
        assert np.all(volumes == volumes[0]) and volumes[0] == pytest.approx(11.2**3) and "rng_state" in final_whole
    else:
        assert volumes[-1] < volumes[0] and "dyn._barostat._p_xi" in final_whole


def test_finished_run_returns_without_calculating(tmp_path):
    settings = MDSettings(n_steps=20, log_interval=5, traj_interval=5, checkpoint_interval=10, **NVT)
    first = run_md(argon_box(), ArgonLJ(), settings, tmp_path)
    log, traj = first.log_path.read_text(), read_trajectory(first.traj_path)
    again = run_md(argon_box(), ArgonLJ(crash_at=1), settings, tmp_path)
    assert again.resumed_from_step == again.n_steps_done == 20
    assert np.isnan(again.steps_per_s) and np.isnan(again.ns_per_day)
    assert again.log_path.read_text() == log
    np.testing.assert_array_equal(read_trajectory(again.traj_path)["positions"], traj["positions"])


def test_checkpoint_of_other_settings_or_structure_refused(tmp_path):
    settings = MDSettings(n_steps=10, log_interval=5, checkpoint_interval=5, **SETTINGS)
    run_md(argon_box(), ArgonLJ(), settings, tmp_path)
    hotter = MDSettings(n_steps=10, log_interval=5, checkpoint_interval=5, **(SETTINGS | {"temperature_K": 100.0}))
    with pytest.raises(ValueError, match=re.escape("different settings (temperature_K: 90.0 → 100.0)")):
        run_md(argon_box(), ArgonLJ(), hotter, tmp_path)
    with pytest.raises(ValueError, match="different settings"):
        run_md(argon_box(), ArgonLJ(), MDSettings(n_steps=10, log_interval=5, checkpoint_interval=5, **NVT), tmp_path)
    moved = argon_box()
    moved.rattle(0.01, seed=1)
    with pytest.raises(ValueError, match="different starting structure"):
        run_md(moved, ArgonLJ(), settings, tmp_path)


def test_failed_checkpoint_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    settings = MDSettings(n_steps=60, log_interval=5, traj_interval=5, checkpoint_interval=20, **NVT)
    checkpoint = tmp_path / CHECKPOINT_NAME
    replace, writes = os.replace, []

    def full_disk_on_second_checkpoint(src, dst):
        writes.append(str(dst))
        if str(dst) == str(checkpoint) and writes.count(str(checkpoint)) == 2:
            raise OSError("disk full")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk_on_second_checkpoint)
    with pytest.raises(OSError, match="disk full"):
        run_md(argon_box(), ArgonLJ(), settings, tmp_path)
    monkeypatch.setattr(os, "replace", replace)
    saved = load_checkpoint(checkpoint)  # the step-20 checkpoint, whole and readable
    assert int(saved["step"]) == 20 and int(saved["n_frames"]) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME, "frames.bin", "md_log.csv"]  # no temporary
    resumed = run_md(argon_box(), ArgonLJ(), settings, tmp_path)
    assert resumed.resumed_from_step == 20 and resumed.n_steps_done == 60


def test_checkpoint_size_does_not_grow_and_lost_frames_are_refused(tmp_path):
    settings = MDSettings(n_steps=60, log_interval=5, traj_interval=5, checkpoint_interval=20, **NVT)
    sizes = []
    record = lambda done, total: sizes.append((tmp_path / CHECKPOINT_NAME).stat().st_size) if done % 20 == 0 and done < 60 else None
    result = run_md(argon_box(), ArgonLJ(), settings, tmp_path, progress=record)
    sizes.append(result.checkpoint_path.stat().st_size)  # frames live in frames.bin; only the RNG state's text varies
    assert len(sizes) == 3 and max(sizes) - min(sizes) < 16
    assert (tmp_path / "frames.bin").stat().st_size == 13 * (8 + 9 * 8 + 32 * 3 * 4)  # 13 records of step, cell, positions
    older = load_checkpoint(result.checkpoint_path)  # a checkpoint of the format before frames.bin
    np.savez(tmp_path / "older.npz", **{k: v for k, v in older.items() if k not in ("log_bytes", "n_frames")})
    os.replace(tmp_path / "older.npz", result.checkpoint_path)
    with pytest.raises(ValueError, match="written by an older mlipcamp"):
        run_md(argon_box(), ArgonLJ(), settings, tmp_path)
    np.savez(tmp_path / "current.npz", **older)
    os.replace(tmp_path / "current.npz", result.checkpoint_path)
    os.truncate(tmp_path / "frames.bin", 100)
    with pytest.raises(ValueError, match="frames.bin holds 100 bytes, fewer than the 6032 its checkpoint recorded"):
        run_md(argon_box(), ArgonLJ(), settings, tmp_path)


def test_settings_fingerprint_ignores_integer_type(tmp_path):
    settings = MDSettings(n_steps=10, log_interval=5, checkpoint_interval=5, **SETTINGS)
    run_md(argon_box(), ArgonLJ(), settings, tmp_path)
    same = MDSettings(n_steps=np.int64(10), log_interval=5, checkpoint_interval=5, **SETTINGS)
    assert run_md(argon_box(), ArgonLJ(crash_at=1), same, tmp_path).resumed_from_step == 10


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
    settings = MDSettings(n_steps=60, log_interval=5, traj_interval=10, checkpoint_interval=20, **(SETTINGS | {"timestep_fs": 1.0}))
    calculator = ArgonLJ()
    result = run_md(argon_box(), calculator, settings, tmp_path, progress=break_at_step_20(calculator, fault))
    assert re.fullmatch(reason, result.stopped_reason)
    assert result.stopped_step == result.n_steps_done == 25
    log = read_md_log(result.log_path)
    np.testing.assert_array_equal(log["step"], np.arange(0, 26, 5))  # the log ends with the faulty row
    assert np.isnan(log["epot_eV"][-1]) == (fault == "nan") and np.all(np.isfinite(log["epot_eV"][:-1]))
    np.testing.assert_array_equal(read_trajectory(result.traj_path)["steps"], [0, 10, 20])
    # a stopped run is finished: calling again returns its result without calculating
    again = run_md(argon_box(), ArgonLJ(crash_at=1), settings, tmp_path)
    assert (again.stopped_reason, again.stopped_step, again.resumed_from_step) == (result.stopped_reason, 25, 25)


def test_density_outside_window_stops_run(lj_run, tmp_path):
    """The box overshoots past 1.9 g/cm³ at step 20: the run stops at the first such log step, identical to the
    unwatched run until then."""
    _, settings, full, _ = lj_run
    result = run_md(argon_box(), ArgonLJ(), settings, tmp_path, limits=StabilityLimits(density_window_g_cm3=(0.2, 1.9)))
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
    settings = MDSettings(ensemble="nvt", temperature_K=10.0, n_steps=40, timestep_fs=2.0, log_interval=2)
    result = run_md(atoms, EMT(), settings, tmp_path, limits=NO_CONNECTIVITY)
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
    settings = MDSettings(ensemble="nvt", temperature_K=10.0, n_steps=20, timestep_fs=0.5, log_interval=5)
    limits = StabilityLimits(max_temperature_factor=1e4)
    result = run_md(h2_gas(), repulsive, settings, tmp_path, limits=limits)
    assert result.stopped_step == 10
    assert re.fullmatch(r"broken molecule: mol_id 0 lost the bond between atoms 0 and 1 \(H–H (0\.99|1\.\d\d) Å\), \d bond\(s\) lost",
                        result.stopped_reason)
    assert run_md(h2_gas(), repulsive, settings, tmp_path / "off", limits=StabilityLimits(max_temperature_factor=1e4, check_connectivity=False)).stopped_reason is None


def test_fused_molecules_stop_run(tmp_path):
    """Two H atoms of different molecules 1 Å apart attract each other (minimum at 0.56 Å) and bond."""
    atoms = Atoms("H2", positions=[[2.0, 2.0, 2.0], [3.0, 2.0, 2.0]], cell=[6.0, 6.0, 6.0], pbc=True)
    atoms.arrays["mol_id"] = np.array([0, 1])
    assert connectivity_problem(atoms, covalent_bonds(atoms)) is None
    settings = MDSettings(ensemble="nvt", temperature_K=10.0, n_steps=100, timestep_fs=1.0, log_interval=5, traj_interval=5)
    result = run_md(atoms, LennardJones(sigma=0.5, epsilon=0.1, rc=3.0), settings, tmp_path, limits=StabilityLimits(max_temperature_factor=1e4))
    assert 0 < result.stopped_step < 100
    assert re.fullmatch(r"fused molecules: mol_id 0 and 1 bonded through atoms 0 and 1 \(H–H 0\.\d\d Å\), 1 such bond\(s\)", result.stopped_reason)
    final = read_trajectory(result.traj_path)
    assert final["steps"][-1] == result.stopped_step
    assert np.linalg.norm(np.diff(final["positions"][-1], axis=0)) < 0.744 < np.linalg.norm(np.diff(final["positions"][-2], axis=0))


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
    assert connectivity_problem(broken, reference) == "broken molecule: mol_id 1 lost the bond between atoms 3 and 5 (O–H 1.59 Å), 1 bond(s) lost"

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
        run_md(atoms, ArgonLJ(), MDSettings(n_steps=10, **SETTINGS), tmp_path)


@pytest.mark.parametrize(
    "field, value",
    [
        ("ensemble", "nve"),
        ("n_steps", 0),
        ("n_steps", 10.5),
        ("equilibration_steps", -1),
        ("equilibration_steps", 2.5),
        ("timestep_fs", 0.0),
        ("timestep_fs", -1.0),
        ("temperature_K", 0.0),
        ("tdamp_fs", float("nan")),
        ("pdamp_fs", -5.0),
        ("log_interval", 0),
        ("traj_interval", -10),
        ("checkpoint_interval", 0),
        ("seed", -1),
        ("pressure_bar", float("inf")),
        ("pressure_bar", None),
    ],
)
def test_settings_validation_names_field(field, value):
    kwargs = dict(ensemble="npt", temperature_K=313.0, pressure_bar=1.0, n_steps=100)
    kwargs[field] = value
    with pytest.raises(ValueError, match=field):
        MDSettings(**kwargs)


def test_nvt_settings_take_no_pressure():
    with pytest.raises(ValueError, match="pressure_bar applies to NPT only"):
        MDSettings(ensemble="nvt", temperature_K=300.0, pressure_bar=1.0, n_steps=10)


@pytest.mark.parametrize(
    "field, value",
    [("max_force_eV_ang", 0.0), ("max_force_eV_ang", float("nan")), ("density_window_g_cm3", (2.0, 1.0)), ("max_temperature_factor", 1.0)],
)
def test_stability_limits_validation_names_field(field, value):
    with pytest.raises(ValueError, match=field):
        StabilityLimits(**{field: value})
