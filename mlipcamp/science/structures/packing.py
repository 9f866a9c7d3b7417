"""Molecules from SMILES (RDKit) and periodic liquid boxes packed with packmol."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write
from ase.neighborlist import neighbor_list
from ase.units import _Nav
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem, Descriptors

PACKMOL_LOG_TAIL_LINES = 40  # lines of packmol's output quoted in error messages
ANGSTROM3_PER_CM3 = 1e24
# packmol meets its tolerance only to within its convergence precision (e.g. 1.999 Å for 2 Å)
SELF_IMAGE_SLACK = 0.9


class InvalidSmilesError(ValueError):
    """A SMILES string that RDKit cannot parse."""


def _parse_smiles(smiles: str) -> Chem.Mol:
    """RDKit molecule (implicit H) for ``smiles``; raises InvalidSmilesError."""
    if not isinstance(smiles, str) or not smiles.strip():
        raise InvalidSmilesError(f"SMILES {smiles!r} does not parse")
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise InvalidSmilesError(f"SMILES {smiles!r} does not parse")
    return mol


def check_neutral_closed_shell(smiles: str) -> None:
    """Raise InvalidSmilesError for a molecule with a net charge or unpaired electrons: every
    structure is labelled as a neutral closed-shell singlet, so either would be labelled wrongly."""
    mol = _parse_smiles(smiles)
    if charge := Chem.GetFormalCharge(mol):
        raise InvalidSmilesError(
            f"SMILES {smiles!r} has a net charge of {charge:+d} e; charged species are not supported yet "
            "(every structure is labelled neutral)"
        )
    if radicals := Descriptors.NumRadicalElectrons(mol):
        raise InvalidSmilesError(
            f"SMILES {smiles!r} is a radical ({radicals} unpaired electron{'s' if radicals > 1 else ''}); "
            "open-shell molecules are not supported (every structure is labelled as a closed-shell singlet)"
        )


def canonical_smiles(smiles: str) -> str:
    """RDKit canonical SMILES of ``smiles``; raises InvalidSmilesError if it does not parse."""
    return Chem.MolToSmiles(_parse_smiles(smiles))


def molar_mass_g_mol(smiles: str) -> float:
    """Average molar mass (g/mol) of the molecule, hydrogens included."""
    return float(Descriptors.MolWt(_parse_smiles(smiles)))


def atomic_numbers_of(smiles: str) -> frozenset[int]:
    """The elements (atomic numbers) of the molecule, hydrogens included."""
    mol = Chem.AddHs(_parse_smiles(smiles))
    return frozenset(atom.GetAtomicNum() for atom in mol.GetAtoms())


def molecule_from_smiles(smiles: str, seed: int = 0) -> Atoms:
    """3D molecule with explicit H: ETKDG embedding (randomSeed=seed) then MMFF94 relaxation.

    Positions in Å with the centre of mass at the origin; no cell, no pbc;
    ``info['smiles']`` holds the input SMILES.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0 (a negative seed is not reproducible), got {seed}")
    mol = Chem.AddHs(_parse_smiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise RuntimeError(f"RDKit could not embed SMILES {smiles!r} in 3D (seed {seed})")
    if not AllChem.MMFFHasAllMoleculeParams(mol):
        raise RuntimeError(f"MMFF94 has no parameters for SMILES {smiles!r}")
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    atoms = Atoms(
        numbers=[atom.GetAtomicNum() for atom in mol.GetAtoms()],
        positions=mol.GetConformer().GetPositions(),
    )
    atoms.positions -= atoms.get_center_of_mass()
    atoms.info["smiles"] = smiles
    return atoms


def _packmol_executable() -> str:
    """Path of the packmol binary: on PATH, else next to the running Python (its venv)."""
    found = shutil.which("packmol") or shutil.which("packmol", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError(
            "packmol executable not found on PATH or next to the Python interpreter; "
            "install it with `pip install packmol`"
        )
    return found


def build_box(
    components: Sequence[tuple[str, int]],
    density_g_cm3: float,
    seed: int = 0,
    tolerance_ang: float = 2.0,
) -> Atoms:
    """Cubic periodic liquid box of the given molecules at the target density (g/cm³).

    ``components`` lists (SMILES, number of molecules). The cell edge (Å) gives the target
    density from RDKit molar masses; packmol packs the molecules with its ``pbc`` keyword,
    so the minimum distance ``tolerance_ang`` (Å) also holds across the boundary.
    packmol does not keep a molecule away from its own periodic images: a box too small for
    its molecules (e.g. 3 DEC molecules, an 8.45 Å box) raises RuntimeError if any atom comes closer
    than 0.9 × ``tolerance_ang`` to an image of its own molecule.
    Molecules are whole (packmol's positions, not wrapped into the cell).
    ``arrays['mol_id']`` numbers the molecules 0..n_mol-1 (contiguous atoms per molecule,
    components in the given order), ``arrays['species_id']`` indexes ``components``,
    ``info['smiles']`` is the list of component SMILES.
    """
    if len(components) == 0:
        raise ValueError("build_box needs at least one (smiles, count) component")
    for smiles, count in components:
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"component {smiles!r}: number of molecules must be a positive integer, got {count!r}")
    if not density_g_cm3 > 0:
        raise ValueError(f"density must be positive (g/cm³), got {density_g_cm3}")
    if not tolerance_ang > 0:
        raise ValueError(f"packmol tolerance must be positive (Å), got {tolerance_ang}")

    molecules = [molecule_from_smiles(smiles, seed=seed) for smiles, _ in components]
    mass_g = sum(molar_mass_g_mol(smiles) * count for smiles, count in components) / _Nav
    edge = (mass_g / density_g_cm3 * ANGSTROM3_PER_CM3) ** (1.0 / 3.0)

    lines = [
        f"tolerance {tolerance_ang}",
        "filetype xyz",
        "output packed.xyz",
        f"seed {seed}",
        f"pbc 0.0 0.0 0.0 {edge:.6f} {edge:.6f} {edge:.6f}",
    ]
    for k, (_, count) in enumerate(components):
        lines += [f"structure species_{k}.xyz", f"  number {int(count)}", "end structure"]

    packmol = _packmol_executable()
    with tempfile.TemporaryDirectory(prefix="packmol_") as tmp:
        workdir = Path(tmp)
        for k, molecule in enumerate(molecules):
            write(workdir / f"species_{k}.xyz", molecule, format="xyz")
        (workdir / "packmol.inp").write_text("\n".join(lines) + "\n")
        # packmol needs a seekable stdin: give it the file, not a pipe
        with open(workdir / "packmol.inp") as stdin:
            result = subprocess.run([packmol], stdin=stdin, cwd=workdir, capture_output=True, text=True, check=False)
        output = workdir / "packed.xyz"
        if result.returncode != 0 or not output.exists():
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-PACKMOL_LOG_TAIL_LINES:])
            raise RuntimeError(
                f"packmol failed (exit code {result.returncode}) packing {list(components)} "
                f"at {density_g_cm3} g/cm³ with tolerance {tolerance_ang} Å:\n{tail}"
            )
        packed = read(output, format="xyz")

    counts = [int(count) for _, count in components]
    mol_species = np.repeat(np.arange(len(components)), counts)  # species of each molecule
    atoms_per_mol = np.array([len(molecules[s]) for s in mol_species])
    if not np.array_equal(packed.numbers, np.concatenate([molecules[s].numbers for s in mol_species])):
        raise RuntimeError("packmol output does not list the molecules' atoms in input order")

    box = Atoms(numbers=packed.numbers, positions=packed.positions, cell=[edge, edge, edge], pbc=True)
    box.arrays["mol_id"] = np.repeat(np.arange(len(mol_species)), atoms_per_mol)
    box.arrays["species_id"] = np.repeat(mol_species, atoms_per_mol)
    box.info["smiles"] = [smiles for smiles, _ in components]
    _check_self_images(box, SELF_IMAGE_SLACK * tolerance_ang)
    return box


def _check_self_images(box: Atoms, min_distance_ang: float) -> None:
    """RuntimeError if an atom is closer than ``min_distance_ang`` to a periodic image of its own
    (whole) molecule; packmol's pbc only keeps different molecules apart."""
    i, j, d, shifts = neighbor_list("ijdS", box, min_distance_ang)
    mol = box.arrays["mol_id"]
    contact = (mol[i] == mol[j]) & shifts.any(axis=1)
    if contact.any():
        k = np.flatnonzero(contact)[np.argmin(d[contact])]
        raise RuntimeError(
            f"packmol placed molecule {mol[i[k]]} ({box.info['smiles'][box.arrays['species_id'][i[k]]]}) "
            f"{d[k]:.2f} Å from its own periodic image (less than {min_distance_ang:.2f} Å): the "
            f"{box.cell[0, 0]:.2f} Å box is too small for this molecule; pack more molecules"
        )
