"""`mlipcamp label`, `import` and `export`: labelled structures in and out of a results database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from mlipcamp.cli.output import console, err_console, fail
from mlipcamp.db.engine import DatabaseError, init_db, redact, session_scope, sqlite_url
from mlipcamp.db.records import database_store
from mlipcamp.db.store import FileStore

DatabaseOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL [WORKDIR/mlipcamp.sqlite]")]


def label(
    structures: Annotated[Path, typer.Argument(help="structures to label (any format ASE reads, e.g. extxyz)")],
    method: Annotated[str, typer.Option("--method", "-m", help="level of theory, e.g. gfn2-xtb, pbe-d3bj/def2-svp")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="labelled extxyz: REF_energy eV, REF_forces eV/Å, REF_stress eV/Å³")
    ],
    threads: Annotated[int, typer.Option("--threads", min=1, help="OpenMP/BLAS threads")] = 1,
) -> None:
    """Label structures outside a campaign; failed structures are reported and left out of OUTPUT."""
    from ase.io import read

    from mlipcamp.science.datasets import write_extxyz
    from mlipcamp.science.qm import (
        UnknownLevelError,
        check_level_supports,
        get_level,
        label_structures,
    )

    try:
        level = get_level(method)
    except UnknownLevelError as exc:
        fail(str(exc), code=2)
    try:
        frames = read(structures, index=":")
    except (OSError, ValueError, StopIteration) as exc:
        fail(f"cannot read structures from {structures}: {exc}", code=2)
    if any(frame.pbc.any() for frame in frames):
        try:
            check_level_supports(level, periodic=True)
        except ValueError as exc:
            fail(f"{structures}: {exc}", code=2)
    with Progress(
        TextColumn("labelling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console
    ) as progress:
        bar = progress.add_task("label", total=len(frames))
        results = label_structures(
            frames, level, n_threads=threads, progress=lambda done, _total: progress.update(bar, completed=done)
        )
    good = [(frame, result) for frame, result in zip(frames, results, strict=True) if result.ok]
    for index, result in enumerate(results):
        if not result.ok:
            err_console.print(f"[yellow]structure {index} failed:[/] {result.error}", highlight=False)
    if good:
        write_extxyz(
            [f for f, _ in good],
            [r.energy_eV for _, r in good],
            [r.forces_eV_ang for _, r in good],
            [r.stress_eV_ang3 for _, r in good],
            path=output,
        )
    written = f"→ {output}" if good else f"nothing written to {output}"
    console.print(f"{len(good)}/{len(frames)} structures labelled with {level.name} {written}")
    if len(good) < len(frames):
        raise typer.Exit(1)


def import_(
    dataset: Annotated[Path, typer.Argument(help="labelled extxyz file")],
    level: Annotated[
        str, typer.Option("--level", "-l", help="level of theory that labelled it, e.g. b97-d3bj/def2-tzvp")
    ],
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="database and file store location")] = Path(
        "runs/imported"
    ),
    database_url: DatabaseOpt = None,
    name: Annotated[str | None, typer.Option(help="name of the set [file stem]")] = None,
    energy_key: str = "REF_energy",
    forces_key: str = "REF_forces",
    stress_key: str = "REF_stress",
    energy_unit: Annotated[str, typer.Option(help="eV, Hartree, kcal/mol or kJ/mol")] = "eV",
    length_unit: Annotated[str, typer.Option(help="Å or Bohr")] = "Å",
    data_kind: Annotated[
        Literal["cluster", "periodic"] | None, typer.Option(help="read every frame as this kind [from its pbc]")
    ] = None,
) -> None:
    """Import a labelled extxyz file into a results database under a declared level of theory."""
    from mlipcamp.science.datasets import DatasetFormatError
    from mlipcamp.science.qm import UnknownLevelError
    from mlipcamp.tasks.labelled_files import import_labelled_file

    url, store = _database(workdir, database_url, create=True)
    try:
        summary = import_labelled_file(
            url,
            store,
            dataset,
            level,
            name or dataset.stem,
            energy_key=energy_key,
            forces_key=forces_key,
            stress_key=stress_key,
            energy_unit=energy_unit,
            length_unit=length_unit,
            data_kind=data_kind,
        )
    except (DatasetFormatError, UnknownLevelError, FileNotFoundError, ValueError) as exc:
        fail(str(exc), code=2)
    console.print(
        f"{summary.n_structures} structures, {summary.n_new_labels} new labels at {summary.level_name} → {redact(url)}"
    )


def export(
    level: Annotated[
        str, typer.Option("--level", "-l", help="stored level name, e.g. gfn2-xtb or declared:pbe-d3bj/def2-svp")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="MACE-ready extxyz")],
    workdir: Annotated[Path, typer.Option("--workdir", "-w")] = Path("runs/demo"),
    database_url: DatabaseOpt = None,
    kind: Annotated[str | None, typer.Option(help="cluster or periodic [both]")] = None,
) -> None:
    """Export every good label at a level of theory as MACE-ready extxyz (REF_energy, REF_forces, REF_stress)."""
    from mlipcamp.science.datasets import export_extxyz
    from mlipcamp.tasks.labelled_files import stored_labels

    url, store = _database(workdir, database_url, create=False)
    structures = stored_labels(url, store, level, kind)
    if not structures:
        fail(f"no good labels at level {level!r}{f' of kind {kind}' if kind else ''} in {redact(url)}", code=2)
    export_extxyz(structures, output)
    console.print(f"{len(structures)} labelled structures → {output}")


def _database(workdir: Path, database_url: str | None, create: bool) -> tuple[str, FileStore]:
    """URL and file store of a results database outside a campaign file."""
    path = workdir.resolve() / "mlipcamp.sqlite"
    url = database_url or sqlite_url(path)
    if not create and database_url is None and not path.exists():
        fail(f"no results database in {workdir}", code=2)
    try:
        init_db(url)
    except DatabaseError as exc:
        fail(str(exc), code=3)
    with session_scope(url) as session:  # the store the database records, whichever campaign made it
        return url, FileStore(database_store(session, url, workdir.resolve() / "store"))
