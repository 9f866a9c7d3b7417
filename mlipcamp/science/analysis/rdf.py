"""Radial distribution functions in fluctuating periodic boxes: molecular centres of mass and
element pairs (all, intramolecular or intermolecular pairs)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from mlipcamp.science.analysis.diffusion import minimum_image


def com_rdf(com: np.ndarray, cells: np.ndarray, r_max_ang: float, n_bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres r (Å) and g(r) of points ``com`` (n_frames, n, 3) Å in boxes ``cells`` (n_frames, 3, 3).

    ``r_max_ang`` is lowered to half the smallest perpendicular box width over all frames (the
    minimum image is then unique). Each frame is normalised by its own volume with n(n−1)/2
    pairs, so an ideal gas gives g = 1 at all r.
    """
    com = np.asarray(com, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.float64)
    n = com.shape[1]
    i, j = np.triu_indices(n, k=1)
    r_max = min(float(r_max_ang), _half_min_width(cells))
    return _pair_rdf(com, cells, i, j, 0.5 * n * (n - 1), r_max, n_bins)


def element_pair_rdf(
    positions: np.ndarray,
    cells: np.ndarray,
    numbers: np.ndarray,
    mol_id: np.ndarray,
    elements: tuple[int, int],
    r_max_ang: float,
    n_bins: int = 100,
    part: Literal["all", "intra", "inter"] = "all",
) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres r (Å) and g(r) between atoms of atomic numbers ``elements`` = (a, b).

    ``positions`` (n_frames, n, 3) Å, ``cells`` (n_frames, 3, 3) Å (rows = cell vectors, any
    shape), ``numbers`` and ``mol_id`` (n,). Distances are minimum images in each frame's cell;
    ``r_max_ang`` above half the smallest perpendicular cell width of any frame is refused.
    Every frame is normalised by the ideal-gas pair count of its volume: N_a·N_b pairs for
    a ≠ b, N_a(N_a − 1)/2 for a = b (each pair once), so uncorrelated atoms give g = 1 either way.
    ``part`` keeps pairs within one molecule ("intra") or between molecules ("inter") under the
    same normalisation, so intra + inter = all. Coordination number of b around a:
    4π·ρ·∫g r² dr with ρ = N_b⟨1/V⟩ (a ≠ b) or (N_a − 1)⟨1/V⟩ (a = b).
    """
    positions = np.asarray(positions, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.float64)
    numbers, mol_id = np.asarray(numbers), np.asarray(mol_id)
    if part not in ("all", "intra", "inter"):
        raise ValueError(f"part must be 'all', 'intra' or 'inter', got {part!r}")
    half_width = _half_min_width(cells)
    if r_max_ang > half_width:
        raise ValueError(f"r_max_ang = {r_max_ang} Å exceeds half the smallest cell width, {half_width:.4g} Å")
    a, b = elements
    index_a, index_b = np.flatnonzero(numbers == a), np.flatnonzero(numbers == b)
    if a == b:
        upper_i, upper_j = np.triu_indices(index_a.size, k=1)
        i, j = index_a[upper_i], index_a[upper_j]
    else:
        i, j = np.repeat(index_a, index_b.size), np.tile(index_b, index_a.size)
    if i.size == 0:
        raise ValueError(f"no pairs of atomic numbers {elements} in the system")
    n_ideal = i.size
    if part != "all":
        same = mol_id[i] == mol_id[j]
        keep = same if part == "intra" else ~same
        i, j = i[keep], j[keep]
    return _pair_rdf(positions, cells, i, j, n_ideal, r_max_ang, n_bins)


def _half_min_width(cells: np.ndarray) -> float:
    """Half the smallest perpendicular width (Å) of the cells (n_frames, 3, 3) over all frames."""
    volumes = np.abs(np.linalg.det(cells))
    areas = np.linalg.norm(np.cross(cells[:, [1, 2, 0]], cells[:, [2, 0, 1]]), axis=2)
    return 0.5 * float((volumes[:, None] / areas).min())


def _pair_rdf(
    positions: np.ndarray, cells: np.ndarray, i: np.ndarray, j: np.ndarray, n_ideal: float, r_max: float, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres (Å) and histogram of the minimum-image distances of pairs (i, j) summed over
    frames, divided by the ideal-gas count of ``n_ideal`` pairs summed over the frames' volumes."""
    edges = np.linspace(0.0, r_max, n_bins + 1)
    counts = np.zeros(n_bins)
    for pos, cell in zip(positions, cells, strict=True):
        r = np.linalg.norm(minimum_image(pos[j] - pos[i], cell), axis=1)
        counts += np.histogram(r, bins=edges)[0]
    shell = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    ideal = n_ideal * shell * np.sum(1.0 / np.abs(np.linalg.det(cells)))
    return 0.5 * (edges[1:] + edges[:-1]), counts / ideal
