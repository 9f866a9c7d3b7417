"""Sampling liquid configurations with Langevin NVT molecular dynamics."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import BaseCalculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta


def sample_liquid(
    box: Atoms,
    calculator: BaseCalculator,
    temperature_K: float,
    n_steps: int,
    timestep_fs: float,
    interval: int,
    seed: int,
    friction_per_fs: float = 0.01,
    progress: Callable[[int, int], None] | None = None,
) -> list[Atoms]:
    """Langevin NVT run (K, fs, 1/fs) from ``box`` with velocities drawn from Maxwell-Boltzmann.

    The centre of mass is held at rest (ase FixCom). Initial velocities and Langevin noise
    both come from ``np.random.default_rng(seed)``, so a run is reproducible.
    Returns a snapshot after every ``interval`` steps (step 0 excluded; steps after the last
    multiple of ``interval`` are not run): copies with positions wrapped into the cell, the
    constraints and arrays of ``box`` (mol_id, species_id…) kept plus momenta,
    ``info['sample_step']`` and ``info['temperature_K']``, and a SinglePointCalculator holding
    what the MD's potential computed there anyway (energy eV, unconstrained forces eV/Å, and
    stress eV/Å³ when it gave one): a label at no cost when the potential is a level of theory.
    ``progress(step_done, n_steps)`` is called after each snapshot. ``box`` is not modified.
    """
    if len(box) == 0:
        raise ValueError("cannot run MD on an empty structure")
    if not temperature_K > 0:
        raise ValueError(f"temperature must be positive (K), got {temperature_K}")
    if not timestep_fs > 0:
        raise ValueError(f"timestep must be positive (fs), got {timestep_fs}")
    if not friction_per_fs > 0:
        raise ValueError(f"Langevin friction must be positive (1/fs), got {friction_per_fs}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if not 1 <= interval <= n_steps:
        raise ValueError(f"interval must be between 1 and n_steps={n_steps}, got {interval}")

    rng = np.random.default_rng(seed)
    atoms = box.copy()
    atoms.set_constraint([*atoms.constraints, FixCom()])  # the MB momenta and MD keep the COM at rest
    atoms.calc = calculator
    thermalize_momenta(atoms, temperature_K, rng=rng)
    dynamics = Langevin(
        atoms,
        timestep=timestep_fs * units.fs,
        temperature_K=temperature_K,
        friction=friction_per_fs / units.fs,
        fixcm=False,  # ASE >= 3.28: FixCom instead of the deprecated fixcm
        rng=rng,
    )

    snapshots = []
    for step in range(interval, n_steps + 1, interval):
        dynamics.run(interval)
        snapshot = atoms.copy()
        snapshot.set_constraint(copy.deepcopy(box.constraints))
        snapshot.wrap()
        if not atoms.calc.check_state(atoms):  # results are for these positions (wrapping changes none)
            results = {k: v for k, v in atoms.calc.results.items() if k in ("energy", "forces", "stress")}
            snapshot.calc = SinglePointCalculator(snapshot, **results)
        snapshot.info["sample_step"] = step
        snapshot.info["temperature_K"] = temperature_K
        snapshots.append(snapshot)
        if progress is not None:
            progress(step, n_steps)
    return snapshots
