"""PNG figures of MD analyses (matplotlib's object API with the Agg canvas: no pyplot state)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mlipcamp.science.analysis.diffusion import DiffusionResult
from mlipcamp.report.save import save_figure


def plot_series(
    x: np.ndarray,
    y: np.ndarray,
    xlabel: str,
    ylabel: str,
    path: str | Path,
    title: str,
    equilibration_index: int | None = None,
    mean: float | None = None,
    sem: float | None = None,
) -> Path:
    """Time series y(x) (labels carry the units), with the equilibration cut and mean ± SEM band."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(x, y, lw=0.8, color="tab:blue")
    if equilibration_index is not None:
        ax.axvline(x[equilibration_index], color="k", ls="--", lw=1, label="equilibrated from")
    if mean is not None:
        label = "mean" if sem is None else f"mean ± SEM ({mean:.4g} ± {sem:.2g})"
        ax.axhline(mean, color="tab:red", lw=1, label=label)
        if sem is not None:
            ax.axhspan(mean - sem, mean + sem, color="tab:red", alpha=0.3)
    if equilibration_index is not None or mean is not None:
        ax.legend(fontsize=8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return save_figure(fig, path)


def plot_msd(
    lags_ps: np.ndarray, msd_ang2: np.ndarray, fit: DiffusionResult | None, path: str | Path, title: str
) -> Path:
    """Log–log MSD (Å²) against lag time (ps); the fit window shaded with the 6Dt line."""
    lags_ps, msd_ang2 = np.asarray(lags_ps), np.asarray(msd_ang2)
    positive = lags_ps > 0
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.loglog(lags_ps[positive], msd_ang2[positive], color="tab:blue", label="MSD")
    if fit is not None:
        window = "fallback window" if fit.is_fallback else "fit window"
        ax.axvspan(fit.fit_start_ps, fit.fit_end_ps, color="tab:orange", alpha=0.25, label=window)
        d_ang2_ps = fit.d_cm2_s / 1e-4
        t = lags_ps[positive]
        ax.loglog(
            t, 6 * d_ang2_ps * t, "k--", lw=1,
            label=f"6Dt, D = {fit.d_cm2_s:.3g} ± {fit.sem_cm2_s:.2g} cm²/s",
        )
        ax.legend(fontsize=8)
    ax.set(xlabel="lag time (ps)", ylabel="MSD (Å²)", title=title)
    return save_figure(fig, path)


def plot_rdf(r: np.ndarray, g: np.ndarray, path: str | Path, title: str) -> Path:
    """g(r) against r (Å)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(r, g, color="tab:blue")
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set(xlabel="r (Å)", ylabel="g(r)", title=title)
    return save_figure(fig, path)


def plot_rdf_pairs(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str) -> Path:
    """Several g(r) curves, label → (r (Å), g), e.g. "O-H inter" and "O-H intra", on one axes."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, (r, g) in curves.items():
        ax.plot(r, g, lw=1, label=label)
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.legend(fontsize=8)
    ax.set(xlabel="r (Å)", ylabel="g(r)", title=title)
    return save_figure(fig, path)


def plot_energy(
    time_ps: np.ndarray, epot_eV: np.ndarray, etot_eV: np.ndarray, path: str | Path, title: str
) -> Path:
    """Potential and total energy (eV) of the logged MD steps against time (ps)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(time_ps, epot_eV, lw=0.8, color="tab:blue", label="potential")
    ax.plot(time_ps, etot_eV, lw=0.8, color="tab:red", label="total")
    ax.legend(fontsize=8)
    ax.set(xlabel="time (ps)", ylabel="energy (eV)", title=title)
    return save_figure(fig, path)
