"""analyse: density, self-diffusion and RDF of an MD run, with plots."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from prefect import get_run_logger, task
from sqlalchemy import select

from db.engine import session_scope
from db.models import MDRun, Observable
from db.records import get_or_create, record_artifact
from tasks.analysis.diffusion import MIN_BLOCK_FRAMES
from tasks.analysis import (
    com_rdf,
    diffusion_coefficient,
    equilibrated_mean,
    molecule_com_trajectory,
    msd_multi_origin,
    plot_msd,
    plot_rdf,
    plot_series,
    unwrap_npt,
)
from tasks.campaign import Analysis
from tasks.md import read_md_log, read_trajectory
from tasks.workspace import Workspace

OBSERVABLES = ("density_g_cm3", "diffusion_cm2_s", "temperature_K")


@task(retries=1)
def analyse_run(ws: Workspace, md_run_id: int | None, analysis: Analysis) -> int | None:
    """Store density, self-diffusion coefficient and mean temperature of an MD run; write its plots."""
    if md_run_id is None:
        return None
    logger = get_run_logger()
    with session_scope(ws.db_url) as session:
        run = session.get(MDRun, md_run_id)
        done = set(session.scalars(select(Observable.name).where(Observable.md_run_id == md_run_id)))
        if run.status != "ok" or done.issuperset(OBSERVABLES):
            return md_run_id
        name, log = run.name, read_md_log(ws.store.path(run.log_file))
        traj = read_trajectory(ws.store.path(run.trajectory_file))

    density = equilibrated_mean(log["density_g_cm3"])
    temperature = equilibrated_mean(log["temperature_K"])
    first = _first_equilibrated_frame(traj["time_ps"], log["time_ps"][density.equilibration_index],
                                      min_frames=MIN_BLOCK_FRAMES * analysis.diffusion_blocks)
    cells = traj["cells"][first:]
    com = molecule_com_trajectory(traj["positions"][first:], cells, traj["masses"], traj["mol_id"])
    unwrapped = unwrap_npt(com, cells)
    dt_ps = float(np.diff(traj["time_ps"][:2])[0])
    diffusion = diffusion_coefficient(unwrapped, dt_ps, n_blocks=analysis.diffusion_blocks)
    lags, msd = msd_multi_origin(unwrapped)
    r, g = com_rdf(com, cells, analysis.rdf_r_max, analysis.rdf_bins)
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
    }
    values = {
        "density_g_cm3": (density.mean, density.sem, "g/cm^3", asdict(density) | {"converged": density.converged}),
        "diffusion_cm2_s": (diffusion.d_cm2_s, diffusion.sem_cm2_s, "cm^2/s",
                            asdict(diffusion) | {"analysed_from_ps": equilibrated_from_ps}),
        "temperature_K": (temperature.mean, temperature.sem, "K", asdict(temperature) | {"converged": temperature.converged}),
    }
    with session_scope(ws.db_url) as session:
        for obs_name, (value, sem, unit, method) in values.items():
            row = get_or_create(session, Observable, {"md_run_id": md_run_id, "name": obs_name},
                                value=float(value), sem=float(sem), unit=unit, method=_plain(method))
            row.value, row.sem, row.method = float(value), float(sem), _plain(method)
        for fig_name, path in figures.items():
            record_artifact(session, f"md_run:{md_run_id}", fig_name, "plot", path)
    if not density.converged:
        logger.warning("%s: density is not equilibrated (%d of %d samples kept, %.1f independent): run longer",
                       name, density.n_samples, density.n_samples + density.equilibration_index, density.n_effective)
    logger.info("%s: density %.4f ± %.4f g/cm3, D %.3g ± %.2g cm2/s", name, density.mean, density.sem,
                diffusion.d_cm2_s, diffusion.sem_cm2_s)
    return md_run_id


def _first_equilibrated_frame(frame_times_ps: np.ndarray, equilibrated_ps: float, min_frames: int) -> int:
    """First trajectory frame after the density's equilibration, keeping at least ``min_frames`` frames."""
    first = int(np.searchsorted(frame_times_ps, equilibrated_ps))
    return max(0, min(first, len(frame_times_ps) - min_frames))


def _plain(method: dict) -> dict:
    """JSON-safe copy (numpy scalars to Python numbers)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in method.items()}
