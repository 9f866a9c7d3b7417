"""Predictions of a trained MACE model, their errors against reference labels, and parity plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from mace.calculators import MACECalculator
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mlipcamp.report.save import save_figure


def predict(
    model_path: Path, structures: Sequence[Atoms], device: str = "cpu", default_dtype: str = "float64"
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Energies (eV, shape (n,)) and forces (eV/Å, one (n_atoms, 3) array each) of a MACE model."""
    calc = MACECalculator(model_paths=Path(model_path), device=device, default_dtype=default_dtype)
    energies, forces = [], []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
        forces.append(np.array(atoms.get_forces()))
    return np.array(energies, dtype=float), forces


def _per_atom_and_component_errors(
    ref_energies_eV: Sequence[float],
    pred_energies_eV: Sequence[float],
    n_atoms: Sequence[int],
    ref_forces: Sequence[np.ndarray],
    pred_forces: Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Energy errors per atom (eV/atom) and all force-component errors (eV/Å), shapes checked."""
    ref_e, pred_e, n = (np.asarray(x, dtype=float) for x in (ref_energies_eV, pred_energies_eV, n_atoms))
    if not (ref_e.shape == pred_e.shape == n.shape and len(ref_forces) == len(pred_forces) == len(n) > 0):
        raise ValueError("energies, atom counts and forces must describe the same non-empty set of structures")
    if np.any(n < 1):
        raise ValueError("every structure needs at least one atom")
    ref_f = np.concatenate([np.asarray(f, dtype=float).reshape(-1) for f in ref_forces])
    pred_f = np.concatenate([np.asarray(f, dtype=float).reshape(-1) for f in pred_forces])
    if ref_f.shape != pred_f.shape or ref_f.size != 3 * int(n.sum()):
        raise ValueError(f"force arrays hold {ref_f.size} and {pred_f.size} components for {int(n.sum())} atoms")
    return (pred_e - ref_e) / n, pred_f - ref_f


def error_metrics(
    ref_energies_eV: Sequence[float],
    pred_energies_eV: Sequence[float],
    n_atoms: Sequence[int],
    ref_forces: Sequence[np.ndarray],
    pred_forces: Sequence[np.ndarray],
) -> dict[str, float]:
    """RMSE/MAE of per-atom energies (meV/atom) and of all force components (meV/Å)."""
    de, df = _per_atom_and_component_errors(ref_energies_eV, pred_energies_eV, n_atoms, ref_forces, pred_forces)
    return {
        "rmse_e_mev_per_atom": 1000.0 * float(np.sqrt(np.mean(de**2))),
        "mae_e_mev_per_atom": 1000.0 * float(np.mean(np.abs(de))),
        "rmse_f_mev_per_ang": 1000.0 * float(np.sqrt(np.mean(df**2))),
        "mae_f_mev_per_ang": 1000.0 * float(np.mean(np.abs(df))),
    }


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
    for ax, (ref, pred, label, note) in zip(axes, panels):
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=1)
        ax.scatter(ref, pred, s=6, alpha=0.6)
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.text(0.04, 0.94, note, transform=ax.transAxes, va="top")
        ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(title)
    return save_figure(fig, path)


def decomposition_errors(
    structures: Sequence[Atoms], ref_forces: Sequence[np.ndarray], pred_forces: Sequence[np.ndarray]
) -> dict[str, dict[str, float]]:
    """RMSE (meV/Å) and relative RMSE of the translational, rotational and vibrational force parts.

    Molecules come from ``arrays['mol_id']`` (covalent connectivity when absent) and are made
    whole across periodic boundaries before the decomposition.
    """
    from mlipcamp.science.force_decomposition import component_errors, decompose_forces
    from mlipcamp.science.structures import make_molecules_whole, molecule_ids

    refs, preds = [], []
    for atoms, ref, pred in zip(structures, ref_forces, pred_forces, strict=True):
        mol_id = atoms.arrays["mol_id"] if "mol_id" in atoms.arrays else molecule_ids(atoms)
        whole = make_molecules_whole(atoms, mol_id) if atoms.pbc.any() else atoms
        args = (whole.positions, whole.get_masses(), mol_id)
        refs.append(decompose_forces(args[0], np.asarray(ref), args[1], args[2]))
        preds.append(decompose_forces(args[0], np.asarray(pred), args[1], args[2]))
    return component_errors(refs, preds)


def decomposition_plot(errors: dict[str, dict[str, float]], path: Path, title: str) -> Path:
    """PNG bar chart of the relative RMSE (%) of each force component; returns ``path``."""
    names = list(errors)
    fig = Figure(figsize=(5.5, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    values = [100 * errors[n]["relative_rmse"] for n in names]
    bars = ax.bar(names, values, color=["tab:blue", "tab:orange", "tab:green"][: len(names)])
    for bar, name in zip(bars, names, strict=True):
        ax.annotate(f"{errors[name]['rmse_mev_per_ang']:.0f} meV/Å", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("relative force RMSE / %")
    ax.set_title(title)
    return save_figure(fig, path)


def _mean_and_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the non-None values; None where too few for either."""
    kept = np.array([v for v in values if v is not None], dtype=float)
    mean = float(kept.mean()) if kept.size else None
    std = float(kept.std(ddof=1)) if kept.size > 1 else None
    return mean, std


def learning_curve_table(rows: Sequence[dict]) -> list[dict]:
    """Per (series, size), sorted: model count, mean and sample std of the test RMSEs.

    Each row holds ``series``, ``size`` (training structures), ``rmse_e_mev_per_atom`` (meV/atom)
    and ``rmse_f_mev_per_ang`` (meV/Å); a None RMSE is left out of that statistic. A mean is None
    without values, a standard deviation None with fewer than two.
    """
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((str(row["series"]), int(row["size"])), []).append(row)
    table = []
    for (series, size), members in sorted(groups.items()):
        e_mean, e_std = _mean_and_std([m["rmse_e_mev_per_atom"] for m in members])
        f_mean, f_std = _mean_and_std([m["rmse_f_mev_per_ang"] for m in members])
        table.append({"series": series, "size": size, "n_models": len(members), "rmse_e_mean": e_mean,
                      "rmse_e_std": e_std, "rmse_f_mean": f_mean, "rmse_f_std": f_std})
    return table


def learning_curve_plot(rows: Sequence[dict], path: Path, title: str) -> Path:
    """PNG with log-log learning curves of energy (meV/atom) and force (meV/Å) test RMSE; returns ``path``.

    Rows as for :func:`learning_curve_table`: every model is a marker, and a line per series joins
    the means at each training-set size. None RMSEs are skipped.
    """
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
            ax.scatter(*zip(*models), s=14, alpha=0.6, color=colours[name])
            ax.plot(*zip(*means), marker="o", ms=5, mfc="white", color=colours[name], label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training structures")
        ax.set_ylabel(f"test {label}")
        if ax.has_data():
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)
