"""Label structures with a level of theory: energy (eV), forces (eV/Å), stress (eV/Å³)."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from threadpoolctl import threadpool_limits

from mlipcamp.science.provenance import where
from mlipcamp.science.qm.backend import Backend, LabelFailure
from mlipcamp.science.qm.levels import LevelOfTheory, periodic_refusal

# Values of LevelOfTheory.code. The backend of code C is the module ``C_backend`` of this package,
# implementing the Backend protocol; it is imported on first use, so optional codes only need to be
# installed where they are used.
BACKEND_CODES = ("tblite", "xtb", "pyscf", "psi4", "ase")


@dataclass
class LabelResult:
    """Outcome of one single point; arrays are None when not ok (stress also for non-periodic cells)."""

    ok: bool
    energy_eV: float | None
    forces_eV_ang: np.ndarray | None  # (n_atoms, 3), eV/Å
    stress_eV_ang3: np.ndarray | None  # Voigt (xx, yy, zz, yz, xz, xy), ASE sign, eV/Å³
    error: str | None
    wall_time_s: float
    host: str


def get_backend(code: str) -> Backend:
    """Backend module for ``LevelOfTheory.code``; importing it loads the code's native libraries."""
    if code == "declared":
        raise ValueError("a declared level names labels imported from elsewhere; no backend computes it")
    if code not in BACKEND_CODES:
        raise ValueError(f"no QM backend for code {code!r}; known: {', '.join(sorted(BACKEND_CODES))}")
    backend: Backend = importlib.import_module(f".{code}_backend", __package__)  # type: ignore[assignment]
    return backend


def supports_periodic(level: LevelOfTheory) -> bool:
    """Whether ``level``'s backend can label periodic cells."""
    declared = getattr(get_backend(level.code), "supports_periodic", True)
    return bool(declared(level) if callable(declared) else declared)


def check_level_supports(level: LevelOfTheory, periodic: bool) -> None:
    """Raise ValueError if ``periodic`` cells are planned and ``level``'s backend cannot label them.

    Lets a campaign refuse before any compute; compute_label itself reports such a structure
    as a failed label.
    """
    if periodic and not supports_periodic(level):
        raise ValueError(f"level {level.name!r}: {periodic_refusal(level.code)}")


def make_calculator(level: LevelOfTheory, charge: int = 0, multiplicity: int = 1) -> Calculator:
    """ASE calculator for ``level`` (total charge in e, spin multiplicity 2S+1)."""
    return get_backend(level.code).make_calculator(level, charge=charge, multiplicity=multiplicity)


def compute_label(atoms: Atoms, level: LevelOfTheory) -> LabelResult:
    """Single point on ``atoms``: energy (eV), forces (eV/Å) and, if fully periodic, stress (eV/Å³).

    Charge and multiplicity come from ``atoms.info`` ('charge', default 0; 'multiplicity',
    default 1). A failed or non-finite calculation, or a periodic cell given to a molecules-only
    backend, gives ``ok=False`` with a one-line reason; only configuration errors (unknown code,
    settings the backend does not know) raise.
    """
    backend = get_backend(level.code)
    calc = backend.make_calculator(
        level,
        charge=int(atoms.info.get("charge", 0)),
        multiplicity=int(atoms.info.get("multiplicity", 1)),
    )
    if np.any(atoms.pbc) and not supports_periodic(level):  # per structure: a failed label
        return LabelResult(False, None, None, None, periodic_refusal(level.code), 0.0, where())
    # a bare copy: no constraints, initial charges/magmoms or calculator of the caller's atoms
    work = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    work.calc = calc
    periodic = bool(np.all(atoms.pbc))
    host = where()
    start = time.perf_counter()
    try:
        energy = float(work.get_potential_energy())
        forces = np.asarray(work.get_forces(), dtype=np.float64)
        stress = np.asarray(work.get_stress(voigt=True), dtype=np.float64) if periodic else None
    except Exception as exc:  # any backend failure becomes a failed label, never an exception
        known = getattr(backend, "known_failure", None)
        reason = str(exc) if isinstance(exc, LabelFailure) else (known and known(exc)) or _one_line(exc)
        return LabelResult(False, None, None, None, reason, time.perf_counter() - start, host)
    wall = time.perf_counter() - start
    reason = _non_finite_reason(energy, forces, stress)
    if reason is not None:
        return LabelResult(False, None, None, None, reason, wall, host)
    return LabelResult(True, energy, forces, stress, None, wall, host)


def label_structures(
    structures: Sequence[Atoms],
    level: LevelOfTheory,
    n_threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[LabelResult]:
    """:func:`compute_label` for each structure, with OpenMP/BLAS limited to ``n_threads``.

    ``progress(done, total)`` is called after each structure.
    """
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    get_backend(level.code)  # load the native libraries first so the thread limit reaches them
    total = len(structures)
    results: list[LabelResult] = []
    with threadpool_limits(limits=n_threads):
        for done, atoms in enumerate(structures, start=1):
            results.append(compute_label(atoms, level))
            if progress is not None:
                progress(done, total)
    return results


def _one_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _non_finite_reason(energy: float, forces: np.ndarray, stress: np.ndarray | None) -> str | None:
    if not np.isfinite(energy):
        return f"non-finite energy ({energy})"
    bad_atoms = int(np.count_nonzero(~np.isfinite(forces).all(axis=1)))
    if bad_atoms:
        return f"non-finite forces on {bad_atoms} atoms"
    if stress is not None and not np.isfinite(stress).all():
        return "non-finite stress"
    return None
