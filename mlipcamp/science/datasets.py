"""Train/valid/test splits, MACE-ready extended-XYZ files and user-supplied labelled datasets."""

from __future__ import annotations

import hashlib
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.io import read, write
from ase.stress import voigt_6_to_full_3x3_stress

from mlipcamp.science.structures.molecules import checked_mol_ids, molecule_ids

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
    ``test_fraction`` 0 holds no structure out for testing (the models are tested on imported sets).
    """
    if not (0.0 < valid_fraction < 1.0 and 0.0 <= test_fraction < 1.0):
        raise ValueError(
            f"fractions must lie in (0, 1) ([0, 1) for test), got valid={valid_fraction}, test={test_fraction}"
        )
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(f"valid_fraction + test_fraction must be < 1, got {valid_fraction + test_fraction}")
    u_test = [_hash_uniform(h, "test") for h in hashes]
    u_valid = [_hash_uniform(h, "valid") for h in hashes]
    valid_threshold = valid_fraction / (1.0 - test_fraction)
    splits = [
        "test" if ut < test_fraction else "valid" if uv < valid_threshold else "train"
        for ut, uv in zip(u_test, u_valid, strict=True)
    ]
    if len(splits) >= 3:
        closeness = {"test": u_test, "valid": u_valid, "train": [1.0 - u for u in u_valid]}
        for target in ("test", "valid", "train") if test_fraction > 0 else ("valid", "train"):
            if target in splits:
                continue
            source = next(s for s in _DONORS[target] if splits.count(s) > 1)
            donors = [i for i, s in enumerate(splits) if s == source]
            splits[min(donors, key=lambda i: (closeness[target][i], hashes[i]))] = target
    return splits


def check_subset_request(n_pool: int, size: int | None, replica: int) -> None:
    """Refuse a negative replica number or a subset size outside (0, n_pool] (None means the whole pool)."""
    if replica < 0:
        raise ValueError(f"subset replica must be >= 0, got {replica}")
    if size is not None and not 0 < size <= n_pool:
        raise ValueError(
            f"asked for {size} training structures, but only {n_pool} are labelled and outside the "
            "fixed test and validation sets"
        )


def select_subset(n_pool: int, size: int | None, replica: int) -> list[int]:
    """Indices (sorted) of a training subset drawn from a pool of ``n_pool`` structures in hash order.

    ``size`` None takes the whole pool. Otherwise the subset is the first ``size`` entries of a
    permutation drawn with ``numpy.random.default_rng(replica)``: reproducible from the replica
    number, different between replicas, and nested across sizes for one replica (a learning
    curve adds structures, never swaps them).
    """
    check_subset_request(n_pool, size, replica)
    if size is None:
        return list(range(n_pool))
    order = np.random.default_rng(replica).permutation(n_pool)
    return sorted(int(i) for i in order[:size])


def write_extxyz(
    structures: Sequence[Atoms],
    energies_eV: Sequence[float],
    forces_eV_ang: Sequence[np.ndarray],
    stresses_eV_ang3: Sequence[np.ndarray | None] | None = None,
    *,
    path: Path,
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
    for i, (atoms, energy, forces, stress) in enumerate(
        zip(structures, energies_eV, forces_eV_ang, stresses, strict=True)
    ):
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


# ---------------------------------------------------------------- user-supplied labelled datasets

ENERGY_UNITS = {"eV": 1.0, "Hartree": units.Hartree, "kcal/mol": units.kcal / units.mol, "kJ/mol": units.kJ / units.mol}
LENGTH_UNITS = {"Å": 1.0, "Bohr": units.Bohr}  # "Å" is U+00C5 (what ase.units and the docs use)
KINDS = ("isolated_atom", "molecule", "cluster", "periodic")
DATA_KINDS = ("cluster", "periodic")  # what models are trained on; a lone molecule is a 1-molecule cluster
ISOLATED_ATOM = "IsolatedAtom"  # mace-torch's config_type of a free-atom reference frame (its E0)
_STRESS_ASYMMETRY_TOL = 1e-3  # |s - s^T| allowed, relative to max |s|: numerical noise, not a misread


def training_kind(structure_kind: str) -> str | None:
    """The data kind a structure of ``structure_kind`` trains as: a lone molecule is a 1-molecule
    cluster; an isolated atom is a reference energy, never training data (None)."""
    if structure_kind == "isolated_atom":
        return None
    return "cluster" if structure_kind == "molecule" else structure_kind


class DatasetFormatError(ValueError):
    """A labelled dataset file that cannot be used; the message names the file, the frame and the problem.

    ``path``, ``frame`` (0-based index, None for a problem with the whole file) and ``problem``
    are kept as attributes.
    """

    def __init__(self, path: str | Path, frame: int | None, problem: str):
        self.path, self.frame, self.problem = Path(path), frame, problem
        where = f"{self.path}" if frame is None else f"{self.path}, frame {frame} (0-based)"
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):  # picklable despite the 3-argument constructor
        return (type(self), (self.path, self.frame, self.problem))


@dataclass(eq=False)
class LabelledStructure:
    """One labelled structure in eV/Å units.

    ``atoms`` has no calculator, an integer ``arrays['mol_id']`` and no label keys in its info/arrays;
    ``stress_eV_ang3`` is Voigt-6 (xx yy zz yz xz xy, ASE sign convention) or None; ``kind`` is
    'isolated_atom' (one non-periodic atom: a reference energy, never training data), 'molecule'
    (non-periodic, 1 molecule), 'cluster' (non-periodic, >1 molecule) or 'periodic'.
    """

    atoms: Atoms
    energy_eV: float
    forces_eV_ang: np.ndarray
    stress_eV_ang3: np.ndarray | None
    kind: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


def _unit_factor(table: dict[str, float], unit: str, what: str) -> float:
    unit = unicodedata.normalize("NFC", unit)  # the Angstrom sign U+212B becomes U+00C5
    if unit not in table:
        raise ValueError(f"unknown {what} unit {unit!r}; known: {', '.join(table)}")
    return table[unit]


def _label(atoms: Atoms, key: str, per_atom: bool) -> Any | None:
    """Value stored under ``key``: atoms.arrays (per atom) or atoms.info (per frame), else the
    SinglePointCalculator results ase builds from the names energy/forces/stress/...; None if absent."""
    store = atoms.arrays if per_atom else atoms.info
    if key in store:
        return store[key]
    if atoms.calc is not None and key in getattr(atoms.calc, "results", {}):
        return atoms.calc.results[key]
    return None


def _keys_present(atoms: Atoms) -> str:
    info = sorted(atoms.info)
    arrays = sorted(k for k in atoms.arrays if k not in ("numbers", "positions"))
    calc = sorted(getattr(atoms.calc, "results", {})) if atoms.calc is not None else []
    return (
        f"keys present: per-frame (info) {info}, per-atom (arrays) {arrays}, "
        f"calculator results (ase's names energy/forces/stress/...) {calc}"
    )


def _as_float_array(value: Any) -> np.ndarray | None:
    if isinstance(value, (str, bytes, bool, np.bool_)):
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array


def _stress_voigt(value: Any) -> tuple[np.ndarray | None, str]:
    """Voigt-6 stress from Voigt-6, 3x3 or 9 values (row-major); (None, reason) if unusable."""
    stress = _as_float_array(value)
    if stress is None:
        return None, f"is not numeric: {value!r}"
    if stress.shape == (9,):
        stress = stress.reshape(3, 3)
    if stress.shape == (6,):
        return stress.copy(), ""
    if stress.shape != (3, 3):
        return None, f"has shape {stress.shape}; expected Voigt 6, 3x3 or 9 values"
    scale = np.abs(stress).max()
    if np.isfinite(scale) and np.abs(stress - stress.T).max() > _STRESS_ASYMMETRY_TOL * scale:
        return None, f"is not symmetric: {stress.tolist()}"
    voigt = np.array([stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]])
    # average the (tiny) asymmetry; for a symmetric tensor (a + a) / 2 == a exactly
    voigt[3:] = (voigt[3:] + np.array([stress[2, 1], stress[2, 0], stress[1, 0]])) / 2
    return voigt, ""


def _labelled_frame(
    frame: Atoms,
    path: Path,
    index: int,
    keys: tuple[str, str, str | None],
    energy_factor: float,
    length_factor: float,
    data_kind: str | None,
) -> tuple[LabelledStructure, bool]:
    """One frame read by ase as a LabelledStructure (eV, Å); also whether a non-periodic frame's stress was dropped."""
    energy_key, forces_key, stress_key = keys

    def fail(problem: str) -> DatasetFormatError:
        return DatasetFormatError(path, index, problem)

    n = len(frame)
    if n == 0:
        raise fail("frame has no atoms")
    pbc = np.asarray(frame.pbc, dtype=bool)
    if pbc.any() and not pbc.all():
        raise fail(
            f"mixed periodicity pbc={pbc.tolist()}: only fully periodic (T T T) boxes or "
            "non-periodic (F F F) clusters/molecules are supported"
        )
    periodic = bool(pbc.all())
    tagged = frame.info.get("config_type") == ISOLATED_ATOM
    if tagged and n != 1:
        raise fail(f"config_type {ISOLATED_ATOM} on a frame of {n} atoms")
    isolated_atom = n == 1 and (tagged or not periodic)
    if isolated_atom and periodic:  # a free atom stored in a (large) periodic box
        frame.pbc, periodic = False, False
    if data_kind == "periodic" and not periodic and not isolated_atom:
        if abs(frame.cell.volume) < 1e-6:
            raise fail("data_kind periodic, but the frame has no cell to be periodic in")
        frame.pbc, periodic = True, True
    elif data_kind == "cluster" and periodic:
        frame.pbc, periodic = False, False
        if len(np.unique(molecule_ids(frame))) != _periodic_molecules(frame):
            raise fail("data_kind cluster, but molecules cross the cell boundary: a periodic frame, not a cluster")

    raw_energy = _label(frame, energy_key, per_atom=False)
    raw_forces = _label(frame, forces_key, per_atom=True)
    missing = [f"energy {energy_key!r}"] * (raw_energy is None) + [f"forces {forces_key!r}"] * (raw_forces is None)
    if missing:
        raise fail(f"no {' and no '.join(missing)}; {_keys_present(frame)}")
    energy = _as_float_array(raw_energy)
    if energy is None or energy.size != 1:
        raise fail(f"energy {energy_key!r} is not a single number: {raw_energy!r}")
    energy = float(energy.reshape(()))
    forces = _as_float_array(raw_forces)
    if forces is None or forces.shape != (n, 3):
        shape = None if forces is None else forces.shape
        raise fail(f"forces {forces_key!r} have shape {shape}, expected ({n}, 3)")

    stress = None
    stress_dropped = False
    raw_stress = None if stress_key is None else _label(frame, stress_key, per_atom=False)
    if raw_stress is not None:
        stress, reason = _stress_voigt(raw_stress)
        if stress is None:
            raise fail(f"stress {stress_key!r} {reason}")
        if not periodic:
            stress, stress_dropped = None, True

    positions = np.asarray(frame.positions, dtype=np.float64)
    cell = np.asarray(frame.cell[:], dtype=np.float64)
    checked = {"energy": energy, "forces": forces, "stress": stress, "positions": positions, "cell": cell}
    for name, values in checked.items():
        if values is not None and not np.isfinite(values).all():
            raise fail(f"non-finite {name} (nan or inf)")

    atoms = frame.copy()  # Atoms.copy() drops the calculator
    atoms.calc = None
    atoms.info.pop(energy_key, None)
    if stress_key is not None:
        atoms.info.pop(stress_key, None)
    if forces_key in atoms.arrays:
        del atoms.arrays[forces_key]
    if length_factor != 1.0:
        atoms.set_cell(cell * length_factor, scale_atoms=False)
        atoms.positions = positions * length_factor
    if periodic and abs(atoms.cell.volume) < 1e-6:
        raise fail(f"periodic frame with a degenerate cell (volume {atoms.cell.volume:.3g} Å^3)")

    if "mol_id" in atoms.arrays:
        try:
            mol_ids = checked_mol_ids(atoms)
        except ValueError as exc:
            raise fail(f"arrays['mol_id']: {exc}") from None
    else:
        mol_ids = molecule_ids(atoms)
        atoms.arrays["mol_id"] = mol_ids
    kind = (
        "periodic"
        if periodic
        else "isolated_atom"
        if isolated_atom
        else "molecule"
        if mol_ids.max() == 0
        else "cluster"
    )

    if energy_factor != 1.0:
        energy *= energy_factor
    if energy_factor != 1.0 or length_factor != 1.0:
        forces = forces * (energy_factor / length_factor)
        if stress is not None:
            stress = stress * (energy_factor / length_factor**3)
    structure = LabelledStructure(atoms, energy, forces.copy(), stress, kind)
    return structure, stress_dropped


def _periodic_molecules(frame: Atoms) -> int:
    """Molecules in ``frame`` counted with its cell periodic."""
    periodic = frame.copy()
    periodic.pbc = True
    return len(np.unique(molecule_ids(periodic)))


def read_labelled_extxyz(
    path: Path,
    energy_key: str = ENERGY_KEY,
    forces_key: str = FORCES_KEY,
    stress_key: str | None = STRESS_KEY,
    energy_unit: str = "eV",
    length_unit: str = "Å",
    data_kind: str | None = None,
) -> list[LabelledStructure]:
    """Every frame of a labelled extended-XYZ file, converted to eV, eV/Å, eV/Å^3 and Å.

    The energy is read from ``info[energy_key]``, forces from ``arrays[forces_key]`` (n, 3) and the
    stress from ``info[stress_key]`` (Voigt 6, 3x3 or 9 values; ASE sign convention, stress = -virial/V).
    ase.io turns the standard names (energy, forces, stress, free_energy, ...) into a
    SinglePointCalculator; those are found in ``atoms.calc.results`` (e.g. ``energy_key="energy"``).
    There is no silent fall-back from one key to another.

    A missing stress is fine (None), and a stress on a non-periodic frame is dropped with a warning;
    a missing or malformed energy or forces, non-finite values, a mixed pbc (some directions periodic),
    a degenerate periodic cell or an invalid ``arrays['mol_id']`` raise DatasetFormatError naming the
    file, the 0-based frame index and the problem (for missing labels, with the keys present).
    ``energy_unit`` is one of ENERGY_UNITS, ``length_unit`` one of LENGTH_UNITS (applied to positions,
    cell, forces and stress; other per-atom arrays are left as they are); unknown units raise ValueError.
    Molecules (``arrays['mol_id']``) come from covalent connectivity unless the file provides them.

    A frame's data kind follows its pbc unless ``data_kind`` says otherwise: 'cluster' reads a
    periodic frame as a cluster in vacuum (refused when molecules cross its cell boundary), 'periodic'
    reads a non-periodic frame with a cell as periodic. One non-periodic atom, or one atom tagged
    with mace-torch's ``config_type=IsolatedAtom`` (the tag on a larger frame is an error), is kind
    'isolated_atom'.
    """
    energy_factor = _unit_factor(ENERGY_UNITS, energy_unit, "energy")
    length_factor = _unit_factor(LENGTH_UNITS, length_unit, "length")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no labelled dataset at {path}")
    try:
        frames = read(path, index=":", format="extxyz")
    except Exception as exc:  # ase raises XYZError, ValueError, IndexError, ... for malformed files
        raise DatasetFormatError(path, None, f"cannot be read as extended XYZ: {type(exc).__name__}: {exc}") from exc
    if not frames:
        raise DatasetFormatError(path, None, "holds no frames")
    keys = (energy_key, forces_key, stress_key)
    structures, dropped = [], []
    for index, frame in enumerate(frames):
        structure, stress_dropped = _labelled_frame(frame, path, index, keys, energy_factor, length_factor, data_kind)
        structures.append(structure)
        if stress_dropped:
            dropped.append(index)
    if dropped:
        warnings.warn(
            f"{path}: ignored the stress {stress_key!r} of {len(dropped)} non-periodic frame(s) "
            f"(first: {dropped[:5]}); stress is kept for periodic frames only",
            stacklevel=2,
        )
    return structures


@dataclass(frozen=True)
class DatasetSummary:
    """What a labelled file holds: frames per kind, the elements (atomic numbers) of its training
    frames per data kind (cluster, periodic), and the energy (eV) of each isolated atom."""

    kinds: dict[str, int]
    elements: dict[str, frozenset[int]]
    isolated_atom_energies_eV: dict[int, float]

    @property
    def data_kinds(self) -> list[str]:
        """The data kinds a model can be trained on from this file, in DATA_KINDS order."""
        return [kind for kind in DATA_KINDS if kind in self.elements]

    @property
    def training_frames(self) -> dict[str, int]:
        """Frames per data kind they train as (isolated atoms are no training data)."""
        frames = dict.fromkeys(DATA_KINDS, 0)
        for kind, count in self.kinds.items():
            data_kind = training_kind(kind)
            if data_kind is not None:
                frames[data_kind] += count
        return frames


def summarize_labelled(path: Path, structures: Sequence[LabelledStructure]) -> DatasetSummary:
    """The summary of a file's structures; two isolated atoms of one element with different
    energies (beyond 1e-6 eV) raise DatasetFormatError."""
    kinds: dict[str, int] = {}
    elements: dict[str, set[int]] = {}
    atoms_eV: dict[int, float] = {}
    for index, structure in enumerate(structures):
        kinds[structure.kind] = kinds.get(structure.kind, 0) + 1
        data_kind = training_kind(structure.kind)
        if data_kind is not None:
            elements.setdefault(data_kind, set()).update(int(z) for z in structure.atoms.numbers)
            continue
        z = int(structure.atoms.numbers[0])
        if z in atoms_eV and abs(atoms_eV[z] - structure.energy_eV) > 1e-6:
            raise DatasetFormatError(
                path, index, f"a second isolated {structure.atoms.get_chemical_symbols()[0]} atom with another energy"
            )
        atoms_eV[z] = structure.energy_eV
    return DatasetSummary(kinds, {kind: frozenset(zs) for kind, zs in elements.items()}, atoms_eV)


def export_extxyz(structures: Sequence[LabelledStructure], path: Path) -> Path:
    """Write labelled structures as MACE-ready extended XYZ (REF_energy, REF_forces and REF_stress
    where a structure has one) with write_extxyz, and return ``path``. ``mol_id`` and other
    info/arrays of the structures are kept."""
    return write_extxyz(
        [s.atoms for s in structures],
        [s.energy_eV for s in structures],
        [s.forces_eV_ang for s in structures],
        [s.stress_eV_ang3 for s in structures],
        path=path,
    )
