"""Train/valid/test splits and MACE-ready extended-XYZ files."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import write
from ase.stress import voigt_6_to_full_3x3_stress

ENERGY_KEY = "REF_energy"  # info key, eV
FORCES_KEY = "REF_forces"  # arrays key, eV/Å
STRESS_KEY = "REF_stress"  # info key, eV/Å^3, full 3x3

_SPLIT_SALTS = {"test": "mlipcamp-split-test", "valid": "mlipcamp-split-valid"}
# splits an empty split takes a structure from, in order of preference (test donates last)
_DONORS = {"test": ("train", "valid"), "valid": ("train", "test"), "train": ("valid", "test")}


def _hash_uniform(structure_hash: str, split: str) -> float:
    """Uniform number in [0, 1) derived from a structure hash, salted per split."""
    digest = hashlib.sha256(f"{_SPLIT_SALTS[split]}:{structure_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_by_hash(hashes: Sequence[str], valid_fraction: float, test_fraction: float) -> list[str]:
    """Assign each structure to 'train', 'valid' or 'test' from its own hash only.

    A structure is 'test' when its test-salted uniform number is below ``test_fraction``;
    otherwise 'valid' when its valid-salted number is below ``valid_fraction / (1 - test_fraction)``
    (so the expected valid share is ``valid_fraction``); otherwise 'train'. Test membership thus
    depends only on the hash and ``test_fraction``, never on which other structures are present.
    With at least 3 structures, an empty split (checked in the order test, valid, train) takes the
    structure closest to joining it by its salted number from a donor split holding more than one
    (train before valid/test); only sets too small to fill every split by chance depend on their neighbours.
    """
    if not (0.0 < valid_fraction < 1.0 and 0.0 < test_fraction < 1.0):
        raise ValueError(f"fractions must lie in (0, 1), got valid={valid_fraction}, test={test_fraction}")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(f"valid_fraction + test_fraction must be < 1, got {valid_fraction + test_fraction}")
    u_test = [_hash_uniform(h, "test") for h in hashes]
    u_valid = [_hash_uniform(h, "valid") for h in hashes]
    valid_threshold = valid_fraction / (1.0 - test_fraction)
    splits = [
        "test" if ut < test_fraction else "valid" if uv < valid_threshold else "train"
        for ut, uv in zip(u_test, u_valid)
    ]
    if len(splits) >= 3:
        closeness = {"test": u_test, "valid": u_valid, "train": [1.0 - u for u in u_valid]}
        for target in ("test", "valid", "train"):
            if target in splits:
                continue
            source = next(s for s in _DONORS[target] if splits.count(s) > 1)
            donors = [i for i, s in enumerate(splits) if s == source]
            splits[min(donors, key=lambda i: (closeness[target][i], hashes[i]))] = target
    return splits


def write_extxyz(
    structures: Sequence[Atoms],
    path: Path,
    energies_eV: Sequence[float],
    forces_eV_ang: Sequence[np.ndarray],
    stresses_eV_ang3: Sequence[np.ndarray | None] | None = None,
) -> Path:
    """Write labelled structures as MACE-ready extended XYZ and return ``path``.

    Energies (eV) go to ``info['REF_energy']``, forces (eV/Å) to ``arrays['REF_forces']``, stresses
    (eV/Å^3, 3x3 or Voigt-6; None for a structure without one) to ``info['REF_stress']`` as 3x3.
    No calculator results are written, so MACE reads only the REF_* labels.
    """
    n = len(structures)
    stresses = [None] * n if stresses_eV_ang3 is None else list(stresses_eV_ang3)
    if not (len(energies_eV) == len(forces_eV_ang) == len(stresses) == n):
        raise ValueError(
            f"got {n} structures, {len(energies_eV)} energies, {len(forces_eV_ang)} forces, {len(stresses)} stresses"
        )
    labelled = []
    for i, (atoms, energy, forces, stress) in enumerate(zip(structures, energies_eV, forces_eV_ang, stresses)):
        forces = np.asarray(forces, dtype=np.float64)
        if forces.shape != (len(atoms), 3):
            raise ValueError(f"structure {i}: forces shape {forces.shape}, expected ({len(atoms)}, 3)")
        if not (np.isfinite(energy) and np.isfinite(forces).all()):
            raise ValueError(f"structure {i}: non-finite energy or forces")
        out = atoms.copy()  # drops any calculator
        out.info.pop(STRESS_KEY, None)
        out.info[ENERGY_KEY] = float(energy)
        out.arrays[FORCES_KEY] = forces
        if stress is not None:
            stress = np.asarray(stress, dtype=np.float64)
            if stress.shape == (6,):
                stress = voigt_6_to_full_3x3_stress(stress)
            if stress.shape != (3, 3) or not np.isfinite(stress).all():
                raise ValueError(f"structure {i}: stress must be finite 3x3 or Voigt-6, got shape {stress.shape}")
            out.info[STRESS_KEY] = stress
        labelled.append(out)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, labelled, format="extxyz", write_results=False)
    return path
