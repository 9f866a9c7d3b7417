"""`mlipcamp sensitivity`: how much of an observable's spread over models comes from each training choice."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape

from mlipcamp.cli.output import WorkdirOpt, console, fail, open_workspace, print_csv, print_table
from mlipcamp.db.engine import session_scope
from mlipcamp.science.analysis.settings import MIN_BOOTSTRAP

if TYPE_CHECKING:
    import pandas as pd

EXTRA_COLUMNS = ("variance_low", "variance_high", "method")
UNSAFE = re.compile(r"[^\w.-]+")  # characters kept out of file names


def sensitivity(
    config: Annotated[
        Path | None, typer.Argument(help="campaign file (its stored results); or give --from-csv instead")
    ] = None,
    from_csv: Annotated[
        Path | None, typer.Option("--from-csv", help="CSV with one row per model: factor columns and observables")
    ] = None,
    factors: Annotated[
        str | None, typer.Option("--factors", help="comma-separated factor columns, e.g. level_of_theory,seed")
    ] = None,
    observable: Annotated[str | None, typer.Option("--observable", help="column of the observable")] = None,
    sem_column: Annotated[
        str | None, typer.Option("--sem-column", help="column of the observable's MD standard error")
    ] = None,
    replicate: Annotated[
        str | None, typer.Option("--replicate", help="innermost factor, one model per level and setting (the seed)")
    ] = None,
    nested: Annotated[
        str | None,
        typer.Option(
            "--nested",
            help="factors nested in others, 'factor:parent+parent,...', e.g. subset_replica:level_of_theory+data_kind",
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help=f"parametric-bootstrap refits (at least {MIN_BOOTSTRAP})")
    ] = 200,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="PNG: values by factor and variance shares (one per liquid)")
    ] = None,
    format: Annotated[Literal["table", "csv"], typer.Option("--format", "-f")] = "table",
    workdir: WorkdirOpt = None,
) -> None:
    """Variance components of observables over the training choices (REML, crossed random effects) with
    95 % parametric-bootstrap intervals, per liquid: a campaign's, as its last run stored them, or those
    of any CSV with one row per model (--from-csv; the 'liquid' column, when there is one)."""
    if config is not None and from_csv is not None:
        fail("give a campaign file CONFIG or --from-csv FILE, not both", code=2)
    if config is not None:
        _campaign(config, workdir, format)
        return
    if from_csv is None:
        fail("give a campaign file CONFIG or --from-csv FILE", code=2)
    if factors is None:
        fail("--factors is needed with --from-csv", code=2)
    if observable is None:
        fail("--observable is needed with --from-csv", code=2)
    if bootstrap < MIN_BOOTSTRAP:
        fail(f"--bootstrap must be at least {MIN_BOOTSTRAP} for a 95 % interval, got {bootstrap}", code=2)
    factor_list = _names(factors, "--factors")
    nesting = _nesting(nested, factor_list) if nested is not None else {}
    if plot is not None and plot.suffix.lower() != ".png":
        fail(escape(f"--plot must name a .png file, got {plot}"), code=2)
    frame = _read_csv(from_csv)
    named = [
        *((c, "--factors") for c in factor_list),
        (observable, "--observable"),
        *([(sem_column, "--sem-column")] if sem_column else []),
        *([(replicate, "--replicate")] if replicate else []),
        *((p, "--nested") for parents in nesting.values() for p in parents),
    ]
    options: dict[str, str] = {}
    for column, option in named:
        options.setdefault(column, option)
    missing = [f"{c} ({option})" for c, option in options.items() if c not in frame.columns]
    if missing:
        columns = ", ".join(map(str, frame.columns))
        fail(escape(f"{from_csv} has no column {', '.join(missing)}; its columns: {columns}"), code=2)
    for column, option in ((observable, "--observable"), (sem_column, "--sem-column")):
        if column:
            frame[column] = _numeric(frame, column, option, from_csv)

    from mlipcamp.science.sensitivity import SENSITIVITY_COLUMNS, sensitivity_table

    observables = {observable: sem_column}
    try:
        table = sensitivity_table(
            frame, observables, factor_list, replicate=replicate, nested=nesting, liquid="liquid", n_bootstrap=bootstrap
        )
    except ValueError as exc:
        fail(escape(f"{from_csv}: {exc}"), code=2)
    if format == "csv":
        print_csv(table, [*SENSITIVITY_COLUMNS, *EXTRA_COLUMNS])
    else:
        print_table(
            table, SENSITIVITY_COLUMNS, escape(f"{from_csv.name}: sensitivity"), ("liquid", "observable", "factor")
        )
        methods = {(row["liquid"], row["observable"]): row["method"] for row in table}
        for (liquid, name), method in methods.items():
            console.print(escape(f"{liquid} {name}".strip() + f": {method}"), highlight=False, soft_wrap=True)
    if plot is not None:
        written = _plots(frame, table, factor_list, observables, plot, from_csv.name)
        if format == "table":
            console.print(escape("plots: " + ", ".join(map(str, written))), highlight=False, soft_wrap=True)


def _campaign(config: Path, workdir: Path | None, format: str) -> None:
    """The stored compare stage of a campaign: variance components, then rankings and run outcomes."""
    from mlipcamp.db.queries import results_rows, stored_ranking, stored_sensitivity
    from mlipcamp.science.sensitivity import SENSITIVITY_COLUMNS, run_outcomes
    from mlipcamp.tables import RANKING_COLUMNS
    from mlipcamp.tasks.compare import FACTORS, REPLICATE

    campaign, ws = open_workspace(config, workdir)
    with session_scope(ws.db_url) as session:
        table = stored_sensitivity(session, ws.campaign_id)
        rankings = stored_ranking(session, ws.campaign_id)
        results = results_rows(session, ws.campaign_id, [liquid.name for liquid in campaign.liquids])
    if not table:
        fail(f"campaign {campaign.name} has no sensitivity table yet: run `mlipcamp run {config}`", code=2)
    if format == "csv":
        print_csv(table, [*SENSITIVITY_COLUMNS, *EXTRA_COLUMNS])
        return
    print_table(
        table, SENSITIVITY_COLUMNS, f"campaign {campaign.name}: sensitivity", ("liquid", "observable", "factor")
    )
    if rankings:
        print_table(rankings, RANKING_COLUMNS, "ranking of the levels of theory per data kind")
    outcomes = run_outcomes(results, [f for f in FACTORS if f != REPLICATE])
    if outcomes:
        print_table(outcomes, list(outcomes[0]), "MD runs per factor level (unstable, failed, unconverged: excluded)")


def _names(text: str, option: str) -> list[str]:
    """Comma-separated column names; exits with code 2 on an empty one."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        fail(escape(f"{option}: an empty name in '{text}' (expected names separated by commas)"), code=2)
    return names


def _nesting(text: str, factors: list[str]) -> dict[str, list[str]]:
    """'factor:parent+parent,...' as factor -> parents; exits with code 2 on a malformed entry."""
    nesting: dict[str, list[str]] = {}
    for entry in text.split(","):
        child, colon, parents = (part.strip() for part in entry.partition(":"))
        parent_list = [p.strip() for p in parents.split("+")]
        if not colon or not child or ":" in parents or not all(parent_list):
            fail(escape(f"--nested: '{entry.strip()}' is not FACTOR:PARENT+PARENT (in '{text}')"), code=2)
        if child not in factors:
            fail(escape(f"--nested: {child} is not one of --factors ({', '.join(factors)})"), code=2)
        if child in nesting:
            fail(escape(f"--nested: {child} is given twice"), code=2)
        if child in parent_list:
            fail(escape(f"--nested: {child} cannot be nested in itself"), code=2)
        nesting[child] = parent_list
    return nesting


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV as a table; exits with code 2 when it is missing, unreadable or empty."""
    import pandas as pd

    if not path.is_file():
        fail(escape(f"no such file: {path}"), code=2)
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # pandas raises parser, decoding and empty-data errors alike
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(escape(f"cannot read a CSV table from {path}: {message}"), code=2)
    if frame.empty:
        fail(escape(f"{path} has no rows"), code=2)
    return frame


def _numeric(frame: pd.DataFrame, column: str, option: str, path: Path) -> pd.Series:
    """The column as numbers (empty cells missing); exits with code 2 on a value that is not a number."""
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[column].notna() & values.isna()
    if bad.any():
        first = bad.to_numpy().nonzero()[0][0]
        fail(
            escape(
                f"{path}: {column} ({option}) is not numeric: '{frame[column].iloc[first]}' on line {first + 2}"
                + (f" and {int(bad.sum()) - 1} more" if bad.sum() > 1 else "")
            ),
            code=2,
        )
    return values


def _plots(
    frame: pd.DataFrame,
    table: list[dict],
    factors: list[str],
    observables: dict[str, str | None],
    path: Path,
    name: str,
) -> list[Path]:
    """One sensitivity figure per liquid; with several, the liquid's name suffixes the file's stem."""
    from mlipcamp.figures import sensitivity_plot

    liquids = frame["liquid"].fillna("").astype(str) if "liquid" in frame.columns else None
    names = sorted({row["liquid"] for row in table})
    written = []
    for liquid in names:
        rows = frame if liquids is None else frame[liquids == liquid]
        target = path
        if len(names) > 1:
            stem = UNSAFE.sub("_", liquid) or "unnamed"
            target = path.with_name(f"{path.stem}_{stem}{path.suffix}")
        title = f"{liquid}: sensitivity" if liquid else f"{name}: sensitivity"
        decomposition = [row for row in table if row["liquid"] == liquid]
        written.append(sensitivity_plot(rows.to_dict("records"), decomposition, factors, observables, target, title))
    return written
