"""float32 MD (``md.dtype``): a float64-trained MACE model evaluated in float32 keeps the NVE energy
as well as in float64 and gives the same NPT density within the statistical error.

The model is a small MACE fitted here to Lennard-Jones argon (tests/argon.py: energies, forces,
stresses of 32-atom fluid boxes), so the test owns a model that holds a dense fluid under a barostat.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from argon import FastArgon
from ase import units
from ase.build import bulk
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

from mlipcamp.science.analysis.density import SeriesStats, equilibrated_mean
from mlipcamp.science.datasets import write_extxyz
from mlipcamp.science.mace_calculator import mace_calculator
from mlipcamp.science.md import MolecularDynamics, read_md_log, run_md
from mlipcamp.science.training.mace import train_mace
from mlipcamp.science.training.settings import MaceHyperparameters

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _torch_default_dtype():
    """MACE's calculator sets torch's default dtype for the process: give the next test back its own."""
    import torch

    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)


TEMPERATURE_K, PRESSURE_BAR = 140.0, 1000.0  # compressed liquid argon (this model: about 1.2 g/cm³)
ARGON_MASS_G = 39.948 / units.mol


def argon_fluid(density_g_cm3: float) -> object:
    """32 argon atoms on an fcc lattice scaled to ``density_g_cm3``, with one molecule per atom."""
    atoms = bulk("Ar", "fcc", a=5.6, cubic=True).repeat(2)
    volume_cm3 = len(atoms) * ARGON_MASS_G / density_g_cm3
    atoms.set_cell(atoms.cell * (volume_cm3 * 1e24 / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
    atoms.arrays["mol_id"] = np.arange(len(atoms))
    return atoms


@pytest.fixture(scope="module")
def argon_model(tmp_path_factory):
    """A float64 MACE fitted to LJ argon frames from Langevin MD at 1.1-1.6 g/cm³ and 80-160 K;
    returns the model file and a 1.4 g/cm³ fluid box from the 100 K run."""
    work = tmp_path_factory.mktemp("argon")
    rng = np.random.default_rng(0)
    frames, energies, forces, stresses = [], [], [], []
    for density, temperature in [(1.1, 160.0), (1.25, 130.0), (1.4, 100.0), (1.5, 100.0), (1.6, 80.0)]:
        atoms = argon_fluid(density)
        atoms.calc = FastArgon()
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        dynamics = Langevin(atoms, 5 * units.fs, temperature_K=temperature, friction=0.01, rng=rng)
        dynamics.run(400)  # melt the lattice
        for _ in range(16):
            dynamics.run(25)
            frames.append(atoms.copy())
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
            stresses.append(atoms.get_stress(voigt=False))
        if density == 1.4:
            liquid = atoms.copy()
    order = rng.permutation(len(frames))
    split = {"train": order[:64], "valid": order[64:]}
    paths = {
        name: write_extxyz(
            [frames[i] for i in index],
            [energies[i] for i in index],
            [forces[i] for i in index],
            [stresses[i] for i in index],
            path=work / f"{name}.xyz",
        )
        for name, index in split.items()
    }
    settings = MaceHyperparameters(
        num_channels=8,
        r_max=5.0,
        max_num_epochs=20,
        batch_size=4,
        loss="stress",
        compute_stress=True,
        stress_weight=1e5,
    )
    result = train_mace(paths["train"], paths["valid"], settings, 1, {18: 0.0}, work / "training", "cpu", 2)
    return result.model_path, liquid


def both_dtypes(function, *args) -> dict[str, object]:
    """``function(dtype, *args)`` for float64 and float32, each in its own new process, side by side."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {dtype: pool.submit(function, dtype, *args) for dtype in ("float64", "float32")}
        return {dtype: future.result() for dtype, future in futures.items()}


def nve_energies_per_atom(dtype: str, model, liquid, steps: int, every: int) -> np.ndarray:
    """Total energy per atom (eV) every ``every`` Velocity Verlet steps of 5 fs from ``liquid`` at 140 K."""
    atoms = liquid.copy()
    atoms.calc = mace_calculator(model, "cpu", dtype, n_threads=1)
    MaxwellBoltzmannDistribution(atoms, temperature_K=TEMPERATURE_K, rng=np.random.default_rng(1))
    Stationary(atoms)
    dynamics = VelocityVerlet(atoms, 5 * units.fs)
    energies = []
    dynamics.attach(lambda: energies.append(atoms.get_total_energy() / len(atoms)), interval=every)
    dynamics.run(steps)
    return np.array(energies)


def npt_density(dtype: str, model, liquid, md: dict, work_dir) -> SeriesStats:
    """The equilibrated mean density (g/cm³) of ``run_md`` in NPT at 140 K and 1000 bar from ``liquid``,
    run in ``work_dir/dtype``."""
    out_dir = work_dir / dtype
    calculator = mace_calculator(model, "cpu", dtype, n_threads=1)
    run_md(liquid, calculator, MolecularDynamics(**md, dtype=dtype), TEMPERATURE_K, PRESSURE_BAR, out_dir)
    return equilibrated_mean(read_md_log(out_dir / "md_log.csv")["density_g_cm3"])


def test_float32_nve_keeps_the_energy_as_float64_does(argon_model):
    """Velocity Verlet at 5 fs for 3 ps: the total-energy drift per atom of the float32 run differs
    from the float64 run's by less than the energy's own fluctuation over the run (measured here:
    drifts of -6.3e-5 and -7.1e-5 meV/atom/ps, fluctuation 1.0e-3 meV/atom)."""
    model, liquid = argon_model
    drift, spread = {}, {}
    for dtype, energy in both_dtypes(nve_energies_per_atom, model, liquid, 600, 10).items():
        time_ps = np.arange(len(energy)) * 0.05
        drift[dtype] = np.polyfit(time_ps, energy, 1)[0] * 1e3  # meV/atom/ps
        spread[dtype] = np.std(energy) * 1e3  # meV/atom
    print(f"NVE drift meV/atom/ps {drift}, total-energy spread meV/atom {spread}")
    assert abs(drift["float64"]) * 3 < 1.0  # the model conserves energy at all: < 1 meV/atom over 3 ps
    assert abs(drift["float32"] - drift["float64"]) * 3 < max(spread.values())


def test_float32_npt_density_matches_float64_within_error(argon_model, tmp_path):
    """NPT at 140 K and 1000 bar for 10 ps: the equilibrated mean densities of the float32 and float64
    runs agree within three combined standard errors, and both are converged liquids (measured
    here: 1.270 ± 0.012 and 1.242 ± 0.010 g/cm³)."""
    model, liquid = argon_model
    md = {
        "n_molecules": len(liquid),
        "timestep": 5.0,
        "n_steps": 2000,
        "thermostat_damping": 500.0,
        "barostat_damping": 1000.0,
        "log_interval": 10,
        "trajectory_interval": 500,
        "seed": 3,
        "stability": {"check_connectivity": False},
    }
    density = both_dtypes(npt_density, model, liquid, md, tmp_path)
    print({dtype: (s.mean, s.sem, s.n_effective) for dtype, s in density.items()})
    assert all(s.converged and 1.0 < s.mean < 1.5 for s in density.values())
    difference = abs(density["float32"].mean - density["float64"].mean)
    assert difference < 3 * np.hypot(density["float32"].sem, density["float64"].sem)
