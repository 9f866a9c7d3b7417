"""Every PNG figure of a campaign: MD analyses, model errors (parity, force decomposition, learning
curves) and the comparison of liquid properties across models. Made with matplotlib's object API
and saved through the Agg canvas: no pyplot state, so safe in workers and threads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:  # an annotation only: mlipcamp.science.analysis imports this module
    from mlipcamp.science.analysis.diffusion import DiffusionResult


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Lay out ``fig`` and write it as a 120-dpi PNG at ``path`` (parent folders created); return the path.

    A figure made with a layout engine of its own (e.g. ``layout="constrained"``) keeps it; any other
    is laid out with ``tight_layout``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


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
            t,
            6 * d_ang2_ps * t,
            "k--",
            lw=1,
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


def plot_energy(time_ps: np.ndarray, epot_eV: np.ndarray, etot_eV: np.ndarray, path: str | Path, title: str) -> Path:
    """Potential and total energy (eV) of the logged MD steps against time (ps)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(time_ps, epot_eV, lw=0.8, color="tab:blue", label="potential")
    ax.plot(time_ps, etot_eV, lw=0.8, color="tab:red", label="total")
    ax.legend(fontsize=8)
    ax.set(xlabel="time (ps)", ylabel="energy (eV)", title=title)
    return save_figure(fig, path)


def parity_plot(
    ref_energies_eV: Sequence[float],
    pred_energies_eV: Sequence[float],
    n_atoms: Sequence[int],
    ref_forces: Sequence[np.ndarray],
    pred_forces: Sequence[np.ndarray],
    path: Path,
    title: str,
) -> Path:
    """PNG with parity panels for energy per atom (eV/atom) and force components (eV/Å); returns ``path``."""
    from mlipcamp.science.evaluation import error_metrics

    metrics = error_metrics(ref_energies_eV, pred_energies_eV, n_atoms, ref_forces, pred_forces)
    n = np.asarray(n_atoms, dtype=float)
    panels = [
        (
            np.asarray(ref_energies_eV, dtype=float) / n,
            np.asarray(pred_energies_eV, dtype=float) / n,
            "energy (eV/atom)",
            f"RMSE {metrics['rmse_e_mev_per_atom']:.2f} meV/atom",
        ),
        (
            np.concatenate([np.asarray(f, dtype=float).reshape(-1) for f in ref_forces]),
            np.concatenate([np.asarray(f, dtype=float).reshape(-1) for f in pred_forces]),
            "force component (eV/Å)",
            f"RMSE {metrics['rmse_f_mev_per_ang']:.1f} meV/Å",
        ),
    ]
    fig = Figure(figsize=(9, 4.2))
    FigureCanvasAgg(fig)  # Agg canvas, no pyplot state: safe in workers and threads
    axes = fig.subplots(1, 2)
    for ax, (ref, pred, label, note) in zip(axes, panels, strict=True):
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=1)
        ax.scatter(ref, pred, s=6, alpha=0.6)
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.text(0.04, 0.94, note, transform=ax.transAxes, va="top")
        ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(title)
    return save_figure(fig, path)


def decomposition_plot(errors: dict[str, dict[str, float]], path: Path, title: str) -> Path:
    """PNG bar chart of the relative RMSE (%) of each force component; returns ``path``."""
    names = list(errors)
    fig = Figure(figsize=(5.5, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    values = [100 * errors[n]["relative_rmse"] for n in names]
    bars = ax.bar(names, values, color=["tab:blue", "tab:orange", "tab:green"][: len(names)])
    for bar, name in zip(bars, names, strict=True):
        ax.annotate(
            f"{errors[name]['rmse_mev_per_ang']:.0f} meV/Å",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("relative force RMSE / %")
    ax.set_title(title)
    return save_figure(fig, path)


def learning_curve_plot(rows: Sequence[dict], path: Path, title: str) -> Path:
    """PNG with log-log learning curves of energy (meV/atom) and force (meV/Å) test RMSE; returns ``path``.

    Rows as for :func:`mlipcamp.science.evaluation.learning_curve_table`: every model is a marker, and a line per series joins
    the means at each training-set size. None RMSEs are skipped.
    """
    from mlipcamp.science.evaluation import learning_curve_table

    table = learning_curve_table(rows)
    series_names = sorted({entry["series"] for entry in table})
    colours = {name: f"C{k % 10}" for k, name in enumerate(series_names)}
    panels = [
        ("rmse_e_mev_per_atom", "rmse_e_mean", "energy RMSE (meV/atom)"),
        ("rmse_f_mev_per_ang", "rmse_f_mean", "force RMSE (meV/Å)"),
    ]
    fig = Figure(figsize=(9, 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for ax, (key, mean_key, label) in zip(axes, panels, strict=True):
        for name in series_names:
            models = [(r["size"], r[key]) for r in rows if str(r["series"]) == name and r[key] is not None]
            means = [(e["size"], e[mean_key]) for e in table if e["series"] == name and e[mean_key] is not None]
            if not models:
                continue
            ax.scatter(*zip(*models, strict=True), s=14, alpha=0.6, color=colours[name])
            ax.plot(*zip(*means, strict=True), marker="o", ms=5, mfc="white", color=colours[name], label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training structures")
        ax.set_ylabel(f"test {label}")
        if ax.has_data():
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_observables(rows: Sequence[dict], path: Path, title: str) -> Path:
    """Density and self-diffusion coefficient (± SEM) of every model and liquid, side by side. Runs
    whose density did not converge are drawn hollow and red and labelled: their D is not a liquid's."""
    done = [r for r in rows if r.get("density_g_cm3") is not None]
    fig = Figure(figsize=(10, 0.5 * max(len(done), 2) + 2), layout="constrained")
    axes = fig.subplots(1, 2)
    labels = [
        f"{r['liquid']} · {r['model']}" + ("\n(density not converged)" if not r["density_converged"] else "")
        for r in done
    ]
    for ax, key, unit, scale in (
        (axes[0], "density", "g cm$^{-3}$", 1.0),
        (axes[1], "diffusion", "10$^{-6}$ cm$^2$ s$^{-1}$", 1e6),
    ):
        value_key = f"{key}_g_cm3" if key == "density" else f"{key}_cm2_s"
        sem_key = f"{key}_sem_g_cm3" if key == "density" else f"{key}_sem_cm2_s"
        for converged, style in ((True, {"color": "C0"}), (False, {"color": "C3", "mfc": "none"})):
            index = [i for i, r in enumerate(done) if bool(r["density_converged"]) == converged]
            if index:
                ax.errorbar(
                    [done[i][value_key] * scale for i in index],
                    index,
                    xerr=[(done[i][sem_key] or 0) * scale for i in index],
                    fmt="o",
                    capsize=3,
                    **style,
                    label="converged density" if converged else "density not converged",
                )
        ax.set_yticks(range(len(done)), labels)
        ax.set_xlabel(f"{key} / {unit}")
        ax.grid(alpha=0.3)
    axes[1].set_yticklabels([])
    if any(not r["density_converged"] for r in done):
        axes[1].legend(loc="best", fontsize="small")
    fig.suptitle(title)
    return save_figure(fig, path)


def sensitivity_plot(
    observations: Sequence[Mapping],
    decomposition: Sequence[Mapping],
    factors: Sequence[str],
    observables: Mapping[str, str | None],
    path: str | Path,
    title: str,
) -> Path:
    """One liquid's sensitivity to its training choices: a row of two panels per observable (value
    column -> its standard-error column or None). Left, every model's value (± its standard error)
    along x by the level of the factor with the largest share (the first factor without shares),
    coloured by the next factor that varies, jittered; right, each component's share of the variance
    with its 95 % interval (rows of ``mlipcamp.science.sensitivity.sensitivity_table``), the residual
    grey, components not resolved above the MD noise hatched. An observable that was not decomposed
    shows why instead of the bars. Axes are labelled with the column names (their units)."""
    from matplotlib.patches import Patch

    from mlipcamp.science.sensitivity import RESIDUAL

    names = list(observables)
    fig = Figure(figsize=(11, 3.4 * max(len(names), 1) + 0.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(len(names), 1), 2, squeeze=False)
    for (left, right), observable in zip(axes, names, strict=False):
        components = [r for r in decomposition if r.get("observable") == observable]
        numbered = [r for r in components if _number(r.get("share")) is not None]
        shares = {r["factor"]: _number(r["share"]) for r in numbered if r["factor"] in factors}
        by_share = sorted(shares, key=lambda f: -shares[f]) + [f for f in factors if f not in shares]
        _sensitivity_values(left, observations, observable, observables[observable], by_share)
        if not numbered:
            reason = next((str(r.get("method", "")) for r in components), "") or "not decomposed"
            right.text(0.5, 0.5, _wrap(reason, 60), ha="center", va="center", fontsize=8, transform=right.transAxes)
            right.set_axis_off()
            continue
        y = np.arange(len(numbered))
        share = np.array([_number(r["share"]) for r in numbered])
        low = np.array([_number(r.get("share_low")) for r in numbered], dtype=float)
        high = np.array([_number(r.get("share_high")) for r in numbered], dtype=float)
        whiskers = np.clip([np.nan_to_num(share - low), np.nan_to_num(high - share)], 0.0, None)
        unresolved = [str(r.get("resolved_above_md_noise")).lower() == "false" for r in numbered]
        bars = right.barh(
            y,
            share,
            xerr=whiskers,
            color=["0.65" if r["factor"] == RESIDUAL else "tab:blue" for r in numbered],
            edgecolor="k",
            linewidth=0.6,
            error_kw={"capsize": 3, "lw": 1},
        )
        for bar, hatched in zip(bars, unresolved, strict=True):
            if hatched:
                bar.set_hatch("///")
        right.set_yticks(y, [str(r["factor"]) for r in numbered])
        right.invert_yaxis()
        right.set_xlim(0, 1)
        right.set_xlabel(f"share of the variance of {observable}")
        n_models = numbered[0].get("n_models")
        right.set_title(f"variance shares, 95 % intervals ({n_models} models)", fontsize=9)
        handles = [Patch(facecolor="0.65", edgecolor="k", label=RESIDUAL)]
        if any(unresolved):
            handles.append(Patch(facecolor="white", edgecolor="k", hatch="///", label="not above MD noise"))
        right.legend(handles=handles, fontsize=7, loc="lower right")
        right.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    return save_figure(fig, path)


def _sensitivity_values(ax, observations: Sequence[Mapping], value: str, sem: str | None, factors: list[str]) -> None:
    """Values (± sem) of every observation grouped along x by ``factors[0]``, coloured by the next factor
    of ``factors`` with more than one level; a text note when there are none."""
    points = [(r, _number(r.get(value))) for r in observations]
    points = [(r, v) for r, v in points if v is not None]
    if not points or not factors:
        ax.text(0.5, 0.5, f"no values of {value}", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    group = factors[0]
    varying = [f for f in factors[1:] if len({str(r.get(f)) for r, _ in points}) > 1]
    colour = varying[0] if varying else None
    levels = _sorted_levels({r.get(group) for r, _ in points})
    shades = _sorted_levels({r.get(colour) for r, _ in points}) if colour else [None]
    x_of = {str(level): i for i, level in enumerate(levels)}
    rng = np.random.default_rng(0)  # the same jitter every time
    for k, shade in enumerate(shades):
        chosen = [(r, v) for r, v in points if colour is None or str(r.get(colour)) == str(shade)]
        x = np.array([x_of[str(r.get(group))] for r, _ in chosen]) + rng.uniform(-0.18, 0.18, len(chosen))
        errors = [(_number(r.get(sem)) or 0.0) if sem else 0.0 for r, _ in chosen]
        ax.errorbar(
            x,
            [v for _, v in chosen],
            yerr=errors if sem else None,
            fmt="o",
            ms=4,
            capsize=2,
            lw=0.8,
            alpha=0.85,
            color=f"C{k % 10}",
            label=None if colour is None else str(shade),
        )
    for level, i in x_of.items():
        mean = np.mean([v for r, v in points if str(r.get(group)) == level])
        ax.plot([i - 0.3, i + 0.3], [mean, mean], color="k", lw=1.2)
    ax.set_xticks(range(len(levels)), [str(level) for level in levels])
    ax.set_xlabel(group)
    ax.set_ylabel(value)
    ax.grid(axis="y", alpha=0.3)
    if colour is not None and len(shades) <= 12:
        ax.legend(title=colour, fontsize=7, title_fontsize=7, ncol=1 + len(shades) // 7)
    elif colour is not None:
        ax.set_title(f"coloured by {colour}", fontsize=8)


def _number(value: object) -> float | None:
    """A finite float, or None for missing, non-numeric and non-finite values."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _sorted_levels(levels: set) -> list:
    """Factor levels in numeric order when they are all numbers, else in text order."""
    if all(_number(level) is not None for level in levels):
        return sorted(levels, key=float)
    return sorted(levels, key=str)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
