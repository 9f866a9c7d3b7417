"""Molecules in a (periodic) structure: covalent connectivity, unwrapping, centres of mass."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

BOND_CUTOFF_MULT = 1.2  # atoms i, j are bonded if d_ij < 1.2 (r_cov,i + r_cov,j)


def _bonds(atoms: Atoms, quantities: str) -> tuple[np.ndarray, ...]:
    """Covalent bonds (both directions, minimum image where periodic) as ase neighbor_list quantities."""
    return neighbor_list(quantities, atoms, natural_cutoffs(atoms, mult=BOND_CUTOFF_MULT))


def _bond_graph(n_atoms: int, i: np.ndarray, j: np.ndarray) -> coo_matrix:
    return coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n_atoms, n_atoms))


def checked_mol_ids(atoms: Atoms, mol_ids: np.ndarray | None = None) -> np.ndarray:
    """``mol_ids`` (default ``atoms.arrays['mol_id']``) validated: one integer per atom,
    ids 0..n_mol-1 all used."""
    if mol_ids is None:
        if "mol_id" not in atoms.arrays:
            raise ValueError("structure has no arrays['mol_id']; pass mol_ids (e.g. molecule_ids(atoms))")
        mol_ids = atoms.arrays["mol_id"]
    ids = np.asarray(mol_ids)
    if ids.shape != (len(atoms),) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"mol_ids must be {len(atoms)} integers (one per atom), got shape {ids.shape} {ids.dtype}")
    if len(ids) == 0 or not np.array_equal(np.unique(ids), np.arange(ids.max() + 1)):
        raise ValueError("mol_ids must number the molecules 0..n_mol-1 with every id used")
    return ids


def molecule_ids(atoms: Atoms) -> np.ndarray:
    """Molecule index of every atom from covalent connectivity (ase natural_cutoffs, pbc respected).

    Atoms are bonded if closer than 1.2 × the sum of their covalent radii (Å); molecules
    are the connected components, numbered 0.. in order of their first atom.
    """
    i, j = _bonds(atoms, "ij")
    _, labels = connected_components(_bond_graph(len(atoms), i, j), directed=False)
    _, first_atom = np.unique(labels, return_index=True)
    rank = np.empty(len(first_atom), dtype=int)
    rank[np.argsort(first_atom)] = np.arange(len(first_atom))
    return rank[labels]


def make_molecules_whole(atoms: Atoms, mol_ids: np.ndarray | None = None) -> Atoms:
    """Copy of ``atoms`` with every molecule unwrapped across the periodic boundary.

    Each molecule's first atom stays put; the others are placed by walking the covalent
    bond graph (within the molecule) with minimum-image bond vectors (Å).
    ``mol_ids`` defaults to ``atoms.arrays['mol_id']``; a molecule whose atoms are not
    covalently connected raises ValueError.
    """
    ids = checked_mol_ids(atoms, mol_ids)
    i, j, vectors = _bonds(atoms, "ijD")
    intra = ids[i] == ids[j]
    i, j, vectors = i[intra], j[intra], vectors[intra]
    bond_vector = {}
    for a, b, vector in zip(i.tolist(), j.tolist(), vectors, strict=True):
        bond_vector.setdefault((a, b), vector)
    graph = _bond_graph(len(atoms), i, j).tocsr()

    whole = atoms.copy()
    positions = whole.positions.copy()
    _, roots, sizes = np.unique(ids, return_index=True, return_counts=True)
    for mol, (root, size) in enumerate(zip(roots, sizes, strict=True)):
        order, predecessors = breadth_first_order(graph, root, directed=True, return_predecessors=True)
        if len(order) != size:
            raise ValueError(
                f"molecule {mol} ({size} atoms) is not covalently connected: "
                f"only {len(order)} atoms are bonded to its first atom {root}"
            )
        for atom in order[1:]:
            parent = predecessors[atom]
            positions[atom] = positions[parent] + bond_vector[(parent, atom)]
    whole.positions = positions
    return whole


def _masses_weighted_mean(positions: np.ndarray, masses: np.ndarray, ids: np.ndarray) -> np.ndarray:
    total = np.bincount(ids, weights=masses)
    weighted = [np.bincount(ids, weights=masses * positions[:, k]) for k in range(3)]
    return np.stack(weighted, axis=1) / total[:, None]


def centres_of_mass(atoms: Atoms, mol_ids: np.ndarray | None = None) -> np.ndarray:
    """(n_mol, 3) centres of mass (Å) of the molecules, each made whole first (may lie outside the cell)."""
    ids = checked_mol_ids(atoms, mol_ids)
    whole = make_molecules_whole(atoms, ids)
    return _masses_weighted_mean(whole.positions, whole.get_masses(), ids)
