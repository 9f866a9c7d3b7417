"""The stability watch: at each log step, whether the run has broken (non-finite values, huge
forces, a density outside its window, a temperature runaway, broken or fused molecules)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list

from mlipcamp.science.md.settings import Stability

BOND_RADIUS_FACTOR = 1.2  # covalent bond of the starting structure: distance < 1.2 × (sum of covalent radii)
BROKEN_RADIUS_FACTOR = 1.6  # such a bond is broken beyond 1.6 × (sum): thermal stretches stay well inside
FUSED_RADIUS_FACTOR = 1.0  # atoms of two molecules closer than the sum of their covalent radii have bonded


class StabilityWatch:
    """The limits of ``Stability`` for a run at ``temperature_K`` that started from ``start``
    (with ``arrays['mol_id']``); the density window applies when ``check_density`` (NPT)."""

    def __init__(self, limits: Stability, temperature_K: float, check_density: bool, start: Atoms):
        self.limits, self.temperature_K, self.check_density = limits, temperature_K, check_density
        self.reference_bonds = covalent_bonds(start) if limits.check_connectivity else None

    def problem(self, atoms: Atoms, observables: Mapping[str, float]) -> str | None:
        """What is wrong with ``atoms`` given its logged ``observables`` (``temperature_K``,
        ``density_g_cm3`` …), or None."""
        forces = atoms.get_forces()
        bad = [name for name, value in observables.items() if not np.isfinite(value)]
        if not np.isfinite(forces).all():
            bad.append(f"forces on atoms {np.flatnonzero(~np.isfinite(forces).all(axis=1)).tolist()}")
        if bad:
            return f"non-finite values: {', '.join(bad)}"
        limits, force = self.limits, np.linalg.norm(forces, axis=1)
        if force.max() > limits.max_force:
            return f"force {force.max():.3g} eV/Å on atom {force.argmax()} exceeds {limits.max_force:g} eV/Å"
        low, high = limits.density_window
        density = observables["density_g_cm3"]
        if self.check_density and not low <= density <= high:
            return f"density {density:.4g} g/cm³ outside [{low:g}, {high:g}] g/cm³"
        temperature, target = observables["temperature_K"], self.temperature_K
        if temperature > limits.max_temperature_factor * target:
            return f"temperature runaway: {temperature:.4g} K > {limits.max_temperature_factor:g} × {target:g} K"
        return connectivity_problem(atoms, self.reference_bonds) if limits.check_connectivity else None


def covalent_bonds(atoms: Atoms, factor: float = BOND_RADIUS_FACTOR) -> np.ndarray:
    """Atom pairs (i < j), shape (n, 2), closer than ``factor`` × the sum of their covalent radii
    (minimum image)."""
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=factor))
    return np.unique(np.stack([i, j], axis=1)[i < j], axis=0).reshape(-1, 2)


def connectivity_problem(atoms: Atoms, reference_bonds: np.ndarray) -> str | None:
    """Atoms of different ``mol_id`` closer than the sum of their covalent radii (fused molecules),
    or a bond of ``reference_bonds`` within a molecule stretched beyond BROKEN_RADIUS_FACTOR × that
    sum (broken molecule), described; else None. The gap between the factors keeps thermal
    stretches and close intermolecular contacts from counting."""
    mol_id = np.asarray(atoms.arrays["mol_id"])
    close = covalent_bonds(atoms, FUSED_RADIUS_FACTOR)
    fused = close[mol_id[close[:, 0]] != mol_id[close[:, 1]]]
    if len(fused):
        i, j = fused[0]
        return (
            f"fused molecules: mol_id {mol_id[i]} and {mol_id[j]} bonded through atoms {i} and {j} "
            f"({_pair(atoms, i, j)}), {len(fused)} such bond(s)"
        )
    n = len(atoms)
    intramolecular = reference_bonds[mol_id[reference_bonds[:, 0]] == mol_id[reference_bonds[:, 1]]]
    bonds = covalent_bonds(atoms, BROKEN_RADIUS_FACTOR)
    lost = intramolecular[~np.isin(intramolecular @ [n, 1], bonds @ [n, 1])]
    if len(lost):
        i, j = lost[0]
        return f"broken molecule: mol_id {mol_id[i]} lost the bond between atoms {i} and {j} ({_pair(atoms, i, j)}), {len(lost)} bond(s) lost"
    return None


def _pair(atoms: Atoms, i: int, j: int) -> str:
    return f"{atoms.symbols[i]}–{atoms.symbols[j]} {atoms.get_distance(i, j, mic=True):.2f} Å"
