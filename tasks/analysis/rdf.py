"""Radial distribution function of molecular centres of mass in fluctuating periodic boxes."""

from __future__ import annotations

import numpy as np

from tasks.analysis.diffusion import minimum_image


def com_rdf(com: np.ndarray, cells: np.ndarray, r_max_ang: float, n_bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres r (Å) and g(r) of points ``com`` (n_frames, n, 3) Å in boxes ``cells`` (n_frames, 3, 3).

    ``r_max_ang`` is lowered to half the smallest perpendicular box width over all frames (the
    minimum image is then unique). Each frame is normalised by its own volume with n(n−1)/2
    pairs, so an ideal gas gives g = 1 at all r.
    """
    com = np.asarray(com, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.float64)
    volumes = np.abs(np.linalg.det(cells))
    widths = volumes[:, None] / np.linalg.norm(
        np.cross(cells[:, [1, 2, 0]], cells[:, [2, 0, 1]]), axis=2
    )  # perpendicular width of each cell along each axis
    r_max = min(float(r_max_ang), 0.5 * float(widths.min()))
    edges = np.linspace(0.0, r_max, n_bins + 1)
    n = com.shape[1]
    i, j = np.triu_indices(n, k=1)
    counts = np.zeros(n_bins)
    for pos, cell in zip(com, cells):
        r = np.linalg.norm(minimum_image(pos[j] - pos[i], cell), axis=1)
        counts += np.histogram(r, bins=edges)[0]
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    ideal = 0.5 * n * (n - 1) * shell * np.sum(1.0 / volumes)
    return 0.5 * (edges[1:] + edges[:-1]), counts / ideal
