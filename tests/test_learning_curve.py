"""Tests of the learning-curve table and plot in mlipcamp.science.evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlipcamp.figures import learning_curve_plot
from mlipcamp.science.evaluation import learning_curve_table

BASE = "gfn2-xtb cluster"
TUNED = "gfn2-xtb cluster fine-tuned"


def row(series: str, size: int, e: float | None, f: float | None) -> dict:
    return {"series": series, "size": size, "rmse_e_mev_per_atom": e, "rmse_f_mev_per_ang": f}


ROWS = [
    row(TUNED, 100, 2.0, 50.0),
    row(BASE, 100, 4.0, 90.0),
    row(BASE, 10, 9.0, 200.0),
    row(BASE, 100, 6.0, 110.0),
    row(BASE, 10, 12.0, None),
    row(BASE, 100, 8.0, 130.0),
    row(TUNED, 10, None, None),
]


def test_table_groups_sorts_and_gives_mean_and_sample_std() -> None:
    table = learning_curve_table(ROWS)
    assert [(t["series"], t["size"], t["n_models"]) for t in table] == [
        (BASE, 10, 2),
        (BASE, 100, 3),
        (TUNED, 10, 1),
        (TUNED, 100, 1),
    ]
    base_10, base_100, tuned_10, tuned_100 = table
    assert base_100["rmse_e_mean"] == pytest.approx(6.0)
    assert base_100["rmse_e_std"] == pytest.approx(2.0)  # sample std of 4, 6, 8
    assert base_100["rmse_f_mean"] == pytest.approx(110.0)
    assert base_100["rmse_f_std"] == pytest.approx(20.0)
    assert base_10["rmse_e_mean"] == pytest.approx(10.5)
    assert base_10["rmse_e_std"] == pytest.approx(2.1213203, rel=1e-6)  # 3 / sqrt(2)
    assert base_10["rmse_f_mean"] == pytest.approx(200.0)  # the None force RMSE is left out
    assert base_10["rmse_f_std"] is None
    assert tuned_100 == {
        "series": TUNED,
        "size": 100,
        "n_models": 1,
        "rmse_e_mean": 2.0,
        "rmse_e_std": None,
        "rmse_f_mean": 50.0,
        "rmse_f_std": None,
    }
    assert tuned_10["rmse_e_mean"] is None and tuned_10["rmse_f_mean"] is None


def test_plot_writes_a_png_and_skips_missing_rmses(tmp_path: Path) -> None:
    path = learning_curve_plot(ROWS, tmp_path / "plots" / "learning_curve.png", "learning curve")
    assert path == tmp_path / "plots" / "learning_curve.png"
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_plot_accepts_a_series_without_any_rmse(tmp_path: Path) -> None:
    path = learning_curve_plot([row(BASE, 10, None, None)], tmp_path / "empty.png", "nothing yet")
    assert path.read_bytes().startswith(b"\x89PNG")
