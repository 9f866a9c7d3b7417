"""Self-diffusion from molecular centre-of-mass trajectories of NPT runs.

Pipeline: ``molecule_com_trajectory`` (whole molecules → COMs) → ``unwrap_npt`` (toroidal
unwrapping for fluctuating boxes, von Bülow, Bullerjahn & Hummer, JCP 153, 021101 (2020))
→ ``diffusion_coefficient`` (multiple-origin MSD, Einstein slope over the diffusive window,
error bar from independent blocks). ``molecule_species`` labels the molecules so D can be
computed per species; ``yeh_hummer_correction`` is the finite-size correction to add to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.symbols import Symbols
from scipy.constants import k as BOLTZMANN_J_PER_K

ANG2_PER_PS_TO_CM2_PER_S = 1e-4  # 1 Å²/ps = 1e-16 cm² / 1e-12 s
SLOPE_TOLERANCE = 0.15  # diffusive window: local log–log slope within 1 ± this
GRID_POINTS_PER_DECADE = 10  # log-spaced lags on which the local slope is evaluated
MIN_WINDOW_SPAN = 2.0  # the diffusive window must span at least this factor in time
FALLBACK_WINDOW = (0.25, 0.75)  # fractions of the largest fitted lag used without such a window
YEH_HUMMER_XI_CUBIC = 2.837297  # Yeh & Hummer, J. Phys. Chem. B 108, 15873 (2004), cubic box
M2_PER_S_TO_CM2_PER_S = 1e4


def minimum_image(vectors: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Minimum-image equivalents (Å) of ``vectors`` (..., 3) in ``cell`` (3, 3), rows = cell vectors.

    Rounds fractional coordinates; exact for any cell when the minimum-image vector is shorter
    than half the smallest perpendicular width of the cell.
    """
    frac = vectors @ np.linalg.inv(cell)
    return (frac - np.round(frac)) @ cell


def molecule_com_trajectory(
    positions: np.ndarray, cells: np.ndarray, masses: np.ndarray, mol_id: np.ndarray
) -> np.ndarray:
    """Centres of mass (n_frames, n_mol, 3) Å, molecules ordered by sorted ``mol_id``.

    Each molecule is made whole per frame by taking every atom at its minimum image relative
    to the molecule's first atom (valid for molecules smaller than half the box); the COM
    lies next to that atom, in whatever periodic image the input puts it.
    """
    positions = np.asarray(positions, dtype=np.float64)
    masses = np.asarray(masses, dtype=np.float64)
    _, first_atom, mol_index = np.unique(mol_id, return_index=True, return_inverse=True)
    mol_index = mol_index.ravel()
    mol_mass = np.bincount(mol_index, weights=masses)
    reference = first_atom[mol_index]
    com = np.empty((positions.shape[0], first_atom.size, 3))
    for f, (pos, cell) in enumerate(zip(positions, cells, strict=True)):
        offsets = minimum_image(pos - pos[reference], cell) * masses[:, None]
        shift = np.stack([np.bincount(mol_index, weights=offsets[:, k]) for k in range(3)], axis=1)
        com[f] = pos[first_atom] + shift / mol_mass[:, None]
    return com


def molecule_species(numbers: np.ndarray, mol_id: np.ndarray) -> list[str]:
    """Hill formula (e.g. "C3H4O3") of every molecule, molecules ordered by sorted ``mol_id``
    as in ``molecule_com_trajectory``; ``numbers`` are the atomic numbers."""
    numbers = np.asarray(numbers)
    _, mol_index, sizes = np.unique(mol_id, return_inverse=True, return_counts=True)
    by_molecule = np.split(numbers[np.argsort(mol_index.ravel(), kind="stable")], np.cumsum(sizes)[:-1])
    return [Symbols(z).get_chemical_formula("hill") for z in by_molecule]


def unwrap_npt(com: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Unwrapped trajectory (n_frames, n, 3) Å of points ``com`` (n_frames, n, 3) in boxes ``cells``.

    Positions are first wrapped into their frame's box, then u[i] = u[i-1] + the minimum-image
    displacement w[i] − w[i-1] under the box of frame i (toroidal unwrapping, von Bülow et al.
    2020). Input may be in any periodic image — wrapped, or unwrapped but scaled with the box as
    ASE's MTK integrator keeps them; lattice-shift unwrapping (u = w + n·L_i) is deliberately
    not used since it turns box fluctuations into spurious displacements. Exact if every
    true frame-to-frame displacement is shorter than half the box.
    """
    com = np.asarray(com, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.float64)
    inverse = np.linalg.inv(cells)
    frac = np.einsum("fnj,fjk->fnk", com, inverse)
    wrapped = np.einsum("fnj,fjk->fnk", frac - np.floor(frac), cells)
    step_frac = np.einsum("fnj,fjk->fnk", wrapped[1:] - wrapped[:-1], inverse[1:])
    steps = np.einsum("fnj,fjk->fnk", step_frac - np.round(step_frac), cells[1:])
    unwrapped = np.empty_like(wrapped)
    unwrapped[0] = wrapped[0]
    unwrapped[1:] = wrapped[0] + np.cumsum(steps, axis=0)
    return unwrapped


def msd_multi_origin(unwrapped: np.ndarray, max_lag: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lags (frames, 0…max_lag) and mean squared displacement (Å²) averaged over particles and
    all time origins (FFT algorithm). ``max_lag`` defaults to half the number of frames."""
    x = np.asarray(unwrapped, dtype=np.float64)
    n_frames = x.shape[0]
    if max_lag is None:
        max_lag = n_frames // 2
    if not 0 < max_lag < n_frames:
        raise ValueError(f"max_lag must be in 1..{n_frames - 1}, got {max_lag}")
    x = (x - x.mean(axis=0)).reshape(n_frames, -1)  # translation per particle does not change the MSD
    # MSD(m) = <x²(t+m)> + <x²(t)> − 2<x(t)·x(t+m)>, origins t = 0 … N−m−1
    sq = (x**2).reshape(n_frames, -1, 3).sum(axis=2).mean(axis=1)
    lags = np.arange(max_lag + 1)
    counts = n_frames - lags
    head = np.concatenate([[0.0], np.cumsum(sq)])[: max_lag + 1]  # Σ_{t<m} sq
    tail = np.concatenate([[0.0], np.cumsum(sq[::-1])])[: max_lag + 1]  # Σ_{t≥N−m} sq
    total = sq.sum()
    cross = np.zeros(max_lag + 1)  # Σ_t x(t)·x(t+m), one Cartesian component at a time (memory)
    for k in range(3):
        spectrum = np.fft.rfft(x[:, k::3], n=2 * n_frames, axis=0)
        cross += np.fft.irfft(np.abs(spectrum) ** 2, n=2 * n_frames, axis=0)[: max_lag + 1].sum(axis=1)
    cross /= x.shape[1] // 3
    msd = (2 * total - head - tail - 2 * cross) / counts
    msd[0] = 0.0
    return lags, msd


MIN_BLOCK_FRAMES = 16  # frames per block: MSD lags up to half a block, at least 8 of them


@dataclass
class DiffusionResult:
    """Self-diffusion coefficient D ± SEM (cm²/s) from MSD = 6Dt over [fit_start_ps, fit_end_ps];
    ``loglog_slope`` is d ln MSD / d ln t over that window (1 for normal diffusion)."""

    d_cm2_s: float
    sem_cm2_s: float
    fit_start_ps: float
    fit_end_ps: float
    n_blocks: int
    window_rule: str
    loglog_slope: float

    @property
    def is_fallback(self) -> bool:
        """True when no diffusive window was found and the default window was used."""
        return self.window_rule.startswith("fallback")


def diffusion_coefficient(unwrapped: np.ndarray, dt_ps: float, n_blocks: int = 4) -> DiffusionResult:
    """Self-diffusion coefficient (cm²/s) from an unwrapped COM trajectory sampled every ``dt_ps``.

    The trajectory is cut into ``n_blocks`` independent blocks; lags up to half a block are
    used. Window rule: on the multiple-origin MSD of the whole trajectory, the local log–log
    slope is evaluated on log-spaced lags (10 per decade, central differences); the window is
    the longest contiguous run with slope within 1 ± 0.15 spanning at least a factor 2 in time.
    If none exists, the fallback window is the middle half of the lag range (¼…¾ of the
    largest lag), flagged by ``window_rule`` starting with "fallback". D = slope/6 of a linear
    fit of MSD(t) over the window, per block; reported D and SEM are the mean and standard
    error over blocks.
    """
    x = np.asarray(unwrapped, dtype=np.float64)
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be at least 2 for an error bar, got {n_blocks}")
    block_len = x.shape[0] // n_blocks
    max_lag = block_len // 2
    if block_len < MIN_BLOCK_FRAMES:
        raise ValueError(f"{x.shape[0]} frames are too few for {n_blocks} blocks of at least {MIN_BLOCK_FRAMES} frames")

    lags, msd = msd_multi_origin(x, max_lag)
    start, end, rule = _diffusive_window(lags, msd)
    window = slice(start, end + 1)
    loglog = float(np.polyfit(np.log(lags[window]), np.log(msd[window]), 1)[0])

    d_blocks = []
    for b in range(n_blocks):
        _, block_msd = msd_multi_origin(x[b * block_len : (b + 1) * block_len], max_lag)
        slope = np.polyfit(lags[window] * dt_ps, block_msd[window], 1)[0]  # Å²/ps
        d_blocks.append(slope / 6.0 * ANG2_PER_PS_TO_CM2_PER_S)
    d_blocks = np.asarray(d_blocks)
    return DiffusionResult(
        d_cm2_s=float(d_blocks.mean()),
        sem_cm2_s=float(d_blocks.std(ddof=1) / np.sqrt(n_blocks)),
        fit_start_ps=float(start * dt_ps),
        fit_end_ps=float(end * dt_ps),
        n_blocks=n_blocks,
        window_rule=rule,
        loglog_slope=loglog,
    )


def _diffusive_window(lags: np.ndarray, msd: np.ndarray) -> tuple[int, int, str]:
    """First and last lag (frames) of the fit window and a description of how it was chosen."""
    max_lag = int(lags[-1])
    n_grid = int(np.log10(max_lag) * GRID_POINTS_PER_DECADE) + 1
    grid = np.unique(np.round(np.logspace(0, np.log10(max_lag), n_grid)).astype(int))
    log_t, log_msd = np.log(grid), np.log(msd[grid])
    slope = np.gradient(log_msd, log_t)
    ok = np.abs(slope - 1.0) <= SLOPE_TOLERANCE
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(int), [0]])))
    runs = edges.reshape(-1, 2) - [0, 1]  # first and last grid index of each run
    if runs.size:
        spans = grid[runs[:, 1]] / grid[runs[:, 0]]
        first, last = runs[np.argmax(spans)]
        if spans.max() >= MIN_WINDOW_SPAN:
            rule = (
                f"longest run of lags with local log-log slope in 1±{SLOPE_TOLERANCE} "
                f"(at least ×{MIN_WINDOW_SPAN:g} in time)"
            )
            return int(grid[first]), int(grid[last]), rule
    lo, hi = FALLBACK_WINDOW
    rule = (
        f"fallback: no run of lags with log-log slope in 1±{SLOPE_TOLERANCE} spanning "
        f"×{MIN_WINDOW_SPAN:g}; fitted {lo:g}–{hi:g} of the largest lag"
    )
    return max(1, int(lo * max_lag)), int(hi * max_lag), rule


def yeh_hummer_correction(temperature_K: float, viscosity_mPa_s: float, box_length_ang: float) -> float:
    """Finite-size correction ΔD = ξ·k_B·T/(6·π·η·L) (cm²/s) of a self-diffusion coefficient
    from a cubic box of edge L (Å) and shear viscosity η (mPa·s); D∞ = D_PBC + ΔD."""
    delta_m2_s = (
        YEH_HUMMER_XI_CUBIC
        * BOLTZMANN_J_PER_K
        * temperature_K
        / (6.0 * np.pi * viscosity_mPa_s * 1e-3 * box_length_ang * 1e-10)
    )
    return float(delta_m2_s * M2_PER_S_TO_CM2_PER_S)
