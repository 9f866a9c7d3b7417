"""psi4 backend: molecular DFT energies and analytic gradients through psi4's Python API.

Used only where ``import psi4`` works (psi4 is distributed through conda only). Unlike the PySCF
backend, psi4 applies the dispersion correction itself: the level's ``method`` is psi4's own
functional name including the dispersion suffix (``pbe-d3bj``, ``pbe-d2``, ``b97-d3bj``,
``wb97x-d3``; psi4's ``-d3bj``/``-d3zero`` are the two-body forms, like the PySCF levels').
The level's ``settings['options']`` are passed to ``psi4.set_options`` unchanged. Molecules only.
"""

from __future__ import annotations

import os
import re

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols
from ase.units import Bohr, Hartree

from mlipcamp.science.qm.backend import LabelFailure, unpaired_electrons
from mlipcamp.science.qm.levels import LevelOfTheory, periodic_refusal

try:
    import psi4
except ImportError:  # conda-only; get_level('...@psi4') already refuses without it
    psi4 = None

supports_periodic = False

SETTINGS = frozenset({"options"})
# psi4 memory for each calculation; does not change the numbers, so it is not part of the level
MEMORY = os.environ.get("MLIPCAMP_PSI4_MEMORY", "2 GB")

_NOT_CONVERGED = re.compile(r"Could not converge SCF iterations in (\d+) iterations")


def make_calculator(level: LevelOfTheory, charge: int = 0, multiplicity: int = 1) -> Psi4Calculator:
    """psi4 calculator for ``level`` (total charge in e, spin multiplicity 2S+1)."""
    if psi4 is None:
        raise ValueError("psi4 is conda-only and not installed (conda install -c conda-forge psi4)")
    unknown = sorted(set(level.settings) - SETTINGS)
    if unknown:
        raise ValueError(f"level {level.name!r}: unknown psi4 settings {unknown}; known: {sorted(SETTINGS)}")
    if not level.basis:
        raise ValueError(f"level {level.name!r}: a psi4 DFT level needs a basis")
    if multiplicity < 1:
        raise ValueError(f"multiplicity must be >= 1, got {multiplicity}")
    return Psi4Calculator(level, charge=charge, multiplicity=multiplicity)


def known_failure(exc: Exception) -> str | None:
    """One-line reason for a psi4 failure this backend recognises, else None."""
    if type(exc).__name__ == "SCFConvergenceError":
        iteration = getattr(exc, "iteration", None)
        if iteration is not None:
            return f"SCF not converged after {iteration} cycles"
    match = _NOT_CONVERGED.search(str(exc))
    if match:
        return f"SCF not converged after {match.group(1)} cycles"
    return None


def _openmp_threads() -> int:
    """The OpenMP thread limit in force (threadpoolctl's, as set by label_structures)."""
    from threadpoolctl import threadpool_info

    limits = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"]
    return min(limits) if limits else (os.cpu_count() or 1)


class Psi4Calculator(Calculator):
    """ASE calculator running one psi4 gradient per geometry (eV, eV/Å)."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, level: LevelOfTheory, charge: int = 0, multiplicity: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.level = level
        self.charge = int(charge)
        self.multiplicity = int(multiplicity)

    def calculate(self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if np.any(atoms.pbc):
            raise ValueError(periodic_refusal("psi4"))
        unpaired = unpaired_electrons(atoms.numbers, self.charge, self.multiplicity)
        lines = [f"{self.charge} {self.multiplicity}"]
        lines += [
            f"{chemical_symbols[z]} {x:.10f} {y:.10f} {z_:.10f}"
            for z, (x, y, z_) in zip(atoms.numbers, atoms.positions, strict=True)
        ]
        # keep psi4 in the caller's frame so the gradient rows match the atoms
        lines += ["units angstrom", "no_com", "no_reorient", "symmetry c1"]
        psi4.core.clean()
        psi4.core.clean_options()
        psi4.core.be_quiet()
        psi4.set_memory(MEMORY)
        psi4.set_num_threads(_openmp_threads())
        molecule = psi4.geometry("\n".join(lines))
        options = {
            **self.level.settings.get("options", {}),
            "basis": self.level.basis,
            "reference": "rks" if unpaired == 0 else "uks",
        }
        psi4.set_options(options)
        try:
            gradient, wfn = psi4.gradient(self.level.method, molecule=molecule, return_wfn=True)
            energy = float(wfn.energy())  # Hartree, dispersion included
            de = np.array(gradient.np if hasattr(gradient, "np") else gradient)  # Hartree/Bohr
        finally:
            psi4.core.clean()
        if de.shape != (len(atoms), 3):
            raise LabelFailure(f"psi4 returned a gradient of shape {de.shape} for {len(atoms)} atoms")
        self.results["energy"] = self.results["free_energy"] = energy * Hartree
        self.results["forces"] = -de * (Hartree / Bohr)
