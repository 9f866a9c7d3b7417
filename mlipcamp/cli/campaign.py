"""`mlipcamp plan`, `run`, `status`, `results` and `models`: plan and run a campaign, query its database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from mlipcamp.cli.output import (
    StageProgress,
    WorkdirOpt,
    console,
    err_console,
    fail,
    open_workspace,
    print_csv,
    print_table,
    stage_counts,
)
from mlipcamp.db.engine import redact, session_scope
from mlipcamp.settings.campaign import Campaign
from mlipcamp.tables import format_value
from mlipcamp.tasks.workspace import Workspace

ConfigArg = Annotated[Path, typer.Argument(help="campaign file (YAML)")]


def plan(
    config: ConfigArg,
    format: Annotated[Literal["table", "csv"], typer.Option("--format", "-f")] = "table",
) -> None:
    """What the campaign would compute, without computing it: its models with their factor values and
    MD runs, and the work per stage. CSV: one row per model."""
    from mlipcamp.plan import GROUP_COLUMNS, PLAN_COLUMNS, cost_plan, grouped_plan, model_plan, pool_warnings
    from mlipcamp.settings.campaign import CampaignError, load_campaign

    try:
        campaign = load_campaign(config)
    except CampaignError as exc:
        fail(str(exc), code=2)
    rows = model_plan(campaign)
    for line in pool_warnings(campaign):
        err_console.print(f"warning: {line}")
    if format == "csv":
        print_csv(rows, PLAN_COLUMNS)
        return
    print_table(grouped_plan(rows), GROUP_COLUMNS, f"campaign {campaign.name}: {len(rows)} models")
    print_table(cost_plan(campaign), ("stage", "what", "count"), "work per stage")
    console.print("One row per model: `mlipcamp plan CONFIG --format csv`")


class Unfinished(Exception):
    """The campaign flow stopped on an error; the message says why."""


def run(
    config: ConfigArg,
    workdir: WorkdirOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show Prefect's task logs")] = False,
) -> None:
    """Run or resume a campaign: only what is missing from the database is computed.

    One run per campaign at a time: a second one, in the same work directory or against the same
    database, is refused. Ctrl-C or SIGTERM stops the run and everything it started; running it
    again resumes."""
    started = time.perf_counter()
    from mlipcamp.flows.disk_space import require_free_space
    from mlipcamp.flows.run_lock import CampaignRunning, database_lease, workdir_lock
    from mlipcamp.flows.runner import (
        ClusterNotStarted,
        campaign_workdir,
        load_runnable,
        local_cluster,
        prefect_environment,
        starting_prefect_api,
    )
    from mlipcamp.plan import pool_warnings
    from mlipcamp.processes import interrupts_stop_the_run
    from mlipcamp.settings.campaign import CampaignError

    try:
        campaign = load_runnable(config)
    except CampaignError as exc:
        fail(str(exc), code=2)
    for line in pool_warnings(campaign):
        err_console.print(f"warning: {line}")
    path = campaign_workdir(campaign, workdir)
    stopped = f"interrupted; what finished is stored: resume with `mlipcamp run {config} --workdir {path}`"
    try:
        require_free_space(path)
        with workdir_lock(path, campaign.name):
            campaign, ws = open_workspace(config, path, create=True)
            with database_lease(ws.db_url, ws.campaign_id, campaign.name, ws.workdir):
                prefect_environment(path, verbose)
                console.print(f"[bold]campaign {campaign.name}[/] → {ws.workdir}")
                with interrupts_stop_the_run(f"error: {stopped}"), starting_prefect_api() as api:
                    import mlipcamp.flows.campaign_flow  # noqa: F401 (seconds of CPU, while the server starts)

                    with local_cluster(campaign) as cluster:  # its workers start while the server does
                        api.wait()
                        resume = f"resume with `mlipcamp run {config} --workdir {path}`"
                        _run(campaign, ws, api.url, cluster, started, resume)
    except Unfinished as exc:  # said after the server and the lease are gone, so it is the last line
        err_console.print()  # Prefect's "Error logging to API" ends without a newline
        fail(str(exc), code=1)
    except ClusterNotStarted as exc:
        fail(f"campaign {campaign.name} did not finish: {exc}", code=1)
    except CampaignRunning as exc:
        fail(str(exc), code=4)
    except CampaignError as exc:
        fail(str(exc), code=2)
    except KeyboardInterrupt:
        fail(stopped, code=130)


def _run(campaign: Campaign, ws: Workspace, api_url: str, cluster: object, started: float, resume: str) -> None:
    """The flow on ``cluster`` (None: the flow starts it), its progress and what it left; ``started``
    is when the command started (time.perf_counter)."""
    from mlipcamp.flows.disk_space import disk_full
    from mlipcamp.flows.runner import run as run_flow

    console.print(f"Prefect API: {api_url}")
    with StageProgress(ws, campaign):
        try:
            report = run_flow(campaign, ws, cluster)
        except Exception as exc:
            if full := disk_full(Path(ws.workdir), exc):
                raise Unfinished(f"campaign {campaign.name} did not finish: {full}; free some, then {resume}") from exc
            raise Unfinished(f"campaign {campaign.name} did not finish: {exc}") from exc
    console.print(f"[green]done[/] in {time.perf_counter() - started:.0f} s")
    _print_sensitivity(ws, campaign.name)
    _print_failures(ws, campaign)
    _print_locations(ws, report)


def deploy(
    config: ConfigArg,
    cron: Annotated[str, typer.Option("--cron", help="when to run, a cron expression in UTC, e.g. '0 2 * * *'")],
    workdir: WorkdirOpt = None,
    pool: Annotated[str, typer.Option("--pool", help="Prefect work pool (a process pool, created if missing)")] = (
        "mlipcamp"
    ),
    name: Annotated[str | None, typer.Option("--name", help="deployment name [the campaign's]")] = None,
) -> None:
    """Make the campaign a scheduled deployment on the Prefect server at PREFECT_API_URL: each run
    resumes it. Then run `prefect worker start --pool POOL` where the runs should execute."""
    import os

    from mlipcamp.flows.deployment import deploy_campaign
    from mlipcamp.flows.runner import campaign_workdir, load_runnable
    from mlipcamp.settings.campaign import CampaignError

    if not os.environ.get("PREFECT_API_URL"):
        fail(
            "deploy needs a Prefect server that stays up: `prefect server start`, then "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api",
            code=2,
        )
    try:
        campaign = load_runnable(config)
        path = campaign_workdir(campaign, workdir)
        deployed = deploy_campaign(config.resolve(), path, cron, pool, name or campaign.name)
    except CampaignError as exc:
        fail(str(exc), code=2)
    console.print(f"deployment [bold]{deployed}[/]: '{cron}' (UTC) on work pool {pool}, resuming {path}")
    console.print(f"runs start once a worker polls the pool: prefect worker start --pool {pool}")


def status(config: ConfigArg, workdir: WorkdirOpt = None) -> None:
    """Counts of done / failed / pending work per stage."""
    campaign, ws = open_workspace(config, workdir)
    rows = stage_counts(ws, campaign)
    table = Table("stage", "planned", "done", "failed", "pending", title=f"campaign {campaign.name}")
    for row in rows:
        table.add_row(row["stage"], *(format_value(row[k]) for k in ("planned", "done", "failed", "pending")))
    console.print(table)


def results(
    config: ConfigArg,
    workdir: WorkdirOpt = None,
    format: Annotated[Literal["table", "csv"], typer.Option("--format", "-f")] = "table",
) -> None:
    """One row per model and liquid: factors, test errors, density and self-diffusion with standard errors."""
    from mlipcamp.db.queries import RESULT_COLUMNS, results_rows

    campaign, ws = open_workspace(config, workdir)
    with session_scope(ws.db_url) as session:
        rows = results_rows(session, ws.campaign_id, [liquid.name for liquid in campaign.liquids])
    if format == "csv":
        print_csv(rows, RESULT_COLUMNS)
        return
    print_table(rows, RESULT_COLUMNS, f"campaign {campaign.name}", title_columns=("liquid", "model"))
    for row in rows:
        if row["md_error"]:
            err_console.print(
                f"[red]{row['liquid']} with {row['model']} {row['md_status']}:[/red] {row['md_error']}", highlight=False
            )


def models(
    config: ConfigArg,
    workdir: WorkdirOpt = None,
    format: Annotated[Literal["table", "csv"], typer.Option("--format", "-f")] = "table",
) -> None:
    """One row per trained model: factors, purpose (grid, base, finetune, scan), training time per epoch,
    peak memory, and RMSE of energy and forces on train, validation and test sets and on each imported
    test set (CSV columns test_set_<name>_rmse_...)."""
    from mlipcamp.db.queries import MODEL_COLUMNS, TEST_SET_PREFIX, model_rows
    from mlipcamp.tables import external_test_rows, scan_table

    campaign, ws = open_workspace(config, workdir)
    with session_scope(ws.db_url) as session:
        rows = model_rows(session, ws.campaign_id)
    if format == "csv":
        test_sets = dict.fromkeys(c for row in rows for c in row if c.startswith(TEST_SET_PREFIX))
        print_csv(rows, [*MODEL_COLUMNS, *test_sets])
        return
    print_table(rows, MODEL_COLUMNS, f"models of campaign {campaign.name}", title_columns=("model",))
    scan, scan_columns = scan_table(rows)
    if scan:
        print_table(scan, scan_columns, "hyperparameter scan (test-set errors)")
    external = external_test_rows(rows)
    if external:
        print_table(external, list(external[0]), "imported test sets")
    for row in rows:
        if row["status"] != "ok":
            err_console.print(f"[red]{row['model']} failed:[/red] {row['error']}")


def _print_locations(ws: Workspace, report: str) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("database", redact(ws.db_url))
    table.add_row("report", report)
    table.add_row("results", str(Path(ws.workdir) / "results.csv"))
    table.add_row("plots", str(ws.plots_dir))
    console.print(table)


def _print_sensitivity(ws: Workspace, name: str) -> None:
    """The compare stage's variance components, as the report shows them."""
    from mlipcamp.db.queries import stored_sensitivity
    from mlipcamp.tables import sensitivity_summary

    with session_scope(ws.db_url) as session:
        rows = sensitivity_summary(stored_sensitivity(session, ws.campaign_id))
    if rows:
        print_table(rows, list(rows[0]), f"campaign {name}: share of each observable's variance per factor")
        console.print("All of it with variances and methods: `mlipcamp sensitivity CONFIG`, sensitivity.csv, report.md")


def _print_failures(ws: Workspace, campaign: Campaign) -> None:
    failed = [f"{row['failed']} {row['stage']}" for row in stage_counts(ws, campaign) if row["failed"]]
    if failed:
        console.print(
            f"[yellow]recorded failures:[/] {', '.join(failed)} (reasons in the database and the Prefect logs)"
        )
