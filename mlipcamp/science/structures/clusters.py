"""Finite clusters of whole molecules and periodic snapshots cut from liquid boxes."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import find_mic

from mlipcamp.science.structures.molecules import _masses_weighted_mean, checked_mol_ids, make_molecules_whole

# cut_clusters(radius_ang=...): a cluster with fewer than n_min molecules is redrawn around
# another, not yet tried centre molecule at most this many times; then the largest is kept
RADIUS_CLUSTER_REDRAWS = 4


def _mic_from_centre(snapshot: Atoms, com: np.ndarray, centre_mol: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-image vectors (n_mol, 3) and distances (Å) from the centre molecule's COM to every COM;
    the centre's own distance is -1 so that it sorts first even if another COM coincides with it."""
    n_mol = len(com)
    if not 0 <= centre_mol < n_mol:
        raise ValueError(f"centre molecule {centre_mol} is not in the box (molecules 0..{n_mol - 1})")
    offsets, distances = find_mic(com - com[centre_mol], snapshot.cell, snapshot.pbc)
    distances[centre_mol] = -1.0
    return offsets, distances


def _assemble(
    snapshot: Atoms,
    whole: Atoms,
    ids: np.ndarray,
    com: np.ndarray,
    centre_mol: int,
    offsets: np.ndarray,
    selected: np.ndarray,
) -> Atoms:
    """Non-periodic cluster of molecules ``selected`` (centre first), each at its minimum image."""
    members = [np.flatnonzero(ids == mol) for mol in selected]
    index = np.concatenate(members)
    shifts = com[centre_mol] + offsets[selected] - com[selected]  # move each COM to its minimum image
    positions = np.concatenate([whole.positions[atoms] + shift for atoms, shift in zip(members, shifts, strict=True)])

    cluster = Atoms(numbers=snapshot.numbers[index], positions=positions)
    cluster.positions -= cluster.get_center_of_mass()
    cluster.arrays["mol_id"] = np.repeat(np.arange(len(selected)), [len(atoms) for atoms in members])
    if "species_id" in snapshot.arrays:
        cluster.arrays["species_id"] = snapshot.arrays["species_id"][index]
    cluster.info.update(copy.deepcopy(snapshot.info))
    cluster.info["n_molecules"] = len(selected)
    cluster.info["centre_mol"] = centre_mol
    return cluster


def _cluster(
    snapshot: Atoms, whole: Atoms, ids: np.ndarray, com: np.ndarray, n_molecules: int, centre_mol: int
) -> Atoms:
    """Cluster of the ``n_molecules`` molecules nearest the centre; ``whole``/``com`` from the snapshot."""
    n_mol = len(com)
    if not 1 <= n_molecules <= n_mol:
        raise ValueError(f"cannot cut a cluster of {n_molecules} molecules from a box of {n_mol} molecules")
    offsets, distances = _mic_from_centre(snapshot, com, centre_mol)
    selected = np.argsort(distances, kind="stable")[:n_molecules]
    return _assemble(snapshot, whole, ids, com, centre_mol, offsets, selected)


def _within_radius(
    snapshot: Atoms, com: np.ndarray, centre_mol: int, radius_ang: float, max_molecules: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """(minimum-image offsets, molecules whose COM is within ``radius_ang``, nearest first, capped)."""
    offsets, distances = _mic_from_centre(snapshot, com, centre_mol)
    order = np.argsort(distances, kind="stable")
    selected = order[distances[order] <= radius_ang]
    return offsets, selected[:max_molecules]


def _check_radius(snapshot: Atoms, radius_ang: float) -> None:
    """ValueError unless 0 < radius_ang <= half the smallest perpendicular width of the periodic cell.

    Any two images of a point are at least that width apart, so within such a radius every
    molecule has at most one image and the minimum image is unambiguous.
    """
    if not (np.isfinite(radius_ang) and radius_ang > 0):
        raise ValueError(f"cluster radius must be a positive number of Å, got {radius_ang}")
    periodic = snapshot.cell.any(1) & snapshot.pbc  # the axes find_mic treats as periodic
    if not periodic.any():
        return
    vectors = snapshot.cell.array[periodic]
    duals = np.linalg.pinv(vectors).T  # vectors @ duals.T = identity
    half_width = 0.5 / np.linalg.norm(duals, axis=1).max()
    if radius_ang > half_width:
        raise ValueError(
            f"cluster radius {radius_ang} Å exceeds half the smallest perpendicular width of the cell "
            f"({half_width:.4f} Å): the minimum image would be ambiguous"
        )


def _whole_and_coms(snapshot: Atoms) -> tuple[Atoms, np.ndarray, np.ndarray]:
    ids = checked_mol_ids(snapshot)
    whole = make_molecules_whole(snapshot, ids)
    return whole, ids, _masses_weighted_mean(whole.positions, whole.get_masses(), ids)


def _check_max_molecules(max_molecules: int | None) -> None:
    if max_molecules is not None and (
        isinstance(max_molecules, bool) or not isinstance(max_molecules, (int, np.integer)) or max_molecules < 1
    ):
        raise ValueError(f"max_molecules must be a positive integer or None, got {max_molecules!r}")


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


def cut_cluster_radius(snapshot: Atoms, radius_ang: float, centre_mol: int, max_molecules: int | None = None) -> Atoms:
    """Non-periodic cluster of all whole molecules whose centre of mass lies within ``radius_ang``
    (Å, inclusive, minimum image) of that of molecule ``centre_mol`` (always included).

    Molecules are taken nearest first (ties by molecule index) and, if ``max_molecules`` is
    given, only the nearest ``max_molecules`` are kept. Output as cut_cluster: each molecule
    at its minimum image relative to the centre, cluster centre of mass at the origin,
    ``arrays['mol_id']`` renumbered 0..n-1 by distance (0 = centre), ``species_id`` kept,
    ``info`` the snapshot's plus ``n_molecules``, ``centre_mol`` and ``radius_ang``.
    Raises ValueError if ``radius_ang`` exceeds half the smallest perpendicular width of the
    periodic cell (the minimum image would then be ambiguous); a non-periodic snapshot
    accepts any radius.
    """
    _check_radius(snapshot, radius_ang)
    _check_max_molecules(max_molecules)
    whole, ids, com = _whole_and_coms(snapshot)
    offsets, selected = _within_radius(snapshot, com, centre_mol, radius_ang, max_molecules)
    cluster = _assemble(snapshot, whole, ids, com, centre_mol, offsets, selected)
    cluster.info["radius_ang"] = float(radius_ang)
    return cluster


def cut_clusters(
    snapshot: Atoms,
    n_range: tuple[int, int],
    n_clusters: int,
    rng: np.random.Generator,
    radius_ang: float | None = None,
) -> list[Atoms]:
    """``n_clusters`` clusters, each around a random centre molecule.

    Without ``radius_ang`` (see cut_cluster): each has a random size drawn uniformly from
    ``n_range`` = (n_min, n_max), both inclusive; n_max may not exceed the molecules in the box.

    With ``radius_ang`` (Å, see cut_cluster_radius): each holds the molecules within the radius,
    at most n_max (the nearest). A cluster with fewer than n_min molecules is redrawn around a
    different, not yet tried centre, up to RADIUS_CLUSTER_REDRAWS times; if none reaches n_min,
    the largest of the tries is kept (the first drawn among equals), so a cluster may hold fewer
    than n_min molecules. Redrawing favours centres in denser regions. n_max may exceed the
    molecules in the box (it is only a cap); n_min may not.
    Reproducible for a given ``rng`` state.
    """
    n_min, n_max = n_range
    if not 1 <= n_min <= n_max:
        raise ValueError(f"n_range must satisfy 1 <= n_min <= n_max, got {n_range}")
    if n_clusters < 0:
        raise ValueError(f"n_clusters must be >= 0, got {n_clusters}")
    if radius_ang is not None:
        _check_radius(snapshot, radius_ang)
    whole, ids, com = _whole_and_coms(snapshot)
    n_mol = len(com)
    if radius_ang is None and n_max > n_mol:
        raise ValueError(f"cannot cut clusters of up to {n_max} molecules from a box of {n_mol} molecules")
    if radius_ang is not None and n_min > n_mol:
        raise ValueError(f"cannot cut clusters of at least {n_min} molecules from a box of {n_mol} molecules")
    clusters = []
    for _ in range(n_clusters):
        centre_mol = int(rng.integers(n_mol))
        if radius_ang is None:
            n_molecules = int(rng.integers(n_min, n_max + 1))
            clusters.append(_cluster(snapshot, whole, ids, com, n_molecules, centre_mol))
            continue
        offsets, selected = _within_radius(snapshot, com, centre_mol, radius_ang, n_max)
        tried = [centre_mol]
        while len(selected) < n_min and len(tried) <= RADIUS_CLUSTER_REDRAWS and len(tried) < n_mol:
            other = int(rng.choice(np.setdiff1d(np.arange(n_mol), tried)))
            tried.append(other)
            other_offsets, other_selected = _within_radius(snapshot, com, other, radius_ang, n_max)
            if len(other_selected) > len(selected):
                centre_mol, offsets, selected = other, other_offsets, other_selected
        cluster = _assemble(snapshot, whole, ids, com, centre_mol, offsets, selected)
        cluster.info["radius_ang"] = float(radius_ang)
        clusters.append(cluster)
    return clusters


def periodic_snapshot(snapshot: Atoms) -> Atoms:
    """Copy of the whole periodic box: positions wrapped into the cell (Å), pbc True,
    ``info['n_molecules']`` from ``arrays['mol_id']``; the snapshot's single-point results
    (sample_liquid's) are kept, as wrapping changes no energy, force or stress."""
    if snapshot.cell.rank != 3:
        raise ValueError("periodic_snapshot needs a structure with a full 3D cell")
    ids = checked_mol_ids(snapshot)
    periodic = snapshot.copy()
    periodic.pbc = True
    periodic.wrap()
    periodic.info["n_molecules"] = int(ids.max() + 1)
    if isinstance(snapshot.calc, SinglePointCalculator) and snapshot.pbc.all():
        periodic.calc = SinglePointCalculator(periodic, **snapshot.calc.results)
    return periodic


def scaled_snapshot(snapshot: Atoms, volume_factor: float) -> Atoms:
    """The periodic box at ``volume_factor`` times its volume, every molecule moved rigidly with
    its centre of mass (cell and centres scaled by volume_factor^(1/3); bond lengths and angles
    unchanged), wrapped into the cell, ``info['volume_factor']`` set, no calculator. Labelled at
    several factors, such boxes tell a model how the liquid's energy and pressure change with
    density (the equation of state), which snapshots at one density do not."""
    if not 0.5 <= volume_factor <= 2.0:
        raise ValueError(f"volume_factor must lie in [0.5, 2], got {volume_factor}")
    whole, ids, centres = _whole_and_coms(periodic_snapshot(snapshot))
    scale = volume_factor ** (1.0 / 3.0)
    scaled = whole.copy()
    scaled.positions += (centres * (scale - 1.0))[ids]
    scaled.set_cell(whole.cell * scale, scale_atoms=False)
    scaled.wrap()
    scaled.info["volume_factor"] = volume_factor
    return scaled


def training_structures(
    snapshots: Sequence[Atoms],
    cluster_size: tuple[int, int],
    clusters_per_snapshot: int,
    seed: int,
    radius_ang: float | None = None,
    periodic: bool = True,
    volume_factors: Sequence[float] = (1.0,),
) -> list[tuple[str, Atoms]]:
    """(kind, structure) cut from each liquid snapshot in turn: its clusters ('cluster', see
    ``cut_clusters``; drawn from one generator seeded with ``seed``), then with ``periodic`` the
    snapshot itself at each of ``volume_factors`` ('periodic'; 1: ``periodic_snapshot``, with the
    sampling potential's results; others: ``scaled_snapshot``)."""
    rng = np.random.default_rng(seed)
    structures: list[tuple[str, Atoms]] = []
    for snapshot in snapshots:
        structures += [
            ("cluster", c) for c in cut_clusters(snapshot, cluster_size, clusters_per_snapshot, rng, radius_ang)
        ]
        if periodic:
            structures += [
                ("periodic", periodic_snapshot(snapshot) if factor == 1.0 else scaled_snapshot(snapshot, factor))
                for factor in volume_factors
            ]
    return structures
