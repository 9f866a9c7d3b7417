"""The study campaign files validate and plan here: study A on stand-ins for its published files."""

from pathlib import Path

import pytest
from ase.io import read, write
from labelled_data import ec_dataset

from mlipcamp.plan import model_plan
from mlipcamp.settings.campaign import CampaignError, load_campaign
from mlipcamp.settings.execution import load_profile

CONFIGS = Path(__file__).parents[1] / "configs"
STUDY_A_FILES = {
    "periodic_pbe-d2": "periodic",
    "periodic_pbe-d3": "periodic",
    "periodic_b97-d3": "periodic",
    "clusters_b97-d3": "cluster",
    "clusters_wb97x-d3": "cluster",
}


@pytest.fixture
def study_a_data(tmp_path, monkeypatch) -> Path:
    """Small EMT-labelled stand-ins with the file names, kinds and keys (energy, forces) study_a.yaml reads."""
    for name, kind in STUDY_A_FILES.items():
        frames = read(ec_dataset(tmp_path / f"{name}.mace.xyz", kind, 3, seed=1), ":", format="extxyz")
        for frame in frames:
            frame.info["energy"] = frame.info.pop("REF_energy")
            frame.arrays["forces"] = frame.arrays.pop("REF_forces")
        write(tmp_path / f"{name}.xyz", frames, format="extxyz")
    monkeypatch.setenv("STUDY_A_DATA", str(tmp_path))
    return tmp_path


def test_study_a_validates_and_plans_the_study_grid(study_a_data, monkeypatch):
    monkeypatch.chdir(CONFIGS.parent)  # the SLURM profile path is relative to the repository
    campaign = load_campaign(CONFIGS / "study_a.yaml")
    assert campaign.sampling is None and campaign.computed_levels == []
    assert {liquid.name: (liquid.temperature, liquid.md_molecules) for liquid in campaign.liquids} == {
        "EC": (313.0, 100),
        "EMC": (298.0, 67),
    }
    pairs = campaign.training_pairs()
    assert sorted(kind for _, kind in pairs) == ["cluster"] * 2 + ["periodic"] * 3
    rows = model_plan(campaign)
    cluster = [r for r in rows if r["data_kind"] == "cluster"]
    assert len(cluster) == 2 * 3 * 3 * 3 and {r["dataset_size"] for r in cluster} == {8016, 42824, 221824}
    assert len(rows) == 2 * 27 + 3 * 3 and sum(r["md_runs"] for r in rows) == 2 * len(rows)
    assert campaign.md.total_steps * campaign.md.timestep == pytest.approx(1e6)  # 1 ns
    assert campaign.execution.training.device == campaign.execution.md.device == "cuda"
    assert "--gres=gpu:1" in load_profile(campaign.execution.cluster).cluster_kwargs["job_extra_directives"]


def test_study_a_without_its_data_says_which_variable(monkeypatch):
    monkeypatch.delenv("STUDY_A_DATA", raising=False)
    with pytest.raises(CampaignError, match=r"datasets\[0\]\.path: environment variable STUDY_A_DATA"):
        load_campaign(CONFIGS / "study_a.yaml")


def test_study_a_xtb_computes_both_kinds_for_both_liquids():
    campaign = load_campaign(CONFIGS / "study_a_xtb.yaml")
    assert [liquid.name for liquid in campaign.liquids] == ["EC", "EMC"]
    assert campaign.training_pairs() == [("gfn2-xtb", "cluster"), ("gfn2-xtb", "periodic")]
    rows = model_plan(campaign)
    per_kind = {kind: [r for r in rows if r["data_kind"] == kind] for kind in ("cluster", "periodic")}
    for kind_rows in per_kind.values():  # at least 3 seeds x 2 subsets per kind
        assert len({r["seed"] for r in kind_rows}) >= 3 and len({r["subset_replica"] for r in kind_rows}) >= 2
    assert sum(r["md_runs"] for r in rows) == 2 * len(rows)
