"""compare: how much of each observable's spread over the campaign's models comes from each factor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from mlipcamp.db.engine import session_scope
from mlipcamp.db.queries import TEST_SET_PREFIX, recorded_plots, results_rows, stored_ranking, stored_sensitivity
from mlipcamp.db.records import record_artifact, replace_sensitivity
from mlipcamp.figures import sensitivity_plot
from mlipcamp.science.analysis.settings import Sensitivity
from mlipcamp.science.sensitivity import SENSITIVITY_COLUMNS, ranking_stability, run_outcomes, sensitivity_table
from mlipcamp.tables import sensitivity_markdown
from mlipcamp.tasks.artifacts import artifact_key, publish_plots, publish_table
from mlipcamp.tasks.keys import step_key
from mlipcamp.tasks.workspace import Workspace

# The training choices a model's row carries; a subset replica is a draw from its level, kind, size
# and purpose; the seed is the innermost replicate.
FACTORS = ("level_of_theory", "data_kind", "dataset_size", "purpose", "subset_replica", "seed")
NESTED = {"subset_replica": ("level_of_theory", "data_kind", "dataset_size", "purpose")}
REPLICATE = "seed"
MD_OBSERVABLE_PREFIXES = ("density_g_cm3", "diffusion_cm2_s", "diffusion_yh_cm2_s")
MODEL_OBSERVABLES = ("rmse_e_test_mev_per_atom", "rmse_f_test_mev_per_ang")


def observation_table(results: Sequence[Mapping]) -> tuple[list[dict], dict[str, str | None]]:
    """One row per model and liquid with its factors and observables, and the observables to
    decompose (column -> standard-error column). An MD observable is left empty, so excluded, when
    its run is not ``ok`` (unstable, failed, missing) or its density did not converge: a gas or a
    collapsing box has no liquid property."""
    observables: dict[str, str | None] = dict.fromkeys(MODEL_OBSERVABLES)
    rows = []
    for result in results:
        row = {key: result[key] for key in ("liquid", "model", *FACTORS)}
        row |= {name: result[name] for name in MODEL_OBSERVABLES} | result["test_set_errors"]
        observables |= dict.fromkeys(result["test_set_errors"])
        usable = result["md_status"] == "ok" and result["density_converged"] is True
        for name, (value, sem) in result["observables"].items():
            if name.startswith(MD_OBSERVABLE_PREFIXES):
                observables[name] = f"{name}_sem"
                row |= {name: value if usable else None, f"{name}_sem": sem if usable else None}
        rows.append(row)
    for row in rows:  # observables some runs lack (a species, a failed run) are empty there
        row.update({k: None for k in (*observables, *filter(None, observables.values())) if k not in row})
    return rows, dict(sorted(observables.items(), key=lambda item: (is_model_observable(item[0]), item[0])))


def is_model_observable(name: str) -> bool:
    """Whether an observable is a model's (test errors, the same in every liquid), not an MD run's."""
    return name in MODEL_OBSERVABLES or name.startswith(TEST_SET_PREFIX)


def ranking_rows(rows: Sequence[Mapping], observables: Mapping[str, str | None]) -> list[dict]:
    """Ranking stability of the levels of theory per liquid, observable and data kind, where at
    least two levels meet in two complete seed/subset draws."""
    table = []
    for liquid in sorted({r["liquid"] for r in rows}):
        for kind in sorted({r["data_kind"] for r in rows}):
            group = [r for r in rows if r["liquid"] == liquid and r["data_kind"] == kind]
            for observable in observables:
                try:
                    result = ranking_stability(
                        group, observable, "level_of_theory", ["dataset_size", "purpose", "subset_replica", "seed"]
                    )
                except ValueError:  # fewer than two levels or draws: no ranking to speak of
                    continue
                table.append(
                    {
                        "liquid": liquid,
                        "observable": observable,
                        "data_kind": kind,
                        "order": result.order,
                        "kendall_w": result.kendall_w,
                        "agreeing_fraction": result.agreeing_fraction,
                        "n_draws": result.n_draws,
                        "min_resolvable_difference": result.min_resolvable_difference,
                    }
                )
    return table


@task
def compare_models(ws: Workspace, campaign_name: str, liquids: list[str], settings: Sensitivity) -> list[dict]:
    """Variance components of every observable per liquid over the campaign's factors, ranking
    stability of the levels of theory per data kind, run outcomes per factor level; stored, plotted
    per liquid and published as a Prefect artifact. Recomputed only when the results changed."""
    with session_scope(ws.db_url) as session:
        results = results_rows(session, ws.campaign_id, liquids)
    rows, observables = observation_table(results)
    key = step_key(
        "compare", rows=rows, factors=FACTORS, nested=NESTED, replicate=REPLICATE, bootstrap=settings.n_bootstrap
    )
    with session_scope(ws.db_url) as session:
        stored = stored_sensitivity(session, ws.campaign_id)
    if not (stored and all(row["input_key"] == key for row in stored)):
        _decompose(ws, campaign_name, liquids, rows, observables, key, settings.n_bootstrap)
    with session_scope(ws.db_url) as session:
        stored, rankings = stored_sensitivity(session, ws.campaign_id), stored_ranking(session, ws.campaign_id)
        figures = {
            liquid: recorded_plots(session, f"campaign:{ws.campaign_id}").get(f"sensitivity_{liquid}")
            for liquid in liquids
        }
    outcomes = run_outcomes(results, [f for f in FACTORS if f != REPLICATE])
    prefix = artifact_key(campaign_name)
    publish_table(
        f"{prefix}-sensitivity",
        stored,
        SENSITIVITY_COLUMNS,
        f"{campaign_name}: variance components of every observable",
    )
    create_markdown_artifact(
        markdown=sensitivity_markdown(stored, rankings, outcomes),
        key=f"{prefix}-sensitivity-summary",
        description=f"{campaign_name}: what the sensitivity table says, ranking stability, run outcomes",
    )
    publish_plots(
        f"{campaign_name}: where the spread comes from",
        {liquid: path for liquid, path in figures.items() if path},
        f"{campaign_name}: sensitivity figures",
        key=f"{prefix}-sensitivity-figures",
    )
    return stored


def _decompose(
    ws: Workspace,
    campaign_name: str,
    liquids: list[str],
    rows: list[dict],
    observables: dict,
    key: str,
    n_bootstrap: int,
) -> None:
    """Compute, plot and store the variance components and rankings of the observation table ``rows``."""
    # A model's test errors do not depend on the liquid: decomposed once, over the models (liquid "").
    md = {name: sem for name, sem in observables.items() if not is_model_observable(name)}
    models = {name: sem for name, sem in observables.items() if is_model_observable(name)}
    per_model = list({row["model"]: row | {"liquid": ""} for row in rows}.values())
    components = [
        *sensitivity_table(per_model, models, FACTORS, REPLICATE, NESTED, n_bootstrap=n_bootstrap),
        *sensitivity_table(rows, md, FACTORS, REPLICATE, NESTED, n_bootstrap=n_bootstrap),
    ]
    rankings = [*ranking_rows(per_model, models), *ranking_rows(rows, md)]
    figures = {
        liquid: sensitivity_plot(
            [r for r in rows if r["liquid"] == liquid],
            [c for c in components if c["liquid"] in (liquid, "")],
            FACTORS,
            observables,
            ws.plot_path(liquid, "sensitivity"),
            f"{campaign_name} {liquid}: where the spread comes from",
        )
        for liquid in liquids
    }
    with session_scope(ws.db_url) as session:
        replace_sensitivity(session, ws.campaign_id, key, components, rankings)
        for liquid, path in figures.items():
            record_artifact(session, f"campaign:{ws.campaign_id}", f"sensitivity_{liquid}", "plot", path)
    get_run_logger().info(
        "compare: %d components of %d observables, %d rankings", len(components), len(observables), len(rankings)
    )
