"""The campaign report: results table (Markdown and CSV) and a comparison plot across models."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def write_csv(rows: Sequence[dict], columns: Sequence[str], path: Path) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows({c: row.get(c) for c in columns} for row in rows)
    return path


def markdown_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(format_value(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def plot_observables(rows: Sequence[dict], path: Path, title: str) -> Path:
    """Density and self-diffusion coefficient (± SEM) of every model and liquid, side by side."""
    done = [r for r in rows if r.get("density_g_cm3") is not None]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.5 * max(len(done), 2) + 2), constrained_layout=True)
    labels = [f"{r['liquid']} · {r['model']}" for r in done]
    y = range(len(done))
    for ax, key, unit, scale in (
        (axes[0], "density", "g cm$^{-3}$", 1.0),
        (axes[1], "diffusion", "10$^{-6}$ cm$^2$ s$^{-1}$", 1e6),
    ):
        value_key = f"{key}_g_cm3" if key == "density" else f"{key}_cm2_s"
        sem_key = f"{key}_sem_g_cm3" if key == "density" else f"{key}_sem_cm2_s"
        ax.errorbar([r[value_key] * scale for r in done], list(y), xerr=[(r[sem_key] or 0) * scale for r in done],
                    fmt="o", capsize=3)
        ax.set_yticks(list(y), labels)
        ax.set_xlabel(f"{key} / {unit}")
        ax.grid(alpha=0.3)
    axes[1].set_yticklabels([])
    fig.suptitle(title)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def format_value(value: object) -> str:
    """A table cell: 4 significant digits for floats, an em dash for missing values."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
