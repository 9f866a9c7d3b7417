"""Finite clusters of whole molecules and periodic snapshots cut from liquid boxes."""

from __future__ import annotations

import copy

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

from tasks.structures.molecules import _masses_weighted_mean, checked_mol_ids, make_molecules_whole


def _cluster(
    snapshot: Atoms, whole: Atoms, ids: np.ndarray, com: np.ndarray, n_molecules: int, centre_mol: int
) -> Atoms:
    """Cluster of the ``n_molecules`` molecules nearest the centre; ``whole``/``com`` from the snapshot."""
    n_mol = len(com)
    if not 1 <= n_molecules <= n_mol:
        raise ValueError(f"cannot cut a cluster of {n_molecules} molecules from a box of {n_mol} molecules")
    if not 0 <= centre_mol < n_mol:
        raise ValueError(f"centre molecule {centre_mol} is not in the box (molecules 0..{n_mol - 1})")
    offsets, distances = find_mic(com - com[centre_mol], snapshot.cell, snapshot.pbc)
    distances[centre_mol] = -1.0  # the centre comes first even if another COM coincides with it
    selected = np.argsort(distances, kind="stable")[:n_molecules]

    members = [np.flatnonzero(ids == mol) for mol in selected]
    index = np.concatenate(members)
    shifts = com[centre_mol] + offsets[selected] - com[selected]  # move each COM to its minimum image
    positions = np.concatenate([whole.positions[atoms] + shift for atoms, shift in zip(members, shifts)])

    cluster = Atoms(numbers=snapshot.numbers[index], positions=positions)
    cluster.positions -= cluster.get_center_of_mass()
    cluster.arrays["mol_id"] = np.repeat(np.arange(n_molecules), [len(atoms) for atoms in members])
    if "species_id" in snapshot.arrays:
        cluster.arrays["species_id"] = snapshot.arrays["species_id"][index]
    cluster.info.update(copy.deepcopy(snapshot.info))
    cluster.info["n_molecules"] = n_molecules
    cluster.info["centre_mol"] = centre_mol
    return cluster


def _whole_and_coms(snapshot: Atoms) -> tuple[Atoms, np.ndarray, np.ndarray]:
    ids = checked_mol_ids(snapshot)
    whole = make_molecules_whole(snapshot, ids)
    return whole, ids, _masses_weighted_mean(whole.positions, whole.get_masses(), ids)


def cut_cluster(snapshot: Atoms, n_molecules: int, centre_mol: int) -> Atoms:
    """Non-periodic cluster of the ``n_molecules`` whole molecules whose centres of mass are
    nearest (minimum image) to that of molecule ``centre_mol`` (included).

    Molecules are taken from ``snapshot.arrays['mol_id']``; each is placed at its minimum
    image relative to the centre molecule, and the cluster's centre of mass is at the origin
    (Å). ``arrays['mol_id']`` is renumbered 0..n-1 by distance (0 = centre), ``species_id``
    is kept, ``info`` is the snapshot's plus ``n_molecules`` and ``centre_mol``.
    Raises ValueError if the box has fewer than ``n_molecules`` molecules.
    """
    whole, ids, com = _whole_and_coms(snapshot)
    return _cluster(snapshot, whole, ids, com, n_molecules, centre_mol)


def cut_clusters(
    snapshot: Atoms, n_range: tuple[int, int], n_clusters: int, rng: np.random.Generator
) -> list[Atoms]:
    """``n_clusters`` clusters (see cut_cluster), each around a random centre molecule with a
    random size drawn uniformly from ``n_range`` = (n_min, n_max), both inclusive."""
    n_min, n_max = n_range
    if not 1 <= n_min <= n_max:
        raise ValueError(f"n_range must satisfy 1 <= n_min <= n_max, got {n_range}")
    if n_clusters < 0:
        raise ValueError(f"n_clusters must be >= 0, got {n_clusters}")
    whole, ids, com = _whole_and_coms(snapshot)
    if n_max > len(com):
        raise ValueError(f"cannot cut clusters of up to {n_max} molecules from a box of {len(com)} molecules")
    clusters = []
    for _ in range(n_clusters):
        centre_mol = int(rng.integers(len(com)))
        n_molecules = int(rng.integers(n_min, n_max + 1))
        clusters.append(_cluster(snapshot, whole, ids, com, n_molecules, centre_mol))
    return clusters


def periodic_snapshot(snapshot: Atoms) -> Atoms:
    """Copy of the whole periodic box: positions wrapped into the cell (Å), pbc True,
    no calculator, ``info['n_molecules']`` from ``arrays['mol_id']``."""
    if snapshot.cell.rank != 3:
        raise ValueError("periodic_snapshot needs a structure with a full 3D cell")
    ids = checked_mol_ids(snapshot)
    periodic = snapshot.copy()
    periodic.pbc = True
    periodic.wrap()
    periodic.info["n_molecules"] = int(ids.max() + 1)
    return periodic
