"""report: results table, comparison plot and a Prefect artifact."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact

from db.engine import session_scope
from db.queries import RESULT_COLUMNS, results_rows
from db.records import record_artifact
from tasks.report import markdown_table, plot_observables, write_csv
from tasks.workspace import Workspace


@task
def write_report(ws: Workspace, campaign_name: str, liquids: list[str]) -> str:
    """Write report.md, results.csv and observables.png under the work directory; return the report path."""
    workdir = Path(ws.workdir)
    with session_scope(ws.db_url) as session:
        rows = results_rows(session, ws.campaign_id, liquids)
    table = markdown_table(rows, RESULT_COLUMNS)
    csv_path = write_csv(rows, RESULT_COLUMNS, workdir / "results.csv")
    plot = plot_observables(rows, ws.plot_path("observables"), f"{campaign_name}: liquid properties per model")
    plots = sorted(p.name for p in ws.plots_dir.glob("*.png"))
    report = workdir / "report.md"
    report.write_text(
        f"# Campaign {campaign_name}\n\n"
        "Density and self-diffusion coefficient of molecular centres of mass per model (± standard error; "
        "density SEM corrected for autocorrelation after automatic equilibration detection, D from blocks).\n\n"
        f"{table}\n\n![observables](plots/{plot.name})\n\n## Plots\n\n"
        + "\n".join(f"- [{name}](plots/{name})" for name in plots) + "\n"
    )
    with session_scope(ws.db_url) as session:
        owner = f"campaign:{ws.campaign_id}"
        record_artifact(session, owner, "report", "report", report)
        record_artifact(session, owner, "results_csv", "report", csv_path)
        record_artifact(session, owner, "observables", "plot", plot)
    create_markdown_artifact(markdown=table, key=f"{campaign_name.lower().replace('_', '-')}-results",
                             description=f"{campaign_name}: results per model")
    return str(report)
