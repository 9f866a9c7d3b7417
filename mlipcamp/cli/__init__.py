"""The ``mlipcamp`` command line: run a campaign, show its status, query its results."""

from __future__ import annotations

import csv
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlipcamp.db.engine import DatabaseError, init_db, redact, session_scope, sqlite_url
from mlipcamp.settings.campaign import Campaign, CampaignError
from mlipcamp.report.tables import format_value
from mlipcamp.db.store import FileStore
from mlipcamp.tasks.workspace import Workspace

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

ConfigArg = Annotated[Path, typer.Argument(help="campaign file (YAML)")]
WorkdirOpt = Annotated[
    Path | None, typer.Option("--workdir", "-w", help="where the database, file store, plots and report go [runs/NAME]")
]


def main() -> None:
    app()


@app.command()
def run(
    config: ConfigArg,
    workdir: WorkdirOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show Prefect's task logs")] = False,
) -> None:
    """Run or resume a campaign: only what is missing from the database is computed."""
    campaign, ws = _open(config, workdir, create=True)
    from mlipcamp.flows.runner import prefect_api, prefect_environment

    prefect_environment(Path(ws.workdir), verbose)
    started = time.perf_counter()
    console.print(f"[bold]campaign {campaign.name}[/] → {ws.workdir}")
    with prefect_api() as api_url:
        console.print(f"Prefect API: {api_url}")
        from mlipcamp.flows.runner import run as run_flow

        with _StageProgress(ws, campaign):
            try:
                report = run_flow(campaign, ws)
            except Exception as exc:  # the flow's failures are already logged by Prefect
                _fail(f"campaign {campaign.name} did not finish: {exc}", code=1)
    console.print(f"[green]done[/] in {time.perf_counter() - started:.0f} s")
    _print_failures(ws, campaign)
    _print_locations(ws, report)


@app.command()
def status(config: ConfigArg, workdir: WorkdirOpt = None) -> None:
    """Counts of done / failed / pending work per stage."""
    from mlipcamp.db.queries import campaign_status

    campaign, ws = _open(config, workdir)
    with session_scope(ws.db_url) as session:
        rows = campaign_status(session, ws.campaign_id, campaign)
    table = Table("stage", "planned", "done", "failed", "pending", title=f"campaign {campaign.name}")
    for row in rows:
        table.add_row(row["stage"], *(format_value(row[k]) for k in ("planned", "done", "failed", "pending")))
    console.print(table)


@app.command()
def results(
    config: ConfigArg,
    workdir: WorkdirOpt = None,
    format: Annotated[Literal["table", "csv"], typer.Option("--format", "-f")] = "table",
) -> None:
    """One row per model and liquid: factors, test errors, density and self-diffusion with standard errors."""
    from mlipcamp.db.queries import RESULT_COLUMNS, results_rows

    campaign, ws = _open(config, workdir)
    with session_scope(ws.db_url) as session:
        rows = results_rows(session, ws.campaign_id, [liquid.name for liquid in campaign.liquids])
    if format == "csv":
        _print_csv(rows, RESULT_COLUMNS)
        return
    _print_table(rows, RESULT_COLUMNS, f"campaign {campaign.name}", title_columns=("liquid", "model"))
    for row in rows:
        if row["md_error"]:
            err_console.print(f"[red]{row['liquid']} with {row['model']} {row['md_status']}:[/red] {row['md_error']}",
                              highlight=False)


@app.command()
def models(
    config: ConfigArg,
    workdir: WorkdirOpt = None,
    format: Annotated[Literal["table", "csv"], typer.Option("--format", "-f")] = "table",
) -> None:
    """One row per trained model: factors, purpose (grid, base, finetune, scan), training time per epoch,
    peak memory, and RMSE of energy and forces on train, validation and test sets."""
    from mlipcamp.db.queries import MODEL_COLUMNS, model_rows
    from mlipcamp.report.tables import external_test_rows, scan_table

    campaign, ws = _open(config, workdir)
    with session_scope(ws.db_url) as session:
        rows = model_rows(session, ws.campaign_id)
    if format == "csv":
        _print_csv(rows, MODEL_COLUMNS)
        return
    _print_table(rows, MODEL_COLUMNS, f"models of campaign {campaign.name}", title_columns=("model",))
    scan, scan_columns = scan_table(rows)
    if scan:
        _print_table(scan, scan_columns, "hyperparameter scan (test-set errors)")
    external = external_test_rows(rows)
    if external:
        _print_table(external, list(external[0]), "imported test sets")
    for row in rows:
        if row["status"] != "ok":
            err_console.print(f"[red]{row['model']} failed:[/red] {row['error']}")


def _print_csv(rows: list[dict], columns) -> None:  # noqa: ANN001
    """Rows as CSV on standard output, only the named columns."""
    writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)


def _print_table(rows: list[dict], columns, title: str, title_columns: tuple[str, ...] = ()) -> None:  # noqa: ANN001
    """A rich table, or one block per row when the table is wider than the terminal."""
    cells = [[format_value(row.get(c)) for c in columns] for row in rows]
    width = sum(max([len(c), *(len(r[i]) for r in cells)]) + 3 for i, c in enumerate(columns))
    if width <= console.width or not title_columns:
        table = Table(*columns, title=title)
        for row in cells:
            table.add_row(*row)
        console.print(table)
        return
    for row, values in zip(rows, cells, strict=True):
        block = Table("field", "value", title=" · ".join(str(row[c]) for c in title_columns), show_header=False)
        for column, value in zip(columns, values, strict=True):
            block.add_row(column, value)
        console.print(block)


@app.command()
def label(
    structures: Annotated[Path, typer.Argument(help="structures to label (any format ASE reads, e.g. extxyz)")],
    method: Annotated[str, typer.Option("--method", "-m", help="level of theory, e.g. gfn2-xtb, pbe-d3bj/def2-svp")],
    output: Annotated[Path, typer.Option("--output", "-o", help="labelled extxyz: REF_energy eV, REF_forces eV/Å, REF_stress eV/Å³")],
    threads: Annotated[int, typer.Option("--threads", min=1, help="OpenMP/BLAS threads")] = 1,
) -> None:
    """Label structures outside a campaign; failed structures are reported and left out of OUTPUT."""
    from ase.io import read

    from mlipcamp.science.datasets import write_extxyz
    from mlipcamp.science.qm import UnknownLevelError, check_level_supports, get_level, label_structures

    try:
        level = get_level(method)
    except UnknownLevelError as exc:
        _fail(str(exc), code=2)
    try:
        frames = read(structures, index=":")
    except (OSError, ValueError, StopIteration) as exc:
        _fail(f"cannot read structures from {structures}: {exc}", code=2)
    if any(frame.pbc.any() for frame in frames):
        try:
            check_level_supports(level, periodic=True)
        except ValueError as exc:
            _fail(f"{structures}: {exc}", code=2)
    with Progress(TextColumn("labelling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console) as progress:
        bar = progress.add_task("label", total=len(frames))
        results = label_structures(frames, level, n_threads=threads,
                                   progress=lambda done, _total: progress.update(bar, completed=done))
    good = [(frame, result) for frame, result in zip(frames, results, strict=True) if result.ok]
    for index, result in enumerate(results):
        if not result.ok:
            err_console.print(f"[yellow]structure {index} failed:[/] {result.error}", highlight=False)
    if good:
        write_extxyz([f for f, _ in good], output, [r.energy_eV for _, r in good], [r.forces_eV_ang for _, r in good],
                     [r.stress_eV_ang3 for _, r in good])
    console.print(f"{len(good)}/{len(frames)} structures labelled with {level.name} → {output}")
    if len(good) < len(frames):
        raise typer.Exit(1)


DatabaseOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL [WORKDIR/mlipcamp.sqlite]")]


@app.command("import")
def import_(
    dataset: Annotated[Path, typer.Argument(help="labelled extxyz file")],
    level: Annotated[str, typer.Option("--level", "-l", help="level of theory that labelled it, e.g. b97-d3bj/def2-tzvp")],
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="database and file store location")] = Path("runs/imported"),
    database_url: DatabaseOpt = None,
    name: Annotated[str | None, typer.Option(help="name of the set [file stem]")] = None,
    energy_key: str = "REF_energy",
    forces_key: str = "REF_forces",
    stress_key: str = "REF_stress",
    energy_unit: Annotated[str, typer.Option(help="eV, Hartree, kcal/mol or kJ/mol")] = "eV",
    length_unit: Annotated[str, typer.Option(help="Å or Bohr")] = "Å",
) -> None:
    """Import a labelled extxyz file into a results database under a declared level of theory."""
    from mlipcamp.db.imports import import_labelled_file
    from mlipcamp.science.datasets import DatasetFormatError
    from mlipcamp.science.qm import UnknownLevelError

    url, store = _database(workdir, database_url, create=True)
    try:
        summary = import_labelled_file(url, store, dataset, level, name or dataset.stem, energy_key=energy_key,
                                       forces_key=forces_key, stress_key=stress_key, energy_unit=energy_unit,
                                       length_unit=length_unit)
    except (DatasetFormatError, UnknownLevelError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc), code=2)
    console.print(f"{summary.n_structures} structures, {summary.n_new_labels} new labels at {summary.level_name} "
                  f"→ {redact(url)}")


@app.command()
def export(
    level: Annotated[str, typer.Option("--level", "-l", help="stored level name, e.g. gfn2-xtb or declared:pbe-d3bj/def2-svp")],
    output: Annotated[Path, typer.Option("--output", "-o", help="MACE-ready extxyz")],
    workdir: Annotated[Path, typer.Option("--workdir", "-w")] = Path("runs/demo"),
    database_url: DatabaseOpt = None,
    kind: Annotated[str | None, typer.Option(help="cluster or periodic [both]")] = None,
) -> None:
    """Export every good label at a level of theory as MACE-ready extxyz (REF_energy, REF_forces, REF_stress)."""
    from mlipcamp.db.queries import labelled_structures
    from mlipcamp.science.datasets import export_extxyz

    url, store = _database(workdir, database_url, create=False)
    with session_scope(url) as session:
        structures = labelled_structures(session, store, level, kind)
    if not structures:
        _fail(f"no good labels at level {level!r}{f' of kind {kind}' if kind else ''} in {redact(url)}", code=2)
    export_extxyz(structures, output)
    console.print(f"{len(structures)} labelled structures → {output}")


def _database(workdir: Path, database_url: str | None, create: bool) -> tuple[str, FileStore]:
    """URL and file store of a results database outside a campaign file."""
    path = workdir.resolve() / "mlipcamp.sqlite"
    url = database_url or sqlite_url(path)
    if not create and database_url is None and not path.exists():
        _fail(f"no results database in {workdir}", code=2)
    try:
        init_db(url)
    except DatabaseError as exc:
        _fail(str(exc), code=3)
    return url, FileStore(workdir.resolve() / "store")


def _open(config: Path, workdir: Path | None, create: bool = False) -> tuple[Campaign, Workspace]:
    """Validate the campaign file and open (or, for ``run``, create) its database; exit with a message on error."""
    from mlipcamp.flows.runner import open_campaign

    try:
        return open_campaign(config, workdir, create)
    except CampaignError as exc:
        _fail(str(exc), code=2)
    except DatabaseError as exc:
        _fail(str(exc), code=3)


def _print_locations(ws: Workspace, report: str) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("database", redact(ws.db_url))
    table.add_row("report", report)
    table.add_row("results", str(Path(ws.workdir) / "results.csv"))
    table.add_row("plots", str(ws.plots_dir))
    console.print(table)


def _print_failures(ws: Workspace, campaign: Campaign) -> None:
    from mlipcamp.db.queries import campaign_status

    with session_scope(ws.db_url) as session:
        failed = [f"{row['failed']} {row['stage']}" for row in campaign_status(session, ws.campaign_id, campaign) if row["failed"]]
    if failed:
        console.print(f"[yellow]recorded failures:[/] {', '.join(failed)} (reasons in the database and the Prefect logs)")


class _StageProgress:
    """Progress bars per stage, read from the database every few seconds while the flow runs."""

    def __init__(self, ws: Workspace, campaign: Campaign, period_s: float = 2.0):
        self.ws, self.campaign, self.period_s = ws, campaign, period_s
        self.progress = Progress(
            TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(), console=console, transient=False,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.bars: dict[str, int] = {}

    def __enter__(self) -> _StageProgress:
        self.progress.start()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._update()
        self.progress.stop()

    def _poll(self) -> None:
        while not self.stop.wait(self.period_s):
            self._update()

    def _update(self) -> None:
        from mlipcamp.db.queries import campaign_status

        try:
            with session_scope(self.ws.db_url) as session:
                rows = campaign_status(session, self.ws.campaign_id, self.campaign)
        except Exception:  # a busy database must never break the run; the next poll catches up
            return
        for row in rows:
            total = row["planned"]
            finished = row["done"] + row["failed"]
            note = f"[red]{row['failed']} failed[/]" if row["failed"] else ""
            if row["stage"] not in self.bars:
                self.bars[row["stage"]] = self.progress.add_task(row["stage"], total=total, note=note)
            self.progress.update(self.bars[row["stage"]], completed=finished, total=total, note=note)


def _fail(message: str, code: int) -> None:
    err_console.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)
