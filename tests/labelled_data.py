"""Labelled EC data for tests that import datasets: clusters and periodic snapshots labelled with
ASE's EMT (smooth, fast, defined for H, C and O: labels a MACE model can learn, not chemistry),
and MACE-style isolated-atom frames (``config_type=IsolatedAtom``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT

from mlipcamp.science.datasets import ISOLATED_ATOM, write_extxyz
from mlipcamp.science.structures import build_box, cut_clusters

EC = "C1COC(=O)O1"


def ec_structures(kind: str, n: int, seed: int) -> list[Atoms]:
    """``n`` distinct EC clusters of 1–3 molecules, or periodic boxes of 4 molecules, all rattled."""
    rng = np.random.default_rng(seed)
    box = build_box([(EC, 4)], 1.32, seed=seed)
    structures = cut_clusters(box, (1, 3), n, rng) if kind == "cluster" else [box.copy() for _ in range(n)]
    for structure in structures:  # rattled: no two alike
        structure.positions += rng.normal(0.0, 0.05, structure.positions.shape)
    return structures


def isolated_atoms() -> list[Atoms]:
    """One free H, C and O atom each, tagged as mace-torch expects."""
    atoms = [Atoms(symbol, positions=[[0.0, 0.0, 0.0]]) for symbol in ("H", "C", "O")]
    for atom in atoms:
        atom.info["config_type"] = ISOLATED_ATOM
    return atoms


def write_labelled(path: Path, structures: list[Atoms], energy_shift_eV: float = 0.0) -> Path:
    """``structures`` labelled with EMT (plus ``energy_shift_eV`` per atom) as MACE-ready extxyz."""
    energies, forces = [], []
    for atoms in structures:
        labelled = atoms.copy()
        labelled.calc = EMT()
        energies.append(labelled.get_potential_energy() + energy_shift_eV * len(atoms))
        forces.append(labelled.get_forces())
    return write_extxyz(structures, energies, forces, path=path)


def ec_dataset(path: Path, kind: str, n: int, seed: int, with_atoms: bool = False) -> Path:
    """A labelled EC file of one kind, with isolated atoms in front if asked."""
    return write_labelled(path, (isolated_atoms() if with_atoms else []) + ec_structures(kind, n, seed))
