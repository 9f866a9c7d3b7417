"""The training grid and the reproducible subsets behind learning curves and subset replicas."""

from pathlib import Path

import pytest
import yaml
from labelled_data import ec_dataset

from mlipcamp.science.datasets import select_subset
from mlipcamp.settings.campaign import CampaignError, load_campaign

DEMO = Path(__file__).parents[1] / "configs" / "demo.yaml"


def campaign_with(tmp_path, **training):
    data = yaml.safe_load(DEMO.read_text())
    data["training"].update({"data_kinds": ["cluster"], **training})
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_campaign(path)


def test_grid_is_the_product_of_the_factors(tmp_path):
    campaign = campaign_with(
        tmp_path,
        data_kinds=["cluster", "periodic"],
        dataset_sizes=[20, 40, 80],
        subset_replicas=[0, 1],
        seeds=[1, 2, 3],
    )
    grid = campaign.training_grid()
    assert len(grid) == 1 * 2 * 3 * 2 * 3
    assert len(set(grid)) == len(grid)
    assert {p.data_kind for p in grid} == {"cluster", "periodic"}
    assert {p.dataset_size for p in grid} == {20, 40, 80} and {p.subset_replica for p in grid} == {0, 1}
    assert sum(1 for p in grid if p.dataset_size == 40 and p.seed == 2) == 2 * 2  # kinds x replicas


def test_full_dataset_has_one_subset(tmp_path):
    assert [p.dataset_size for p in campaign_with(tmp_path).training_grid()] == [None, None]
    grid = campaign_with(tmp_path, subset_replicas=[0, 1], dataset_sizes=[None, 20]).training_grid()
    assert [(p.dataset_size, p.subset_replica, p.seed) for p in grid] == [
        (None, 0, 1),
        (None, 0, 2),
        (20, 0, 1),
        (20, 0, 2),
        (20, 1, 1),
        (20, 1, 2),
    ]


def test_dataset_sizes_per_data_kind(tmp_path):
    campaign = campaign_with(
        tmp_path, data_kinds=["cluster", "periodic"], dataset_sizes={"cluster": [20, 40], "periodic": [None]}
    )
    sizes = {(p.data_kind, p.dataset_size) for p in campaign.training_grid()}
    assert sizes == {("cluster", 20), ("cluster", 40), ("periodic", None)}
    with pytest.raises(CampaignError, match=r"training\.dataset_sizes"):
        campaign_with(tmp_path, dataset_sizes={"clusters": [20]})
    with pytest.raises(CampaignError, match=r"training\.dataset_sizes: no sizes for the periodic data"):
        campaign_with(tmp_path, data_kinds=["cluster", "periodic"], dataset_sizes={"cluster": [20]})


def test_subsets_are_reproducible_distinct_and_nested():
    first = select_subset(100, 30, replica=0)
    assert first == select_subset(100, 30, replica=0)
    assert first != select_subset(100, 30, replica=1)
    assert len(set(first)) == 30 and all(0 <= i < 100 for i in first)
    assert set(select_subset(100, 10, replica=0)) <= set(first) <= set(select_subset(100, 60, replica=0))
    assert select_subset(5, None, replica=0) == [0, 1, 2, 3, 4]


def test_subset_larger_than_the_pool_is_refused():
    with pytest.raises(ValueError, match="only 10 are labelled"):
        select_subset(10, 11, replica=0)


def test_fine_tuning_adds_one_base_per_level_and_kind_and_a_fine_tuned_grid(tmp_path):
    campaign = campaign_with(
        tmp_path,
        data_kinds=["cluster", "periodic"],
        dataset_sizes=[20, 40],
        seeds=[3, 4],
        subset_replicas=[0, 1],
        fine_tuning={"dataset_sizes": [10], "max_num_epochs": 5, "lr": 0.002},
    )
    assert campaign.base_models() == [
        ("gfn2-xtb", "cluster", None, 0, 3, "base"),
        ("gfn2-xtb", "periodic", None, 0, 3, "base"),
    ]
    tuned = campaign.fine_tuning_grid()
    assert len(tuned) == 2 * 1 * 2 * 2 and {p.purpose for p in tuned} == {"finetune"}
    assert {(p.dataset_size, p.subset_replica, p.seed) for p in tuned} == {(10, r, s) for r in (0, 1) for s in (3, 4)}
    settings = campaign.training.fine_tuning_settings
    assert (settings.max_num_epochs, settings.lr, settings.num_channels) == (
        5,
        0.002,
        campaign.training.mace.num_channels,
    )
    assert campaign.training.base_settings == campaign.training.mace
    assert len(campaign.training_grid()) == 2 * 2 * 2 * 2  # the scratch grid is unchanged


def test_fine_tuning_from_a_file_trains_no_base(tmp_path):
    base = tmp_path / "base.model"
    base.write_bytes(b"x")
    campaign = campaign_with(tmp_path, fine_tuning={"base_model": str(base), "dataset_sizes": [5]})
    assert campaign.base_models() == [] and len(campaign.fine_tuning_grid()) == 2
    for bad in (str(tmp_path / "missing.model"), str(tmp_path)):
        with pytest.raises(CampaignError, match=r"training\.fine_tuning\.base_model"):
            campaign_with(tmp_path, fine_tuning={"base_model": bad, "dataset_sizes": [5]})


def test_hyperparameter_scan_is_the_product_of_its_grid_on_one_dataset(tmp_path):
    scan = {"grid": {"num_channels": [8, 16], "max_L": [0, 1, 2], "batch_size": [4]}, "dataset_size": 30}
    campaign = campaign_with(tmp_path, dataset_sizes=[30, 60], subset_replicas=[2, 3], hyperparameter_scan=scan)
    grid = campaign.scan_grid()
    assert len(grid) == 2 * 3 * 1
    assert {point for point, _ in grid} == {("gfn2-xtb", "cluster", 30, 2, 1, "scan")}
    assert {(h.num_channels, h.max_L, h.batch_size) for _, h in grid} == {(c, L, 4) for c in (8, 16) for L in (0, 1, 2)}
    assert all(h.max_num_epochs == campaign.training.mace.max_num_epochs for _, h in grid)
    with pytest.raises(CampaignError, match=r"unknown MACE hyperparameters \['channels'\]"):
        campaign_with(tmp_path, hyperparameter_scan={"grid": {"channels": [8]}})
    with pytest.raises(CampaignError, match=r"hyperparameter_scan\.grid: max_L"):
        campaign_with(tmp_path, hyperparameter_scan={"grid": {"max_L": [0, 7]}})


def test_model_names_carry_the_factors():
    from mlipcamp.science.training.settings import MaceHyperparameters
    from mlipcamp.settings.campaign import GridPoint, model_name

    assert model_name(GridPoint("gfn2-xtb", "cluster", None, 0, 1)) == "gfn2-xtb-cluster-seed1"
    assert model_name(GridPoint("gfn2-xtb", "cluster", 50, 2, 1)) == "gfn2-xtb-cluster-n50-r2-seed1"
    assert model_name(GridPoint("gfn2-xtb", "periodic", None, 0, 1, "base")) == "gfn2-xtb-periodic-base"
    assert (
        model_name(GridPoint("pbe-d3bj/def2-svp", "cluster", 5, 0, 2, "finetune"))
        == "pbe-d3bj/def2-svp-cluster-finetune-n5-r0-seed2"
    )
    scanned = {"num_channels": [8, 16], "max_L": [0, 1]}
    assert (
        model_name(
            GridPoint("gfn2-xtb", "cluster", 30, 0, 1, "scan"), MaceHyperparameters(num_channels=16, max_L=1), scanned
        )
        == "gfn2-xtb-cluster-scan-n30-r0-num_channels16-max_L1-seed1"
    )


def test_imported_test_sets_are_not_training_levels(tmp_path):
    data = yaml.safe_load(DEMO.read_text())
    xyz = ec_dataset(tmp_path / "d.xyz", "cluster", 6, seed=1)
    data["datasets"] = [
        {"name": "published-train", "path": str(xyz), "level_of_theory": "b97-d3bj/def2-tzvp"},
        {"name": "published-test", "path": str(xyz), "level_of_theory": "wb97x-d3/def2-tzvp", "use": "test"},
    ]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    campaign = load_campaign(path)
    assert campaign.training_levels == ["gfn2-xtb", "declared:b97-d3bj/def2-tzvp"]
    assert [d.name for d in campaign.test_sets] == ["published-test"]
    data["datasets"][1]["name"] = "published-train"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CampaignError, match="dataset names must be unique"):
        load_campaign(path)


def test_unknown_rdf_elements_are_refused(tmp_path):
    data = yaml.safe_load(DEMO.read_text())
    data["analysis"]["rdf_element_pairs"] = [["O", "H"], ["Xx", "C"]]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CampaignError, match=r"analysis.rdf_element_pairs: unknown element symbols \['Xx'\]"):
        load_campaign(path)
