"""Which labelled structures a dataset holds: fixed validation and test sets, and a training subset
drawn at random or by farthest-point sampling on an invariant pair-distance fingerprint."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations_with_replacement
from typing import Literal

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.neighborlist import neighbor_list

from mlipcamp.science.datasets import check_subset_request, select_subset, split_by_hash

ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F", "Li", "P", "S")
PAIRS: tuple[tuple[str, str], ...] = tuple(combinations_with_replacement(ELEMENTS, 2))


def _pair_index_table() -> np.ndarray:
    """Symmetric (119, 119) table from two atomic numbers to the index of their pair in PAIRS; -1 elsewhere."""
    table = np.full((119, 119), -1, dtype=int)
    for k, (a, b) in enumerate(PAIRS):
        za, zb = atomic_numbers[a], atomic_numbers[b]
        table[za, zb] = table[zb, za] = k
    return table


_PAIR_INDEX = _pair_index_table()


def structure_fingerprint(atoms: Atoms, r_max_ang: float = 6.0, n_bins: int = 24) -> np.ndarray:
    """Per-atom histograms of interatomic distances (Å) in [0, ``r_max_ang``), one per element pair.

    For each unordered pair in PAIRS (order of ELEMENTS, like pairs included) the number of atom
    pairs at distances in each of ``n_bins`` equal bins, divided by ``len(atoms)``; the histograms
    are concatenated to a vector of length ``len(PAIRS) * n_bins``. Every atom pair is counted once;
    in periodic structures every periodic image within ``r_max_ang`` counts (the minimum image
    alone when the cell is wider than ``2 * r_max_ang``). Invariant under rotation, translation and
    permutation of the atoms.
    """
    if r_max_ang <= 0 or n_bins < 1:
        raise ValueError(f"need r_max_ang > 0 and n_bins >= 1, got {r_max_ang} and {n_bins}")
    if len(atoms) == 0:
        raise ValueError("cannot fingerprint a structure without atoms")
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(ELEMENTS))
    if unknown:
        raise ValueError(f"elements {unknown} are outside the fingerprint's element list {list(ELEMENTS)}")
    i, j, d = neighbor_list("ijd", atoms, r_max_ang)
    inside = d < r_max_ang
    bins = np.minimum(np.floor(d[inside] * n_bins / r_max_ang).astype(int), n_bins - 1)
    numbers = atoms.numbers
    flat = _PAIR_INDEX[numbers[i[inside]], numbers[j[inside]]] * n_bins + bins
    # neighbor_list lists every pair in both directions: weight 1/2 counts it once
    counts = 0.5 * np.bincount(flat, minlength=len(PAIRS) * n_bins)
    return counts / len(atoms)


def farthest_point_subset(fingerprints: np.ndarray, size: int | None, replica: int) -> list[int]:
    """Indices (sorted) of ``size`` structures chosen by greedy farthest-point sampling.

    ``fingerprints`` has shape (n, d); distances are Euclidean. The first point is drawn with
    ``numpy.random.default_rng(replica)``; each next one is the point farthest from all chosen so
    far (lowest index on ties), so a replica is reproducible and the subsets of one replica are
    nested across sizes. Duplicate fingerprints are picked only after every distinct one.
    ``size`` None takes all points.
    """
    points = np.asarray(fingerprints, dtype=float)
    if points.ndim != 2:
        raise ValueError(f"fingerprints must have shape (n, d), got {points.shape}")
    n = points.shape[0]
    check_subset_request(n, size, replica)
    if size is None:
        return list(range(n))
    chosen = [int(np.random.default_rng(replica).integers(n))]
    nearest = np.full(n, np.inf)  # distance of each point to the closest chosen one
    for _ in range(size - 1):
        nearest = np.minimum(nearest, np.linalg.norm(points - points[chosen[-1]], axis=1))
        nearest[chosen[-1]] = -np.inf
        chosen.append(int(np.argmax(nearest)))
    return sorted(chosen)


def dataset_members(
    hashes: Sequence[str],
    valid_fraction: float,
    test_fraction: float,
    size: int | None,
    replica: int,
    selection: Literal["random", "fps"],
    structure: Callable[[int], Atoms],
) -> list[str | None]:
    """The split of each labelled structure (``hashes`` in hash order): 'valid' and 'test' fixed by
    hash (``split_by_hash``), 'train' for the training subset, None for a training-pool structure
    left out of it. The subset is all of the pool (``size`` None), a random draw (``select_subset``)
    or farthest-point sampling of fingerprints (``structure(i)`` gives structure ``i``), both
    reproducible from ``replica``."""
    splits: list[str | None] = list(split_by_hash(hashes, valid_fraction, test_fraction))
    pool = [i for i, split in enumerate(splits) if split == "train"]
    if size is not None and selection == "fps":
        picked = farthest_point_subset(np.array([structure_fingerprint(structure(i)) for i in pool]), size, replica)
    else:
        picked = select_subset(len(pool), size, replica)
    chosen = {pool[i] for i in picked}
    return [None if split == "train" and i not in chosen else split for i, split in enumerate(splits)]
