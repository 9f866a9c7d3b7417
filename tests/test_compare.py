"""The compare stage's table: what it decomposes, what it leaves out and counts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mlipcamp.science.sensitivity import run_outcomes, sensitivity_table
from mlipcamp.tasks.compare import FACTORS, NESTED, REPLICATE, observation_table, ranking_rows


def result_rows(seed: int = 3) -> list[dict]:
    """Rows as ``db.queries.results_rows`` gives them: 2 levels × 2 subsets × 3 seeds of EC, one
    run unstable, one with an unconverged density, a two-species D in every run."""
    rng = np.random.default_rng(seed)
    rows = []
    for index, (level, replica, model_seed) in enumerate(itertools.product(("pbe-d3", "b97-d3"), (0, 1), (1, 2, 3))):
        density = 1.30 + (0.05 if level == "b97-d3" else 0.0) + rng.normal(0, 0.01)
        status = "unstable" if index == 4 else "ok"
        converged = index != 7
        observables = (
            {}
            if status != "ok"
            else {
                "density_g_cm3": (density, 0.002),
                "diffusion_cm2_s": (8e-6, 1e-6),
                "diffusion_cm2_s:C3H4O3": (7e-6, 1e-6),
                "temperature_K": (313.0, 1.0),
            }
        )
        rows.append(
            {
                "model": f"{level}-periodic-n50-r{replica}-seed{model_seed}",
                "liquid": "EC",
                "purpose": "grid",
                "seed": model_seed,
                "level_of_theory": level,
                "data_kind": "periodic",
                "dataset_size": 50,
                "subset_replica": replica,
                "rmse_e_test_mev_per_atom": 1.0 + index,
                "rmse_f_test_mev_per_ang": 50.0 + index,
                "test_set_errors": {
                    "test_set_published_rmse_e_mev_per_atom": 2.0 + index,
                    "test_set_published_rmse_f_mev_per_ang": 60.0 + (index if level == "b97-d3" else 0),
                },
                "md_status": status,
                "density_converged": converged if status == "ok" else None,
                "density_g_cm3": observables.get("density_g_cm3", (None,))[0],
                "observables": observables,
            }
        )
    return rows


def test_runs_that_are_not_a_liquid_are_left_out_of_md_observables_only():
    rows, observables = observation_table(result_rows())
    assert list(observables) == [
        "density_g_cm3",
        "diffusion_cm2_s",
        "diffusion_cm2_s:C3H4O3",
        "rmse_e_test_mev_per_atom",
        "rmse_f_test_mev_per_ang",
        "test_set_published_rmse_e_mev_per_atom",
        "test_set_published_rmse_f_mev_per_ang",
    ]
    assert observables["density_g_cm3"] == "density_g_cm3_sem" and observables["rmse_e_test_mev_per_atom"] is None
    assert "temperature_K" not in observables  # a thermostat setting, not a model's property
    assert [r["density_g_cm3"] is None for r in rows] == [i in (4, 7) for i in range(12)]
    assert all(r["rmse_e_test_mev_per_atom"] is not None for r in rows)  # the models themselves count
    table = sensitivity_table(rows, observables, FACTORS, REPLICATE, NESTED, n_bootstrap=30)
    density = [c for c in table if c["observable"] == "density_g_cm3"]
    assert {c["n_models"] for c in density} == {10} and {c["n_excluded"] for c in density} == {2}
    assert [c["factor"] for c in density] == ["level_of_theory", "subset_replica", "seed", "residual"]
    assert {c["n_excluded"] for c in table if c["observable"].startswith(("rmse", "test_set"))} == {0}


def test_instability_and_exclusions_are_counted_per_factor_level():
    outcomes = run_outcomes(result_rows(), [f for f in FACTORS if f != REPLICATE])
    by_level = {(o["factor"], o["level"]): o for o in outcomes}
    assert set(by_level) == {
        ("all", "all"),
        ("level_of_theory", "b97-d3"),
        ("level_of_theory", "pbe-d3"),
        ("subset_replica", 0),
        ("subset_replica", 1),
    }  # factors with one level say nothing
    assert (by_level["all", "all"]["n_runs"], by_level["all", "all"]["n_usable"]) == (12, 10)
    pbe = by_level["level_of_theory", "pbe-d3"]
    assert (pbe["n_runs"], pbe["n_usable"], pbe["n_unstable"], pbe["n_unconverged"]) == (6, 5, 1, 0)
    assert pbe["instability_rate"] == pytest.approx(1 / 6)
    b97 = by_level["level_of_theory", "b97-d3"]
    assert (b97["n_usable"], b97["n_unstable"], b97["n_unconverged"], b97["instability_rate"]) == (5, 0, 1, 0.0)


def test_rankings_need_two_levels_in_two_complete_draws():
    rows, observables = observation_table(result_rows())
    rankings = {r["observable"]: r for r in ranking_rows(rows, observables)}
    assert rankings["density_g_cm3"]["order"] == ["pbe-d3", "b97-d3"] and rankings["density_g_cm3"]["n_draws"] == 4
    single = [r for r in rows if r["level_of_theory"] == "pbe-d3"]
    assert ranking_rows(single, observables) == []


def test_the_csv_path_gives_the_campaign_paths_numbers(tmp_path):
    """`mlipcamp sensitivity --from-csv` on the compare stage's own table, with its factors."""
    import csv
    import io

    from typer.testing import CliRunner

    from mlipcamp.cli import app

    rows, _ = observation_table(result_rows())
    campaign = sensitivity_table(
        rows, {"density_g_cm3": "density_g_cm3_sem"}, FACTORS, REPLICATE, NESTED, n_bootstrap=40
    )
    path = tmp_path / "table.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    nested = ",".join(f"{child}:{'+'.join(parents)}" for child, parents in NESTED.items())
    result = CliRunner().invoke(
        app,
        [
            "sensitivity",
            "--from-csv",
            str(path),
            "--factors",
            ",".join(FACTORS),
            "--observable",
            "density_g_cm3",
            "--sem-column",
            "density_g_cm3_sem",
            "--replicate",
            REPLICATE,
            "--nested",
            nested,
            "--bootstrap",
            "40",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    from_csv = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["factor"] for r in from_csv] == [c["factor"] for c in campaign]
    for row, component in zip(from_csv, campaign, strict=True):
        for column in ("variance", "share", "share_low", "share_high"):
            assert float(row[column]) == pytest.approx(component[column], rel=1e-9, abs=1e-15)
        assert int(row["n_models"]) == component["n_models"] and int(row["n_excluded"]) == component["n_excluded"]
