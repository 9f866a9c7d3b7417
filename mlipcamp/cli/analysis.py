"""`mlipcamp analyse`: density and self-diffusion of an MD trajectory made outside a campaign."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape

from mlipcamp.cli.output import console, err_console, fail, print_csv, print_table

if TYPE_CHECKING:
    from mlipcamp.science.analysis.trajectory import TrajectoryAnalysis


def analyse(
    trajectory: Annotated[
        Path,
        typer.Argument(help="periodic trajectory with a cell on every frame (extxyz, ASE .traj, any format ASE reads)"),
    ],
    temperature: Annotated[str, typer.Option("--temperature", help="temperature of the run, with unit, e.g. '313K'")],
    frame_interval: Annotated[
        str, typer.Option("--frame-interval", help="time between frames, with unit, e.g. '10fs' or '0.5 ps'")
    ],
    viscosity: Annotated[
        str | None, typer.Option("--viscosity", help="shear viscosity, e.g. '1.9mPa*s': adds Yeh–Hummer corrected D")
    ] = None,
    plots: Annotated[Path | None, typer.Option("--plots", help="folder for density.png and msd.png")] = None,
    format: Annotated[Literal["table", "csv"], typer.Option("--format", "-f")] = "table",
    blocks: Annotated[int, typer.Option("--blocks", help="independent blocks for the error of D (at least 2)")] = 4,
) -> None:
    """Density (with its equilibration point and SEM) and self-diffusion coefficients (all molecules and per
    species, fit window and block error) of TRAJECTORY; molecules from covalent bonds in its first frame."""
    from ase.io import read
    from ase.io.formats import UnknownFileTypeError

    from mlipcamp.science.analysis.trajectory import ROW_COLUMNS, analyse_trajectory, check_frames

    temperature_K = _positive(temperature, "K", "--temperature")
    frame_interval_fs = _positive(frame_interval, "fs", "--frame-interval")
    viscosity_mPa_s = None if viscosity is None else _positive(viscosity, "mPa*s", "--viscosity")
    if blocks < 2:
        fail(f"--blocks must be at least 2 for an error bar, got {blocks}", code=2)
    if not trajectory.is_file():
        fail(escape(f"no such file: {trajectory}"), code=2)
    try:
        frames = read(trajectory, index=":")
    except UnknownFileTypeError as exc:
        fail(escape(f"cannot read a trajectory from {trajectory}: unknown file format ({exc})"), code=2)
    except Exception as exc:  # ASE's readers raise anything on a file they cannot parse
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        fail(escape(f"cannot read a trajectory from {trajectory}: {message}"), code=2)
    if not isinstance(frames, list):
        frames = [frames]
    try:
        check_frames(frames, blocks)
    except ValueError as exc:
        fail(escape(f"{trajectory}: {exc}"), code=2)

    result = analyse_trajectory(frames, frame_interval_fs, temperature_K, viscosity_mPa_s, n_blocks=blocks)
    if format == "csv":
        print_csv(result.rows, ROW_COLUMNS)
    else:
        print_table(result.rows, ROW_COLUMNS, escape(f"{trajectory.name}: {len(frames)} frames"))
        for row in result.rows:
            console.print(f"{row['observable']} {row['species']}".rstrip() + f": {row['detail']}", highlight=False)
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if plots is not None:
        written = _plots(result, plots, trajectory.name)
        if format == "table":
            console.print("plots: " + ", ".join(str(path) for path in written), highlight=False)


def _positive(text: str, unit: str, option: str) -> float:
    """Magnitude of the quantity ``text`` in ``unit``; exits with code 2 unless it has a unit and is positive."""
    from mlipcamp.schema import to_unit

    try:
        value = to_unit(text, unit)
    except ValueError as exc:
        fail(escape(f"{option}: {exc}"), code=2)
    if not math.isfinite(value) or value <= 0:
        fail(escape(f"{option} must be positive, got '{text}'"), code=2)
    return value


def _plots(result: TrajectoryAnalysis, folder: Path, name: str) -> list[Path]:
    """density.png (density against time, equilibration cut, mean ± SEM) and msd.png in ``folder``."""
    from mlipcamp.figures import plot_msd, plot_series

    density = result.density
    return [
        plot_series(
            result.time_ps,
            result.density_g_cm3,
            "time / ps",
            "density / g cm$^{-3}$",
            folder / "density.png",
            f"{name}: density",
            density.equilibration_index,
            density.mean,
            density.sem,
        ),
        plot_msd(*result.msd, result.diffusion, folder / "msd.png", f"{name}: COM mean-squared displacement"),
    ]
