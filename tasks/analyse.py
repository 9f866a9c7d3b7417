"""analyse: density, self-diffusion and RDF of an MD run, stored as observables, with plots."""

from __future__ import annotations

from prefect import get_run_logger, task

from mlipcamp.db.engine import session_scope
from mlipcamp.db.models import MDRun, Observable
from mlipcamp.db.queries import DIFFUSION_UNCONVERGED, observable_names, recorded_plots
from mlipcamp.db.records import get_or_create, record_artifact
from mlipcamp.figures import plot_energy, plot_msd, plot_rdf, plot_rdf_pairs, plot_series
from mlipcamp.science.analysis.md_run import RunAnalysis, analyse_md_run
from mlipcamp.science.analysis.settings import Analysis
from mlipcamp.science.md.files import read_md_log, read_trajectory
from mlipcamp.tasks.artifacts import publish_plots
from mlipcamp.tasks.workspace import Workspace

OBSERVABLES = ("density_g_cm3", "diffusion_cm2_s", "temperature_K", "temperature_fluctuation_ratio")


@task(retries=1)
def analyse_run(
    ws: Workspace, md_run_id: int | None, analysis: Analysis, viscosity_mPa_s: float | None = None
) -> int | None:
    """Store density, self-diffusion coefficient (per species in mixtures; Yeh–Hummer corrected when a
    viscosity is given), mean temperature and its fluctuation check of an MD run; write its plots.
    Runs stopped by the stability watch (status ``unstable``) are not analysed."""
    if md_run_id is None:
        return None
    logger = get_run_logger()
    with session_scope(ws.db_url) as session:
        run = session.get(MDRun, md_run_id)
        if run.status != "ok":
            return md_run_id
        if observable_names(session, md_run_id).issuperset(OBSERVABLES):
            _publish(run.name, recorded_plots(session, f"md_run:{md_run_id}"))
            return md_run_id
        name, temperature_K = run.name, run.temperature_k
        log, traj = read_md_log(ws.store.path(run.log_file)), read_trajectory(ws.store.path(run.trajectory_file))

    result = analyse_md_run(log, traj, analysis, temperature_K, viscosity_mPa_s)
    figures = _plots(result, ws, name)
    with session_scope(ws.db_url) as session:
        for obs_name, o in result.observables.items():
            row = get_or_create(
                session,
                Observable,
                {"md_run_id": md_run_id, "name": obs_name},
                value=o.value,
                sem=o.sem,
                unit=o.unit,
                method=o.method,
            )
            row.value, row.sem, row.method = o.value, o.sem, o.method
        for fig_name, path in figures.items():
            record_artifact(session, f"md_run:{md_run_id}", fig_name, "plot", path)
    _publish(name, figures)
    density, diffusion, fluctuation = result.density, result.diffusion, result.fluctuation
    if not fluctuation["passes"]:
        logger.warning(
            "%s: temperature fluctuations fail the canonical check (std ratio %.2f, mean %.1f K)",
            name,
            fluctuation["std_ratio"],
            fluctuation["mean_K"],
        )
    if not density.converged:
        logger.warning(
            "%s: density is not equilibrated (%d of %d samples kept, %.1f independent): run longer",
            name,
            density.n_samples,
            density.n_samples + density.equilibration_index,
            density.n_effective,
        )
    logger.info(
        "%s: density %.4f ± %.4f g/cm3, D %.3g ± %.2g cm2/s",
        name,
        density.mean,
        density.sem,
        diffusion.d_cm2_s,
        diffusion.sem_cm2_s,
    )
    return md_run_id


def _publish(name: str, figures: dict) -> None:
    """The run's plots, shown on its task run and flow run in the Prefect UI."""
    publish_plots(name, figures, f"{name}: density, temperature, MSD, RDFs and energy of the MD run")


def _plots(result: RunAnalysis, ws: Workspace, name: str) -> dict:
    """The run's figures by name: density, temperature, energy, MSD, RDFs."""
    log, density, temperature = result.log, result.density, result.temperature
    figures = {
        "density": plot_series(
            log["time_ps"],
            log["density_g_cm3"],
            "time / ps",
            "density / g cm$^{-3}$",
            ws.plot_path(name, "density"),
            f"{name}: density",
            density.equilibration_index,
            density.mean,
            density.sem,
        ),
        "temperature": plot_series(
            log["time_ps"],
            log["temperature_K"],
            "time / ps",
            "temperature / K",
            ws.plot_path(name, "temperature"),
            f"{name}: temperature",
            temperature.equilibration_index,
            temperature.mean,
            temperature.sem,
        ),
        "msd": plot_msd(
            *result.msd,
            result.diffusion,
            ws.plot_path(name, "msd"),
            f"{name}: COM mean-squared displacement" + ("" if density.converged else f"\n{DIFFUSION_UNCONVERGED}"),
        ),
        "rdf": plot_rdf(*result.com_rdf, ws.plot_path(name, "rdf"), f"{name}: centre-of-mass RDF"),
        "energy": plot_energy(
            log["time_ps"], log["epot_eV"], log["etot_eV"], ws.plot_path(name, "energy"), f"{name}: energy"
        ),
    }
    if result.pair_rdfs:
        figures["rdf_pairs"] = plot_rdf_pairs(
            result.pair_rdfs, ws.plot_path(name, "rdf_pairs"), f"{name}: element-pair RDFs"
        )
    return figures
