"""`mlipcamp plan`: the models and the work a campaign implies, from its settings alone."""

import csv
import io
from pathlib import Path

from typer.testing import CliRunner

from mlipcamp.cli import app
from mlipcamp.plan import PLAN_COLUMNS, cost_plan, grouped_plan, model_plan, pool_warnings, sampled_structures
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
    assert cost["sample", "snapshots"] == snapshots == 20
    clusters, boxes = snapshots * s.clusters_per_snapshot, snapshots * len(s.volume_factors)
    assert cost["label", "structures at gfn2-xtb"] == clusters + boxes == 100 + 80
    assert cost["train", "models"] == 4 and cost["train", "epochs"] == 4 * campaign.training.mace.max_num_epochs
    assert cost["simulate", "MD steps"] == 4 * campaign.md.steps_with_thermalization


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


def test_plan_warns_of_a_training_set_larger_than_the_data_can_supply(tmp_path):
    demo = CONFIGS / "demo.yaml"
    assert pool_warnings(load_campaign(demo)) == []
    campaign = load_campaign(demo)
    made = sampled_structures(campaign)["cluster"]
    kept = int(made * (1 - campaign.training.valid_fraction - campaign.training.test_fraction))
    config = tmp_path / "big.yaml"
    text = demo.read_text().replace(
        "  seeds: [1, 2]\n", f"  seeds: [1, 2]\n  dataset_sizes: {{cluster: [{kept + 1}], periodic: [null]}}\n"
    )
    config.write_text(text)
    (line,) = pool_warnings(load_campaign(config))
    assert line.startswith(f"training.dataset_sizes: {kept + 1} cluster structures at gfn2-xtb asked")
    assert f"at most {made}, about {kept} of them" in line
    result = CliRunner().invoke(app, ["plan", str(config)])
    assert result.exit_code == 0 and "warning: training.dataset_sizes" in result.output
    config.write_text(text.replace(f"[{kept + 1}]", f"[{kept}]"))
    assert pool_warnings(load_campaign(config)) == []
