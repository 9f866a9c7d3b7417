"""NPT MD on a small Lennard-Jones argon box (each atom its own molecule)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from tasks.md import LOG_COLUMNS, NPTSettings, read_md_log, read_trajectory, run_npt

SETTINGS = dict(temperature_K=90.0, pressure_bar=1.0, timestep_fs=5.0, tdamp_fs=100.0, pdamp_fs=500.0)


def argon_box():
    atoms = bulk("Ar", "fcc", a=5.6, cubic=True).repeat(2)  # 32 atoms, expanded lattice (eq. ≈ 5.3 Å)
    atoms.arrays["mol_id"] = np.arange(len(atoms))
    return atoms


def lj_argon():
    return LennardJones(sigma=3.405, epsilon=0.0103, rc=8.5, smooth=True)


def atoms_temperature_from_seed(settings: NPTSettings) -> float:
    """Temperature (K) of the Maxwell–Boltzmann draw run_npt makes, recomputed independently."""
    atoms = argon_box()
    MaxwellBoltzmannDistribution(atoms, temperature_K=settings.temperature_K, rng=np.random.default_rng(settings.seed))
    Stationary(atoms)
    return atoms.get_temperature()


@pytest.fixture(scope="module")
def lj_run(tmp_path_factory):
    atoms = argon_box()
    calls = []
    settings = NPTSettings(n_steps=200, log_interval=10, traj_interval=25, seed=3, **SETTINGS)
    result = run_npt(atoms, lj_argon(), settings, tmp_path_factory.mktemp("lj"), progress=lambda *a: calls.append(a))
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
    assert result.n_steps_done == 200
    assert result.steps_per_s > 0 and result.ns_per_day == pytest.approx(result.steps_per_s * 5e-6 * 86400)


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
    assert np.all(np.isfinite(traj["positions"]))
    # cells match the logged volumes at the shared steps (every 50 steps)
    log = read_md_log(result.log_path)
    shared = np.isin(log["step"], traj["steps"])
    np.testing.assert_allclose(np.linalg.det(traj["cells"][np.isin(traj["steps"], log["step"])]), log["volume_ang3"][shared], rtol=1e-8)
    assert calls[-1] == (200, 200) and [c[0] for c in calls] == sorted({*range(10, 201, 10), *range(25, 201, 25)})


def test_same_seed_reproduces_trajectory(tmp_path):
    short = dict(n_steps=60, log_interval=20, traj_interval=20, **SETTINGS)
    runs = [
        run_npt(argon_box(), lj_argon(), NPTSettings(seed=seed, **short), tmp_path / name)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    ]
    a, b, c = (read_trajectory(r.traj_path) for r in runs)
    np.testing.assert_array_equal(a["positions"], b["positions"])
    np.testing.assert_array_equal(a["cells"], b["cells"])
    assert runs[0].log_path.read_text() == runs[1].log_path.read_text()
    assert not np.allclose(a["positions"][-1], c["positions"][-1])


def test_mol_id_required(tmp_path):
    atoms = argon_box()
    del atoms.arrays["mol_id"]
    with pytest.raises(ValueError, match="mol_id"):
        run_npt(atoms, lj_argon(), NPTSettings(n_steps=10, **SETTINGS), tmp_path)


@pytest.mark.parametrize(
    "field, value",
    [
        ("n_steps", 0),
        ("n_steps", 10.5),
        ("timestep_fs", 0.0),
        ("timestep_fs", -1.0),
        ("temperature_K", 0.0),
        ("tdamp_fs", float("nan")),
        ("pdamp_fs", -5.0),
        ("log_interval", 0),
        ("traj_interval", -10),
        ("seed", -1),
        ("pressure_bar", float("inf")),
    ],
)
def test_settings_validation_names_field(field, value):
    kwargs = dict(temperature_K=313.0, pressure_bar=1.0, n_steps=100)
    kwargs[field] = value
    with pytest.raises(ValueError, match=field):
        NPTSettings(**kwargs)
