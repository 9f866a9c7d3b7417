"""report: results and model tables, comparison plots, and Prefect artifacts."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact

from mlipcamp.db.engine import session_scope
from mlipcamp.db.queries import (
    MODEL_COLUMNS,
    RESULT_COLUMNS,
    model_rows,
    results_rows,
    stored_ranking,
    stored_sensitivity,
)
from mlipcamp.db.records import record_artifact
from mlipcamp.figures import learning_curve_plot, plot_observables
from mlipcamp.science.evaluation import learning_curve_table
from mlipcamp.science.sensitivity import SENSITIVITY_COLUMNS, run_outcomes
from mlipcamp.tables import (
    error_summary,
    external_test_rows,
    learning_curve_rows,
    markdown_table,
    scan_table,
    sensitivity_markdown,
    write_csv,
)
from mlipcamp.tasks.artifacts import artifact_key, inline_images, publish_table
from mlipcamp.tasks.compare import FACTORS, REPLICATE
from mlipcamp.tasks.workspace import Workspace


@task
def write_report(ws: Workspace, campaign_name: str, liquids: list[str]) -> str:
    """Write report.md, results.csv, models.csv and the comparison plots under the work directory;
    publish the tables as Prefect artifacts; return the report path."""
    workdir = Path(ws.workdir)
    with session_scope(ws.db_url) as session:
        rows = results_rows(session, ws.campaign_id, liquids)
        models = model_rows(session, ws.campaign_id)
        components = stored_sensitivity(session, ws.campaign_id)
        rankings = stored_ranking(session, ws.campaign_id)
    results = markdown_table(rows, RESULT_COLUMNS)
    results_csv = write_csv(rows, RESULT_COLUMNS, workdir / "results.csv")
    sensitivity_csv = write_csv(components, [*SENSITIVITY_COLUMNS, "method"], workdir / "sensitivity.csv")
    outcomes = run_outcomes(rows, [f for f in FACTORS if f != REPLICATE])
    models_csv = write_csv(models, MODEL_COLUMNS, workdir / "models.csv")
    observables = plot_observables(rows, ws.plot_path("observables"), f"{campaign_name}: liquid properties per model")
    sections = [
        f"# Campaign {campaign_name}\n",
        "Density and self-diffusion coefficient of molecular centres of mass per model (± standard error; "
        "density SEM corrected for autocorrelation after automatic equilibration detection, D from blocks).\n",
        results,
        f"\n![observables](plots/{observables.name})\n",
        "## Sensitivity: where the spread comes from\n",
        sensitivity_markdown(components, rankings, outcomes) + "\n",
        *(f"![sensitivity {liquid}](plots/{ws.plot_path(liquid, 'sensitivity').name})\n" for liquid in liquids),
        "## Models\n\nTraining cost (peak memory: process RSS on CPU, torch's CUDA peak on GPU; MiB) and errors "
        "(energy meV/atom, forces meV/Å) per split. Also in `models.csv`.\n",
        markdown_table(models, MODEL_COLUMNS) + "\n",
    ]
    plots = {"observables": observables}
    curve = learning_curve_rows(models)
    if len({row["size"] for row in curve}) > 1:
        plots["learning_curve"] = learning_curve_plot(
            curve, ws.plot_path("learning_curve"), f"{campaign_name}: test-set errors against training-set size"
        )
        table = learning_curve_table(curve)
        sections += [
            "## Learning curve\n",
            markdown_table(table, list(table[0])),
            f"\n![learning curve](plots/{plots['learning_curve'].name})\n",
        ]
    scan, scan_columns = scan_table(models)
    if scan:
        sections += ["## Hyperparameter scan\n", markdown_table(scan, scan_columns) + "\n"]
    external = external_test_rows(models)
    if external:
        sections += ["## Imported test sets\n", markdown_table(external, list(external[0])) + "\n"]
    failed = [m for m in models if m["status"] != "ok"]
    if failed:
        sections += [
            "## Failed trainings\n",
            "The whole reason: `mlipcamp models` or the database.\n",
            *(f"- **{m['model']}**: {error_summary(m['error'])}" for m in failed),
            "",
        ]
    stopped = [r for r in rows if r["md_error"]]
    if stopped:
        sections += [
            "## MD runs stopped or failed\n",
            "Not analysed; the stability watch's or the error's reason.\n",
            *(f"- **{r['liquid']}** with **{r['model']}** ({r['md_status']}): {r['md_error']}" for r in stopped),
            "",
        ]
    plot_list = ["## Plots\n", *(f"- [{p.name}](plots/{p.name})" for p in sorted(ws.plots_dir.glob("*.png"))), ""]
    report = workdir / "report.md"
    report.write_text("\n".join(sections + plot_list))
    with session_scope(ws.db_url) as session:
        owner = f"campaign:{ws.campaign_id}"
        record_artifact(session, owner, "report", "report", report)
        record_artifact(session, owner, "results_csv", "report", results_csv)
        record_artifact(session, owner, "models_csv", "report", models_csv)
        record_artifact(session, owner, "sensitivity_csv", "report", sensitivity_csv)
        for name, path in plots.items():
            record_artifact(session, owner, name, "plot", path)
    key = artifact_key(campaign_name)
    on_disk = f"\n---\nOn disk: `{report}`, with `results.csv`, `models.csv`, `sensitivity.csv` and `plots/`.\n"
    create_markdown_artifact(
        markdown=inline_images("\n".join(sections), workdir) + on_disk,  # the plots are in the task runs
        key=f"{key}-report",
        description=f"{campaign_name}: the report, with its plots",
    )
    publish_table(f"{key}-results", rows, RESULT_COLUMNS, f"{campaign_name}: results per model and liquid")
    publish_table(f"{key}-models", models, MODEL_COLUMNS, f"{campaign_name}: training cost and errors per model")
    return str(report)
