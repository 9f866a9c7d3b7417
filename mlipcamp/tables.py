"""Tables of the campaign report: Markdown, CSV and the cells and rows of terminal tables."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path


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


def format_value(value: object) -> str:
    """A table cell: 4 significant digits for floats, an em dash for missing values."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


TRAINING_COST_COLUMNS = ("device", "epochs", "train_time_s", "seconds_per_epoch", "peak_memory_mb")
TEST_ERROR_COLUMNS = ("rmse_e_test_mev_per_atom", "rmse_f_test_mev_per_ang")


def learning_curve_rows(models: Sequence[dict]) -> list[dict]:
    """Points of the learning curve: trained models with test errors, one series per level, data kind and
    purpose (from scratch, fine-tuned, base). Keys as ``mlipcamp.figures.learning_curve_plot`` reads them."""
    suffix = {"grid": "", "finetune": " fine-tuned", "base": " base"}
    return [
        {
            "series": f"{m['level_of_theory']} {m['data_kind']}{suffix[m['purpose']]}",
            "size": m["dataset_size"],
            "rmse_e_mev_per_atom": m["rmse_e_test_mev_per_atom"],
            "rmse_f_mev_per_ang": m["rmse_f_test_mev_per_ang"],
        }
        for m in models
        if m["purpose"] in suffix and m["status"] == "ok" and m["rmse_e_test_mev_per_atom"] is not None
    ]


def scan_table(models: Sequence[dict]) -> tuple[list[dict], list[str]]:
    """Rows and columns of the hyperparameter-scan table: the settings that vary, training cost, test errors."""
    scan = [m for m in models if m["purpose"] == "scan"]
    if not scan:
        return [], []
    varied = [k for k in scan[0]["hyperparameters"] if len({str(m["hyperparameters"][k]) for m in scan}) > 1]
    columns = [*varied, "status", *TRAINING_COST_COLUMNS, *TEST_ERROR_COLUMNS]
    rows = [{**{k: m["hyperparameters"][k] for k in varied}, **{c: m[c] for c in columns if c in m}} for m in scan]
    return rows, columns


def external_test_rows(models: Sequence[dict]) -> list[dict]:
    """One row per model and imported test set: its level, size, overlap with training, and errors."""
    return [
        {
            "model": m["model"],
            "test_set": name,
            "level_of_theory": e["level_of_theory"],
            "n_structures": e["n_structures"],
            "n_in_training": e["n_in_training"],
            "rmse_e_mev_per_atom": e["rmse_e_mev_per_atom"],
            "rmse_f_mev_per_ang": e["rmse_f_mev_per_ang"],
        }
        for m in models
        for name, e in sorted(m["external"].items())
    ]


def error_summary(error: str | None) -> str:
    """A stored failure reason on one line for the report: its first line (what failed, and the log
    file) and, when it quotes a log tail, that tail's last line (where the cause usually is)."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return "no reason recorded"
    return lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"


RANKING_COLUMNS = (
    "liquid",
    "observable",
    "data_kind",
    "order",
    "kendall_w",
    "agreeing_fraction",
    "n_draws",
    "min_resolvable_difference",
)


def sensitivity_markdown(components: Sequence[dict], rankings: Sequence[dict], outcomes: Sequence[dict]) -> str:
    """The compare stage as Markdown: variance components, ranking stability, MD runs per factor level."""
    from mlipcamp.science.sensitivity import SENSITIVITY_COLUMNS

    parts = [
        "Share of each observable's variance over the models per factor, with its 95 % interval (bootstrap); "
        "`residual` is the MD noise (mean squared standard error of the runs), `seed` what differs between seeds "
        "beyond it. `resolved_above_md_noise`: the factor's variance stands above that noise.",
        "",
        markdown_table(components, SENSITIVITY_COLUMNS),
        "",
        *(f"- {c['liquid']} {c['observable']}: {c['method']}" for c in components if c["share"] is None),
    ]
    if rankings:
        parts += [
            "",
            "Ranking of the levels of theory per data kind: Kendall's W over the seed/subset draws, the fraction of "
            "draws that give the order of the means, and the smallest difference of two level means that the "
            "seed/subset spread resolves.",
            "",
            markdown_table(rankings, RANKING_COLUMNS),
        ]
    if outcomes:
        parts += [
            "",
            "MD runs per factor level; unstable, failed and unconverged runs are left out of the decomposition.",
            "",
            markdown_table(outcomes, list(outcomes[0])),
        ]
    return "\n".join(parts)


def sensitivity_summary(components: Sequence[dict]) -> list[dict]:
    """Variance components in a few columns for a terminal: the share with its 95 % interval, the
    models used (and left out), whether the factor stands above the MD noise."""
    rows = []
    for c in components:
        share = "—" if c["share"] is None else f"{c['share']:.2f} [{c['share_low']:.2f}, {c['share_high']:.2f}]"
        above = c["resolved_above_md_noise"]
        rows.append(
            {
                "liquid": c["liquid"],
                "observable": c["observable"],
                "factor": c["factor"],
                "share (95 %)": share,
                "models": f"{c['n_models']}" + (f" ({c['n_excluded']} excluded)" if c["n_excluded"] else ""),
                "above MD noise": "—" if above is None else ("yes" if above else "no"),
            }
        )
    return rows
