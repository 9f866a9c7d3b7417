"""The analysis of one MD run: production window, equilibrated density and temperature, the
canonical fluctuation check, self-diffusion (all molecules, per species, Yeh–Hummer corrected),
centre-of-mass and element-pair RDFs. Plain arrays in, plain results out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from ase.data import atomic_numbers

from mlipcamp.science.analysis.density import SeriesStats, equilibrated_mean
from mlipcamp.science.analysis.diffusion import (
    MIN_BLOCK_FRAMES,
    YEH_HUMMER_XI_CUBIC,
    DiffusionResult,
    diffusion_coefficient,
    molecule_com_trajectory,
    molecule_species,
    msd_multi_origin,
    unwrap_npt,
    yeh_hummer_correction,
)
from mlipcamp.science.analysis.rdf import com_rdf, element_pair_rdf
from mlipcamp.science.analysis.settings import Analysis
from mlipcamp.science.analysis.temperature import temperature_fluctuation_check

Curve = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Observable:
    """A stored result: value and standard error in ``unit`` (sem None where none applies), and
    how it was obtained (JSON-safe)."""

    value: float
    sem: float | None
    unit: str
    method: dict


@dataclass
class RunAnalysis:
    """Observables by name and the curves behind them (production part of the run only)."""

    observables: dict[str, Observable]
    log: dict[str, np.ndarray]  # md_log.csv columns of the production part
    density: SeriesStats  # g/cm³
    temperature: SeriesStats  # K
    fluctuation: dict
    diffusion: DiffusionResult
    msd: Curve  # lag (ps), MSD (Å²)
    com_rdf: Curve  # r (Å), g(r)
    pair_rdfs: dict[str, Curve] = field(default_factory=dict)  # "O-H intra" -> (r Å, g)


def analyse_md_run(
    log: Mapping[str, np.ndarray],
    traj: Mapping[str, np.ndarray],
    analysis: Analysis,
    temperature_K: float,
    viscosity_mPa_s: float | None = None,
) -> RunAnalysis:
    """Analyse the production part of a run (``log``: md_log.csv columns; ``traj``: trajectory.npz
    arrays). Density and temperature: means after automatic equilibration detection. Diffusion:
    from the frames after the density's equilibration (at least ``MIN_BLOCK_FRAMES`` per block
    kept); per species in mixtures; with ``viscosity_mPa_s`` also the Yeh–Hummer corrected value
    (Yeh & Hummer, J. Phys. Chem. B 108, 15873 (2004))."""
    min_frames = MIN_BLOCK_FRAMES * analysis.diffusion_blocks
    start_step = int(traj["production_start_step"])
    production = log["step"] >= start_step
    log = {column: values[production] for column, values in log.items()}
    traj = _production_frames(traj, start_step, min_frames)
    density = equilibrated_mean(log["density_g_cm3"])
    temperature = equilibrated_mean(log["temperature_K"])
    equilibrated_t = log["temperature_K"][temperature.equilibration_index :]
    fluctuation = temperature_fluctuation_check(  # short runs: the whole production part
        equilibrated_t if len(equilibrated_t) >= 10 else log["temperature_K"], temperature_K, len(traj["numbers"])
    )
    first = _first_equilibrated_frame(traj["time_ps"], log["time_ps"][density.equilibration_index], min_frames)
    cells = traj["cells"][first:]
    com = molecule_com_trajectory(traj["positions"][first:], cells, traj["masses"], traj["mol_id"])
    unwrapped = unwrap_npt(com, cells)
    dt_ps = float(np.diff(traj["time_ps"][:2])[0])
    diffusion = diffusion_coefficient(unwrapped, dt_ps, n_blocks=analysis.diffusion_blocks)
    lags, msd = msd_multi_origin(unwrapped)
    observables = {
        "density_g_cm3": Observable(
            density.mean, density.sem, "g/cm^3", asdict(density) | {"converged": density.converged}
        ),
        "diffusion_cm2_s": Observable(
            diffusion.d_cm2_s,
            diffusion.sem_cm2_s,
            "cm^2/s",
            asdict(diffusion) | {"analysed_from_ps": float(traj["time_ps"][first])},
        ),
        "temperature_K": Observable(
            temperature.mean, temperature.sem, "K", asdict(temperature) | {"converged": temperature.converged}
        ),
        "temperature_fluctuation_ratio": Observable(fluctuation["std_ratio"], None, "1", fluctuation),
    }
    species = molecule_species(traj["numbers"], traj["mol_id"])
    for formula in sorted(set(species)) if len(set(species)) > 1 else []:
        d = diffusion_coefficient(unwrapped[:, np.array(species) == formula], dt_ps, n_blocks=analysis.diffusion_blocks)
        observables[f"diffusion_cm2_s:{formula}"] = Observable(
            d.d_cm2_s, d.sem_cm2_s, "cm^2/s", asdict(d) | {"species": formula}
        )
    if viscosity_mPa_s is not None:
        edge_ang = float(np.cbrt(np.linalg.det(cells).mean()))
        delta = yeh_hummer_correction(temperature_K, viscosity_mPa_s, edge_ang)
        observables["diffusion_yh_cm2_s"] = Observable(
            diffusion.d_cm2_s + delta,
            diffusion.sem_cm2_s,
            "cm^2/s",
            {
                "correction_cm2_s": delta,
                "viscosity_mPa_s": viscosity_mPa_s,
                "box_edge_ang": edge_ang,
                "xi": YEH_HUMMER_XI_CUBIC,
            },
        )
    return RunAnalysis(
        observables={name: _plain(o) for name, o in observables.items()},
        log=log,
        density=density,
        temperature=temperature,
        fluctuation=fluctuation,
        diffusion=diffusion,
        msd=(lags * dt_ps, msd),
        com_rdf=com_rdf(com, cells, analysis.rdf_r_max, analysis.rdf_bins),
        pair_rdfs=_element_pair_rdfs(traj, first, analysis),
    )


def _element_pair_rdfs(traj: Mapping[str, np.ndarray], first: int, analysis: Analysis) -> dict[str, Curve]:
    """Intra- and intermolecular g(r) of the configured element pairs present in the run."""
    cells = traj["cells"][first:]
    r_max = min(analysis.rdf_r_max, 0.5 * min(_widths(cell) for cell in cells) * 0.999)
    curves = {}
    for a, b in analysis.rdf_element_pairs:
        pair = (atomic_numbers[a], atomic_numbers[b])
        if not all(np.isin(pair, traj["numbers"])):
            continue
        for part in ("intra", "inter"):
            curves[f"{a}-{b} {part}"] = element_pair_rdf(
                traj["positions"][first:],
                cells,
                traj["numbers"],
                traj["mol_id"],
                pair,
                r_max,
                analysis.rdf_bins,
                part=part,
            )
    return curves


def _widths(cell: np.ndarray) -> float:
    """Smallest perpendicular width (Å) of a cell."""
    volume = abs(np.linalg.det(cell))
    return min(volume / np.linalg.norm(np.cross(cell[i - 1], cell[i - 2])) for i in range(3))


def _production_frames(
    traj: Mapping[str, np.ndarray], production_start_step: int, min_frames: int
) -> dict[str, np.ndarray]:
    """``traj`` without its equilibration frames; ValueError if fewer than ``min_frames`` remain."""
    keep = traj["steps"] >= production_start_step
    if keep.sum() < min_frames:
        raise ValueError(
            f"the production part holds {keep.sum()} trajectory frames; diffusion needs at least "
            f"{min_frames} (analysis.diffusion_blocks × {MIN_BLOCK_FRAMES}): run longer or store frames "
            "more often"
        )
    per_frame = ("positions", "cells", "steps", "time_ps")
    return {key: value[keep] if key in per_frame else value for key, value in traj.items()}


def _first_equilibrated_frame(frame_times_ps: np.ndarray, equilibrated_ps: float, min_frames: int) -> int:
    """First trajectory frame after the density's equilibration, keeping at least ``min_frames`` frames."""
    first = int(np.searchsorted(frame_times_ps, equilibrated_ps))
    return max(0, min(first, len(frame_times_ps) - min_frames))


def _plain(observable: Observable) -> Observable:
    """JSON-safe and plain-float copy (numpy scalars to Python numbers)."""
    method = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in observable.method.items()}
    sem = None if observable.sem is None else float(observable.sem)
    return Observable(float(observable.value), sem, observable.unit, method)
