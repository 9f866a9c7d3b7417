"""`mlipcamp sensitivity --from-csv` against a synthetic campaign: the same numbers as
``sensitivity_table`` on the same rows, the table's columns, the figure, and bad input refused."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mlipcamp.cli import app
from mlipcamp.figures import sensitivity_plot
from mlipcamp.science.sensitivity import RESIDUAL, SENSITIVITY_COLUMNS, sensitivity_table

runner = CliRunner()

LEVELS = {"pbe-d2": -0.05, "pbe-d3": 0.0, "b97-d3": 0.05}  # g/cm³ shifts of the density
SIGMA_SEED = {"cluster": 0.02, "periodic": 0.005}
MD_NOISE = 0.003
FACTORS = ["level_of_theory", "data_kind", "subset_replica", "seed"]
NESTED = {"subset_replica": ["level_of_theory", "data_kind"]}
ARGS = [
    "--factors",
    ",".join(FACTORS),
    "--observable",
    "density_g_cm3",
    "--sem-column",
    "density_sem_g_cm3",
    "--replicate",
    "seed",
    "--nested",
    "subset_replica:level_of_theory+data_kind",
]
N_BOOTSTRAP = 20
EXTRA_COLUMNS = {"variance_low", "variance_high", "method"}


def synthetic_campaign(liquids=("water", "ethanol"), seed: int = 7) -> list[dict]:
    """3 levels × 2 kinds × 3 subsets × 2 seeds per liquid (compact copy of tests/test_sensitivity.py's):
    level shifts, a kind-dependent seed spread, subsets without effect, MD noise of known SEM."""
    rng = np.random.default_rng(seed)
    rows = []
    for liquid, level, kind, replica, model_seed in itertools.product(liquids, LEVELS, SIGMA_SEED, range(3), (1, 2)):
        density = 1.0 + LEVELS[level] + rng.normal(0, SIGMA_SEED[kind]) + rng.normal(0, MD_NOISE)
        rows.append(
            {
                **({"liquid": liquid} if liquid is not None else {}),
                "level_of_theory": level,
                "data_kind": kind,
                "subset_replica": replica,
                "seed": model_seed,
                "density_g_cm3": density,
                "density_sem_g_cm3": MD_NOISE,
            }
        )
    return rows


def write_csv(rows: list[dict], path) -> str:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def run_csv(path: str, *extra: str) -> tuple[list[str], list[dict]]:
    result = runner.invoke(app, ["sensitivity", "--from-csv", path, *ARGS, "--bootstrap", str(N_BOOTSTRAP), *extra])
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    return list(reader.fieldnames or []), list(reader)


def as_cell(value: object) -> object:
    return "" if value is None else value


def test_csv_path_gives_the_numbers_of_sensitivity_table_on_the_same_rows(tmp_path):
    rows = synthetic_campaign()
    columns, printed = run_csv(write_csv(rows, tmp_path / "models.csv"), "--format", "csv")
    expected = sensitivity_table(
        rows,
        {"density_g_cm3": "density_sem_g_cm3"},
        FACTORS,
        replicate="seed",
        nested=NESTED,
        liquid="liquid",
        n_bootstrap=N_BOOTSTRAP,
    )
    assert columns[: len(SENSITIVITY_COLUMNS)] == list(SENSITIVITY_COLUMNS)
    assert set(columns[len(SENSITIVITY_COLUMNS) :]) <= EXTRA_COLUMNS
    assert [(r["liquid"], r["factor"]) for r in printed] == [
        (liquid, factor) for liquid in ("ethanol", "water") for factor in [*FACTORS, RESIDUAL]
    ]
    assert len(printed) == len(expected)
    for got, want in zip(printed, expected, strict=True):
        for column in ("variance", "share", "share_low", "share_high", "variance_low", "variance_high"):
            assert float(got[column]) == pytest.approx(want[column], rel=1e-9, abs=1e-15), (column, got, want)
        for column in ("liquid", "observable", "factor", "n_models", "n_excluded", "resolved_above_md_noise", "method"):
            assert got[column] == str(as_cell(want[column])), (column, got, want)
    level = next(r for r in printed if r["liquid"] == "water" and r["factor"] == "level_of_theory")
    assert float(level["share"]) > 0.5  # the level shifts dominate
    assert printed[0]["method"].startswith("REML") and f"{N_BOOTSTRAP} parametric-bootstrap" in printed[0]["method"]


def test_nesting_changes_the_numbers(tmp_path):
    """--nested reaches the science: without it the 3 subset labels are crossed levels, not 18."""
    path = write_csv(synthetic_campaign(liquids=("water",)), tmp_path / "models.csv")
    _, nested = run_csv(path, "--format", "csv")
    result = runner.invoke(
        app, ["sensitivity", "--from-csv", path, *ARGS[:-2], "--bootstrap", str(N_BOOTSTRAP), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    crossed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["variance"] for r in nested] != [r["variance"] for r in crossed]


def test_a_csv_without_liquid_or_standard_errors_is_one_table(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "density_sem_g_cm3"} for r in synthetic_campaign(liquids=(None,))]
    rows[0]["density_g_cm3"] = None  # an empty cell: a model without the observable
    args = ["sensitivity", "--from-csv", write_csv(rows, tmp_path / "models.csv"), *ARGS[:4], *ARGS[6:]]
    result = runner.invoke(app, [*args, "--bootstrap", str(N_BOOTSTRAP), "--format", "csv"])
    assert result.exit_code == 0, result.output
    printed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["factor"] for r in printed] == [*FACTORS, RESIDUAL]
    assert {r["liquid"] for r in printed} == {""}
    assert {(r["n_models"], r["n_excluded"]) for r in printed} == {(str(len(rows) - 1), "1")}
    assert {r["resolved_above_md_noise"] for r in printed} == {""}  # no standard errors: not judged
    assert sum(float(r["share"]) for r in printed) == pytest.approx(1.0)


def test_table_format_and_one_plot_per_liquid(tmp_path):
    path = write_csv(synthetic_campaign(), tmp_path / "models.csv")
    plot = tmp_path / "figures" / "sensitivity.png"
    result = runner.invoke(
        app, ["sensitivity", "--from-csv", path, *ARGS, "--bootstrap", str(N_BOOTSTRAP), "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    assert "level_of_theory" in result.stdout and "water density_g_cm3: REML" in result.stdout
    for liquid in ("water", "ethanol"):
        written = tmp_path / "figures" / f"sensitivity_{liquid}.png"
        assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(written) in result.stdout
    assert not plot.exists()


def test_one_liquid_plot_keeps_the_name(tmp_path):
    path = write_csv(synthetic_campaign(liquids=(None,)), tmp_path / "models.csv")
    plot = tmp_path / "sensitivity.png"
    run_csv(path, "--format", "csv", "--plot", str(plot))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_of_an_observable_that_was_not_decomposed(tmp_path):
    rows = synthetic_campaign(liquids=("water",))
    for i, row in enumerate(rows):
        row["viscosity_mpa_s"] = 1.0 + 0.1 * i if i in (0, len(rows) - 1) else None  # two levels: too few
    observables = {"density_g_cm3": "density_sem_g_cm3", "viscosity_mpa_s": None}
    table = sensitivity_table(rows, observables, FACTORS, replicate="seed", nested=NESTED, n_bootstrap=N_BOOTSTRAP)
    viscosity = [r for r in table if r["observable"] == "viscosity_mpa_s"]
    assert len(viscosity) == 1 and viscosity[0]["method"].startswith("not decomposed")
    path = sensitivity_plot(rows, table, FACTORS, observables, tmp_path / "two.png", "water: sensitivity")
    assert path == tmp_path / "two.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


BAD = [
    ("missing file", ["--from-csv", "{dir}/absent.csv", *ARGS], "no such file"),
    ("directory", ["--from-csv", "{dir}", *ARGS], "no such file"),
    ("empty file", ["--from-csv", "{dir}/empty.csv", *ARGS], "cannot read a CSV table"),
    ("ragged", ["--from-csv", "{dir}/ragged.csv", *ARGS], "cannot read a CSV table"),
    ("header only", ["--from-csv", "{dir}/header.csv", *ARGS], "has no rows"),
    (
        "factor",
        ["--from-csv", "{dir}/good.csv", "--factors", "size,subset_replica", *ARGS[2:]],
        "no column size (--factors)",
    ),
    ("observable", ["--from-csv", "{dir}/good.csv", *ARGS[:3], "density", *ARGS[4:]], "no column density (--observ"),
    ("sem", ["--from-csv", "{dir}/good.csv", *ARGS[:5], "sem", *ARGS[6:]], "no column sem (--sem-column)"),
    ("replicate", ["--from-csv", "{dir}/good.csv", *ARGS[:7], "model_seed", *ARGS[8:]], "model_seed (--replicate)"),
    ("parent", ["--from-csv", "{dir}/good.csv", *ARGS[:9], "subset_replica:level+data_kind"], "level (--nested)"),
    (
        "non-numeric",
        ["--from-csv", "{dir}/text.csv", *ARGS],
        "density_g_cm3 (--observable) is not numeric: '1.02 g/cm3'",
    ),
    ("bootstrap", ["--from-csv", "{dir}/good.csv", *ARGS, "--bootstrap", "5"], "--bootstrap must be at least 10"),
    ("nested colon", ["--from-csv", "{dir}/good.csv", *ARGS[:9], "subset_replica"], "is not FACTOR:PARENT+PARENT"),
    ("nested plus", ["--from-csv", "{dir}/good.csv", *ARGS[:9], "subset_replica:level_of_theory+"], "FACTOR:PARENT"),
    ("nested child", ["--from-csv", "{dir}/good.csv", *ARGS[:9], "size:level_of_theory"], "not one of --factors"),
    ("empty factor", ["--from-csv", "{dir}/good.csv", "--factors", "seed,,level_of_theory", *ARGS[2:]], "empty name"),
    ("plot suffix", ["--from-csv", "{dir}/good.csv", *ARGS, "--plot", "{dir}/plot.pdf"], "--plot must name a .png"),
    ("neither", ARGS, "give a campaign file CONFIG or --from-csv FILE"),
    ("both", ["{dir}/campaign.yaml", "--from-csv", "{dir}/good.csv", *ARGS], "not both"),
    (
        "campaign not run",
        [str(Path(__file__).parents[1] / "configs" / "demo.yaml"), "--workdir", "{dir}/none"],
        "run `mlipcamp run",
    ),
    ("no campaign file", ["{dir}/campaign.yaml"], "campaign file not found"),
    ("no factors", ["--from-csv", "{dir}/good.csv", *ARGS[2:]], "--factors is needed"),
]


@pytest.mark.parametrize(("case", "args", "expected"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, case, args, expected, monkeypatch):
    import mlipcamp.science.sensitivity as science

    computed = []
    monkeypatch.setattr(science, "sensitivity_table", lambda *a, **k: computed.append(a))
    rows = synthetic_campaign(liquids=("water",))
    write_csv(rows, tmp_path / "good.csv")
    write_csv(
        [dict(r, density_g_cm3="1.02 g/cm3" if i == 3 else r["density_g_cm3"]) for i, r in enumerate(rows)],
        tmp_path / "text.csv",
    )
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5,6\n")
    (tmp_path / "header.csv").write_text(",".join(rows[0]) + "\n")
    result = runner.invoke(app, ["sensitivity", *(a.replace("{dir}", str(tmp_path)) for a in args)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], result.stderr
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert result.stdout == "" and computed == []
    assert not (tmp_path / "plot.pdf").exists()
