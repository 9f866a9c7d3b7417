"""`mlipcamp plan`: the models and the work a campaign implies, from its settings alone."""

import csv
import io
from pathlib import Path

from typer.testing import CliRunner

from mlipcamp.cli import app
from mlipcamp.plan import PLAN_COLUMNS, cost_plan, grouped_plan, model_plan
from mlipcamp.settings.campaign import load_campaign

CONFIGS = Path(__file__).parents[1] / "configs"


def test_study_b_plan_has_one_row_per_model_with_its_factors():
    campaign = load_campaign(CONFIGS / "study_b.yaml")
    rows = model_plan(campaign)
    assert len(rows) == campaign.n_models and len({r["model"] for r in rows}) == len(rows)
    assert rows[0]["purpose"] == "base"  # fine-tuning needs its base first
    for row in rows:
        assert row["md_runs"] == (0 if row["purpose"] == "scan" else len(campaign.liquids))
        assert row["md_steps"] == row["md_runs"] * campaign.md.steps_with_thermalization
    groups = grouped_plan(rows)
    assert sum(g["models"] for g in groups) == len(rows)
    grid = next(g for g in groups if g["purpose"] == "grid")
    assert grid["seeds"] == ", ".join(map(str, campaign.training.seeds))


def test_cost_counts_sampling_labelling_training_and_md():
    campaign = load_campaign(CONFIGS / "demo.yaml")
    cost = {(r["stage"], r["what"].split(" (")[0]): r["count"] for r in cost_plan(campaign)}
    s = campaign.sampling
    snapshots = s.n_steps // s.snapshot_interval
    assert cost["sample", "snapshots"] == snapshots == 10
    assert cost["label", "structures at gfn2-xtb"] == snapshots * s.clusters_per_snapshot  # clusters only
    assert cost["train", "models"] == 2 and cost["train", "epochs"] == 2 * campaign.training.mace.max_num_epochs
    assert cost["simulate", "MD steps"] == 2 * campaign.md.steps_with_thermalization


def test_plan_csv_is_the_model_plan():
    result = CliRunner().invoke(app, ["plan", str(CONFIGS / "study_b.yaml"), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert tuple(rows[0]) == PLAN_COLUMNS
    assert [r["model"] for r in rows] == [r["model"] for r in model_plan(load_campaign(CONFIGS / "study_b.yaml"))]


def test_plan_of_a_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((CONFIGS / "demo.yaml").read_text().replace("seeds: [1, 2]", "seeds: one"))
    result = CliRunner().invoke(app, ["plan", str(bad)])
    assert result.exit_code == 2 and "training.seeds" in result.output and "Traceback" not in result.output
