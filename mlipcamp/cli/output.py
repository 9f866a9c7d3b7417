"""Output shared by the command groups: the consoles, tables, CSV, error exit and the stage progress bars."""

from __future__ import annotations

import csv
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn, Self

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from mlipcamp.db.engine import DatabaseError, session_scope
from mlipcamp.settings.campaign import Campaign, CampaignError
from mlipcamp.tables import format_value
from mlipcamp.tasks.workspace import Workspace

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def print_csv(rows: list[dict], columns: Sequence[str]) -> None:
    """Rows as CSV on standard output, only the named columns."""
    writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)


def print_table(rows: list[dict], columns: Sequence[str], title: str, title_columns: tuple[str, ...] = ()) -> None:
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


class StageProgress:
    """Progress bars per stage, read from the database every few seconds while the flow runs."""

    def __init__(self, ws: Workspace, campaign: Campaign, period_s: float = 2.0) -> None:
        self.ws, self.campaign, self.period_s = ws, campaign, period_s
        self.progress = Progress(
            TextColumn("{task.description:>9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.bars: dict[str, int] = {}

    def __enter__(self) -> Self:
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
        try:
            rows = stage_counts(self.ws, self.campaign)
        except Exception:
            return
        for row in rows:
            total = row["planned"]
            finished = row["done"] + row["failed"]
            note = f"[red]{row['failed']} failed[/]" if row["failed"] else ""
            if row["stage"] not in self.bars:
                self.bars[row["stage"]] = self.progress.add_task(row["stage"], total=total, note=note)
            self.progress.update(self.bars[row["stage"]], completed=finished, total=total, note=note)


def fail(message: str, code: int) -> NoReturn:
    err_console.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def stage_counts(ws: Workspace, campaign: Campaign) -> list[dict]:
    """Planned, done, failed and pending work per stage of a campaign, from its database."""
    from mlipcamp.db.queries import StagePlan, campaign_status

    sampled = campaign.sampling is not None
    plan = StagePlan(
        n_liquids=len(campaign.liquids),
        n_boxes=len(campaign.liquids) * (2 if sampled else 1),
        n_sample_sets=len(campaign.liquids) * len(campaign.sampling.temperatures) if sampled else 0,
        levels=campaign.computed_levels,
        data_kinds=campaign.computed_data_kinds,
        n_models=campaign.n_models,
    )
    with session_scope(ws.db_url) as session:
        return campaign_status(session, ws.campaign_id, plan)


WorkdirOpt = Annotated[
    Path | None, typer.Option("--workdir", "-w", help="where the database, file store, plots and report go [runs/NAME]")
]


def open_workspace(config: Path, workdir: Path | None, create: bool = False) -> tuple[Campaign, Workspace]:
    """Validate the campaign file and open (or, for ``run``, create) its database; exit with a message on error."""
    from mlipcamp.flows.runner import open_campaign

    try:
        return open_campaign(config, workdir, create)
    except CampaignError as exc:
        fail(str(exc), code=2)
    except DatabaseError as exc:
        fail(str(exc), code=3)
