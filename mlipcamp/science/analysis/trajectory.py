"""Density and self-diffusion of any periodic MD trajectory (frames as ASE reads them), not only the
campaign's own runs: the same analysis as ``md_run.analyse_md_run``, with the density computed per frame
from the masses and the cell volume and the time axis from a given frame interval."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from mlipcamp.science.analysis.density import SeriesStats, equilibrated_mean
from mlipcamp.science.analysis.diffusion import (
    MIN_BLOCK_FRAMES,
    DiffusionResult,
    diffusion_coefficient,
    molecule_com_trajectory,
    molecule_species,
    msd_multi_origin,
    unwrap_npt,
    yeh_hummer_correction,
)
from mlipcamp.science.md.files import AMU_PER_ANG3_TO_G_PER_CM3
from mlipcamp.science.structures.molecules import molecule_ids

FS_PER_PS = 1000.0
ROW_COLUMNS = ("observable", "species", "value", "sem", "unit", "converged")
CUBIC_TOLERANCE = 0.01  # relative spread of edge lengths (and of angles from 90°) still taken as cubic

Curve = tuple[np.ndarray, np.ndarray]


@dataclass
class TrajectoryAnalysis:
    """Result rows (keys ``ROW_COLUMNS`` plus ``detail``, a readable note on how each was obtained) and
    the series and curves behind them. ``warnings``: one line each, e.g. a D from an unconverged run."""

    rows: list[dict]
    time_ps: np.ndarray  # time of every frame
    density_g_cm3: np.ndarray  # per frame
    density: SeriesStats  # g/cm³, equilibrated
    analysed_from_ps: float  # first frame of the diffusion analysis
    diffusion: DiffusionResult  # all molecules
    msd: Curve  # lag (ps), MSD (Å²) of all molecules, from analysed_from_ps on
    species_diffusion: dict[str, DiffusionResult] = field(default_factory=dict)  # Hill formula -> D (mixtures)
    yh_correction_cm2_s: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """Whether the density converged (``SeriesStats.converged``); D is a liquid's D only then."""
        return self.density.converged


def check_frames(frames: list[Atoms], n_blocks: int = 4) -> None:
    """Raise ValueError (one line naming the problem) unless ``frames`` can be analysed: the same atoms
    in every frame, a full periodic cell on every frame, and at least ``MIN_BLOCK_FRAMES`` × ``n_blocks``
    frames (``n_blocks`` ≥ 2)."""
    if n_blocks < 2:
        raise ValueError(f"blocks must be at least 2 for an error bar, got {n_blocks}")
    if len(frames) == 0:
        raise ValueError("the trajectory holds no frames")
    if len(frames) == 1:
        raise ValueError("the trajectory holds one frame; density and diffusion need a time series")
    numbers = frames[0].numbers
    if len(numbers) == 0:
        raise ValueError("frame 0 holds no atoms")
    for index, frame in enumerate(frames):
        if not np.array_equal(frame.numbers, numbers):
            raise ValueError(f"frame {index} holds other atoms than frame 0; every frame must hold the same atoms")
        if frame.cell.rank < 3 or abs(frame.cell.volume) < 1e-6:
            raise ValueError(f"frame {index} has no cell (three cell vectors spanning a volume)")
        if not frame.pbc.all():
            raise ValueError(f"frame {index} is not periodic in all three directions (pbc={frame.pbc.tolist()})")
    needed = MIN_BLOCK_FRAMES * n_blocks
    if len(frames) < needed:
        raise ValueError(
            f"{len(frames)} frames are too few for {n_blocks} blocks: diffusion needs at least {needed} "
            f"({MIN_BLOCK_FRAMES} per block)"
        )


def density_series(frames: list[Atoms]) -> np.ndarray:
    """Density (g/cm³) of every frame: total mass (amu) over cell volume (Å³)."""
    volumes_ang3 = np.array([abs(frame.cell.volume) for frame in frames])
    return float(frames[0].get_masses().sum()) / volumes_ang3 * AMU_PER_ANG3_TO_G_PER_CM3


def analyse_trajectory(
    frames: list[Atoms],
    frame_interval_fs: float,
    temperature_K: float,
    viscosity_mPa_s: float | None = None,
    n_blocks: int = 4,
) -> TrajectoryAnalysis:
    """Density (g/cm³) and self-diffusion coefficients (cm²/s) of a periodic trajectory whose frames are
    ``frame_interval_fs`` apart.

    Density: ``equilibrated_mean`` of the per-frame density. Molecules: covalent connectivity of the
    first frame. Diffusion, as in ``analyse_md_run``: centres of mass from the density's equilibration
    frame on (at least ``MIN_BLOCK_FRAMES`` × ``n_blocks`` frames kept), toroidally unwrapped, D from
    ``diffusion_coefficient`` with ``n_blocks`` blocks; per species when there is more than one. With
    ``viscosity_mPa_s`` also D + the Yeh–Hummer correction at ``temperature_K`` (K) for the mean box edge.
    Diffusion rows are ``converged`` only when the density converged and a diffusive window was found.
    """
    check_frames(frames, n_blocks)
    for name, value in (("frame interval", frame_interval_fs), ("temperature", temperature_K)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if viscosity_mPa_s is not None and not viscosity_mPa_s > 0:
        raise ValueError(f"viscosity must be positive, got {viscosity_mPa_s}")

    dt_ps = frame_interval_fs / FS_PER_PS
    time_ps = np.arange(len(frames)) * dt_ps
    densities = density_series(frames)
    density = equilibrated_mean(densities)

    min_frames = MIN_BLOCK_FRAMES * n_blocks
    first = max(0, min(density.equilibration_index, len(frames) - min_frames))  # as analyse_md_run
    kept = frames[first:]
    cells = np.array([frame.cell[:] for frame in kept])
    positions = np.array([frame.positions for frame in kept])
    mol_id = molecule_ids(frames[0])
    com = molecule_com_trajectory(positions, cells, frames[0].get_masses(), mol_id)
    unwrapped = unwrap_npt(com, cells)
    diffusion = diffusion_coefficient(unwrapped, dt_ps, n_blocks=n_blocks)
    lags, msd = msd_multi_origin(unwrapped)

    species = np.array(molecule_species(frames[0].numbers, mol_id))
    formulas = sorted(set(species.tolist()))
    per_species = {}
    if len(formulas) > 1:
        per_species = {f: diffusion_coefficient(unwrapped[:, species == f], dt_ps, n_blocks=n_blocks) for f in formulas}

    warnings = []
    equilibrated_ps = float(time_ps[density.equilibration_index])
    analysed_from_ps = float(time_ps[first])
    if not density.converged:
        warnings.append(
            f"density did not converge (equilibrated from {equilibrated_ps:.4g} ps of {time_ps[-1]:.4g} ps, "
            f"{density.n_effective:.1f} uncorrelated samples): D is not that of an equilibrated liquid"
        )
    diffusion_results = {"": diffusion} | per_species
    for formula, result in diffusion_results.items():
        if result.is_fallback:
            warnings.append(
                f"no diffusive regime found for {formula or 'all molecules'} (MSD log-log slope {result.loglog_slope:.2f}); "
                "D was fitted over a fallback window"
            )

    rows = [
        {
            "observable": "density",
            "species": "",
            "value": density.mean,
            "sem": density.sem,
            "unit": "g/cm^3",
            "converged": density.converged,
            "detail": f"equilibrated from {equilibrated_ps:.4g} ps; g = {density.statistical_inefficiency:.3g}, "
            f"{density.n_effective:.1f} uncorrelated samples",
        }
    ]
    for formula, result in diffusion_results.items():
        rows.append(
            {
                "observable": "diffusion",
                "species": formula,
                "value": result.d_cm2_s,
                "sem": result.sem_cm2_s,
                "unit": "cm^2/s",
                "converged": density.converged and not result.is_fallback,
                "detail": f"fit {result.fit_start_ps:.4g}–{result.fit_end_ps:.4g} ps"
                f"{' (fallback)' if result.is_fallback else ''}, {result.n_blocks} blocks, "
                f"from {analysed_from_ps:.4g} ps",
            }
        )

    delta = None
    if viscosity_mPa_s is not None:
        edge_ang = float(np.cbrt(np.abs(np.linalg.det(cells)).mean()))
        delta = yeh_hummer_correction(temperature_K, viscosity_mPa_s, edge_ang)
        if not _is_cubic(cells):
            warnings.append("the cell is not cubic: the Yeh–Hummer constant ξ = 2.837297 is that of a cubic box")
        for formula, result in diffusion_results.items():
            rows.append(
                {
                    "observable": "diffusion_yh",
                    "species": formula,
                    "value": result.d_cm2_s + delta,
                    "sem": result.sem_cm2_s,
                    "unit": "cm^2/s",
                    "converged": density.converged and not result.is_fallback,
                    "detail": f"+ {delta:.3g} cm^2/s (η = {viscosity_mPa_s:g} mPa·s, T = {temperature_K:g} K, "
                    f"L = {edge_ang:.4g} Å)",
                }
            )

    return TrajectoryAnalysis(
        rows=rows,
        time_ps=time_ps,
        density_g_cm3=densities,
        density=density,
        analysed_from_ps=analysed_from_ps,
        diffusion=diffusion,
        msd=(lags * dt_ps, msd),
        species_diffusion=per_species,
        yh_correction_cm2_s=delta,
        warnings=warnings,
    )


def _is_cubic(cells: np.ndarray) -> bool:
    """Whether every cell (rows = vectors, Å) has equal edges and right angles within CUBIC_TOLERANCE."""
    lengths = np.linalg.norm(cells, axis=2)
    unit = cells / lengths[:, :, None]
    cosines = np.abs(np.einsum("fij,fkj->fik", unit, unit) - np.eye(3))
    return bool(
        np.all(np.ptp(lengths, axis=1) <= CUBIC_TOLERANCE * lengths.mean(axis=1)) and cosines.max() <= CUBIC_TOLERANCE
    )
