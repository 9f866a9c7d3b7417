"""The training grid and the reproducible subsets behind learning curves and subset replicas."""

from pathlib import Path

import pytest
import yaml

from tasks.campaign import CampaignError, load_campaign
from tasks.datasets import select_subset

DEMO = Path(__file__).parents[1] / "configs" / "demo.yaml"


def campaign_with(tmp_path, **training):
    data = yaml.safe_load(DEMO.read_text())
    data["training"].update(training)
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_campaign(path)


def test_grid_is_the_product_of_the_factors(tmp_path):
    campaign = campaign_with(tmp_path, data_kinds=["cluster", "periodic"], dataset_sizes=[20, 40, 80],
                             subset_replicas=[0, 1], seeds=[1, 2, 3])
    grid = campaign.training_grid()
    assert len(grid) == 1 * 2 * 3 * 2 * 3
    assert len(set(grid)) == len(grid)
    assert {p.data_kind for p in grid} == {"cluster", "periodic"}
    assert {p.dataset_size for p in grid} == {20, 40, 80} and {p.subset_replica for p in grid} == {0, 1}
    assert sum(1 for p in grid if p.dataset_size == 40 and p.seed == 2) == 2 * 2  # kinds x replicas


def test_full_dataset_has_one_replica_and_replicas_of_it_are_refused(tmp_path):
    assert [p.dataset_size for p in campaign_with(tmp_path).training_grid()] == [None, None]
    with pytest.raises(CampaignError, match="would all be identical"):
        campaign_with(tmp_path, subset_replicas=[0, 1])


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
