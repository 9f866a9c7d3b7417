"""analyse: density, self-diffusion and RDF of an MD run, with plots."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from prefect import get_run_logger, task
from sqlalchemy import select

from mlipcamp.db.engine import session_scope
from mlipcamp.db.models import MDRun, Observable
from mlipcamp.db.records import get_or_create, record_artifact
from ase.data import atomic_numbers

from mlipcamp.science.analysis import (
    com_rdf,
    diffusion_coefficient,
    element_pair_rdf,
    equilibrated_mean,
    molecule_com_trajectory,
    molecule_species,
    msd_multi_origin,
    plot_energy,
    plot_msd,
    plot_rdf,
    plot_rdf_pairs,
    plot_series,
    temperature_fluctuation_check,
    unwrap_npt,
    yeh_hummer_correction,
)
from mlipcamp.science.analysis.diffusion import MIN_BLOCK_FRAMES
from mlipcamp.settings.campaign import Analysis
from mlipcamp.science.md.run import read_md_log, read_trajectory
from mlipcamp.tasks.workspace import Workspace

OBSERVABLES = ("density_g_cm3", "diffusion_cm2_s", "temperature_K", "temperature_fluctuation_ratio")


@task(retries=1)
def analyse_run(ws: Workspace, md_run_id: int | None, analysis: Analysis, viscosity_mPa_s: float | None = None) -> int | None:
    """Store density, self-diffusion coefficient (per species in mixtures; Yeh–Hummer corrected when a
    viscosity is given), mean temperature and its fluctuation check of an MD run; write its plots.
    Runs stopped by the stability watch (status ``unstable``) are not analysed."""
    if md_run_id is None:
        return None
    logger = get_run_logger()
    with session_scope(ws.db_url) as session:
        run = session.get(MDRun, md_run_id)
        done = set(session.scalars(select(Observable.name).where(Observable.md_run_id == md_run_id)))
        if run.status != "ok" or done.issuperset(OBSERVABLES):
            return md_run_id
        name, log, run_temperature_K = run.name, read_md_log(ws.store.path(run.log_file)), run.temperature_k
        traj = read_trajectory(ws.store.path(run.trajectory_file))

    production_start_step = int(traj["production_start_step"])
    production = log["step"] >= production_start_step
    log = {column: values[production] for column, values in log.items()}
    traj = _production_frames(traj, production_start_step, min_frames=MIN_BLOCK_FRAMES * analysis.diffusion_blocks)
    density = equilibrated_mean(log["density_g_cm3"])
    temperature = equilibrated_mean(log["temperature_K"])
    equilibrated_t = log["temperature_K"][temperature.equilibration_index:]
    fluctuation = temperature_fluctuation_check(  # short runs: the whole production part
        equilibrated_t if len(equilibrated_t) >= 10 else log["temperature_K"], run_temperature_K, len(traj["numbers"]))
    first = _first_equilibrated_frame(traj["time_ps"], log["time_ps"][density.equilibration_index],
                                      min_frames=MIN_BLOCK_FRAMES * analysis.diffusion_blocks)
    cells = traj["cells"][first:]
    com = molecule_com_trajectory(traj["positions"][first:], cells, traj["masses"], traj["mol_id"])
    unwrapped = unwrap_npt(com, cells)
    dt_ps = float(np.diff(traj["time_ps"][:2])[0])
    diffusion = diffusion_coefficient(unwrapped, dt_ps, n_blocks=analysis.diffusion_blocks)
    lags, msd = msd_multi_origin(unwrapped)
    r, g = com_rdf(com, cells, analysis.rdf_r_max, analysis.rdf_bins)
    pair_curves = _element_pair_rdfs(traj, first, analysis)
    equilibrated_from_ps = float(traj["time_ps"][first])
    figures = {
        "density": plot_series(log["time_ps"], log["density_g_cm3"], "time / ps", "density / g cm$^{-3}$",
                               ws.plot_path(name, "density"), f"{name}: density", density.equilibration_index,
                               density.mean, density.sem),
        "temperature": plot_series(log["time_ps"], log["temperature_K"], "time / ps", "temperature / K",
                                   ws.plot_path(name, "temperature"), f"{name}: temperature",
                                   temperature.equilibration_index, temperature.mean, temperature.sem),
        "msd": plot_msd(lags * dt_ps, msd, diffusion, ws.plot_path(name, "msd"), f"{name}: COM mean-squared displacement"),
        "rdf": plot_rdf(r, g, ws.plot_path(name, "rdf"), f"{name}: centre-of-mass RDF"),
        "energy": plot_energy(log["time_ps"], log["epot_eV"], log["etot_eV"], ws.plot_path(name, "energy"),
                              f"{name}: energy"),
    }
    if pair_curves:
        figures["rdf_pairs"] = plot_rdf_pairs(pair_curves, ws.plot_path(name, "rdf_pairs"), f"{name}: element-pair RDFs")
    values = {
        "density_g_cm3": (density.mean, density.sem, "g/cm^3", asdict(density) | {"converged": density.converged}),
        "diffusion_cm2_s": (diffusion.d_cm2_s, diffusion.sem_cm2_s, "cm^2/s",
                            asdict(diffusion) | {"analysed_from_ps": equilibrated_from_ps}),
        "temperature_K": (temperature.mean, temperature.sem, "K", asdict(temperature) | {"converged": temperature.converged}),
        "temperature_fluctuation_ratio": (fluctuation["std_ratio"], None, "1", fluctuation),
    }
    species = molecule_species(traj["numbers"], traj["mol_id"])
    for formula in sorted(set(species)) if len(set(species)) > 1 else []:
        d = diffusion_coefficient(unwrapped[:, np.array(species) == formula], dt_ps, n_blocks=analysis.diffusion_blocks)
        values[f"diffusion_cm2_s:{formula}"] = (d.d_cm2_s, d.sem_cm2_s, "cm^2/s", asdict(d) | {"species": formula})
    if viscosity_mPa_s is not None:
        edge_ang = float(np.cbrt(np.linalg.det(cells).mean()))
        delta = yeh_hummer_correction(run_temperature_K, viscosity_mPa_s, edge_ang)
        values["diffusion_yh_cm2_s"] = (diffusion.d_cm2_s + delta, diffusion.sem_cm2_s, "cm^2/s",
                                        {"correction_cm2_s": delta, "viscosity_mPa_s": viscosity_mPa_s,
                                         "box_edge_ang": edge_ang, "xi": 2.837297})
    with session_scope(ws.db_url) as session:
        for obs_name, (value, sem, unit, method) in values.items():
            sem = None if sem is None else float(sem)
            row = get_or_create(session, Observable, {"md_run_id": md_run_id, "name": obs_name},
                                value=float(value), sem=sem, unit=unit, method=_plain(method))
            row.value, row.sem, row.method = float(value), sem, _plain(method)
        for fig_name, path in figures.items():
            record_artifact(session, f"md_run:{md_run_id}", fig_name, "plot", path)
    if not fluctuation["passes"]:
        logger.warning("%s: temperature fluctuations fail the canonical check (std ratio %.2f, mean %.1f K)", name,
                       fluctuation["std_ratio"], fluctuation["mean_K"])
    if not density.converged:
        logger.warning("%s: density is not equilibrated (%d of %d samples kept, %.1f independent): run longer",
                       name, density.n_samples, density.n_samples + density.equilibration_index, density.n_effective)
    logger.info("%s: density %.4f ± %.4f g/cm3, D %.3g ± %.2g cm2/s", name, density.mean, density.sem,
                diffusion.d_cm2_s, diffusion.sem_cm2_s)
    return md_run_id


def _element_pair_rdfs(traj: dict, first: int, analysis: Analysis) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Intra- and intermolecular g(r) of the configured element pairs present in the run."""
    cells = traj["cells"][first:]
    r_max = min(analysis.rdf_r_max, 0.5 * min(_widths(cell) for cell in cells) * 0.999)
    curves = {}
    for a, b in analysis.rdf_element_pairs:
        pair = (atomic_numbers[a], atomic_numbers[b])
        if not all(np.isin(pair, traj["numbers"])):
            continue
        for part in ("intra", "inter"):
            curves[f"{a}-{b} {part}"] = element_pair_rdf(traj["positions"][first:], cells, traj["numbers"], traj["mol_id"],
                                                         pair, r_max, analysis.rdf_bins, part=part)
    return curves


def _widths(cell: np.ndarray) -> float:
    """Smallest perpendicular width (Å) of a cell."""
    volume = abs(np.linalg.det(cell))
    return min(volume / np.linalg.norm(np.cross(cell[i - 1], cell[i - 2])) for i in range(3))


def _production_frames(traj: dict[str, np.ndarray], production_start_step: int, min_frames: int) -> dict[str, np.ndarray]:
    """``traj`` without its equilibration frames; ValueError if fewer than ``min_frames`` remain."""
    keep = traj["steps"] >= production_start_step
    if keep.sum() < min_frames:
        raise ValueError(f"the production part holds {keep.sum()} trajectory frames; diffusion needs at least "
                         f"{min_frames} (analysis.diffusion_blocks × {MIN_BLOCK_FRAMES}): run longer or store frames more often")
    per_frame = ("positions", "cells", "steps", "time_ps")
    return {key: value[keep] if key in per_frame else value for key, value in traj.items()}


def _first_equilibrated_frame(frame_times_ps: np.ndarray, equilibrated_ps: float, min_frames: int) -> int:
    """First trajectory frame after the density's equilibration, keeping at least ``min_frames`` frames."""
    first = int(np.searchsorted(frame_times_ps, equilibrated_ps))
    return max(0, min(first, len(frame_times_ps) - min_frames))


def _plain(method: dict) -> dict:
    """JSON-safe copy (numpy scalars to Python numbers)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in method.items()}
