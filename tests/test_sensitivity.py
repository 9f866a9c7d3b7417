"""Variance decomposition and ranking stability against synthetic campaigns with known components."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mlipcamp.science.sensitivity import RESIDUAL, decompose_variance, ranking_stability

SIGMA_LEVEL = 0.05  # g/cm³
SIGMA_SEED = {"cluster": 0.02, "periodic": 0.005}
MD_NOISE = 0.003
LEVELS = ("pbe-d2", "pbe-d3", "b97-d3")
NESTED = {"subset_replica": ["level_of_theory", "data_kind"]}


def synthetic_campaign(seed: int = 7, n_seeds: int = 3, sigma_seed: dict[str, float] = SIGMA_SEED) -> list[dict]:
    """3 levels × 2 kinds × 3 subsets × ``n_seeds`` seeds. The level effects are -σ, 0, +σ (sample
    variance exactly σ²), subsets have no effect, the seed spread depends on the kind, and every
    density carries MD noise of known standard error."""
    rng = np.random.default_rng(seed)
    effects = dict(zip(LEVELS, SIGMA_LEVEL * np.array([-1.0, 0.0, 1.0]), strict=True))
    rows = []
    for level, kind, replica, model_seed in itertools.product(LEVELS, SIGMA_SEED, range(3), range(1, n_seeds + 1)):
        density = 1.3 + effects[level] + rng.normal(0, sigma_seed[kind]) + rng.normal(0, MD_NOISE)
        rows.append(
            {
                "level_of_theory": level,
                "data_kind": kind,
                "subset_replica": replica,
                "seed": model_seed,
                "density_g_cm3": density,
                "density_sem_g_cm3": MD_NOISE,
            }
        )
    return rows


def per_kind(rows: list[dict], kind: str):
    return decompose_variance(
        [r for r in rows if r["data_kind"] == kind],
        "density_g_cm3",
        ["level_of_theory", "subset_replica", "seed"],
        sem="density_sem_g_cm3",
        replicate="seed",
        nested=NESTED,
        n_bootstrap=150,
    )


@pytest.mark.parametrize("kind", list(SIGMA_SEED))
def test_known_components_are_recovered_within_their_intervals(kind):
    result = per_kind(synthetic_campaign(n_seeds=6), kind)
    assert [c.factor for c in result.components] == ["level_of_theory", "subset_replica", "seed", RESIDUAL]
    level, subsets, seeds, residual = result.components
    assert level.variance_low <= SIGMA_LEVEL**2 <= level.variance_high
    assert seeds.variance_low <= SIGMA_SEED[kind] ** 2 <= seeds.variance_high
    assert seeds.variance == pytest.approx(SIGMA_SEED[kind] ** 2, rel=0.6)
    assert subsets.share_low == 0.0  # no effect: its share's interval includes 0
    assert residual.variance == pytest.approx(MD_NOISE**2) and result.md_noise_variance == pytest.approx(MD_NOISE**2)
    assert sum(c.share for c in result.components) == pytest.approx(1.0)
    assert all(c.share_low <= c.share <= c.share_high for c in result.components)
    assert (level.n_levels, subsets.n_levels, seeds.n_levels, result.n_models) == (3, 9, 6, 54)
    assert level.resolved_above_md_noise and not subsets.resolved_above_md_noise


def test_seed_spread_is_told_apart_from_md_noise():
    """Cluster seeds spread 0.02 g/cm³ (resolved); periodic seeds 0.005 against 0.003 of MD noise."""
    rows = synthetic_campaign(n_seeds=6)
    assert per_kind(rows, "cluster").component("seed").resolved_above_md_noise
    noisy = [dict(r, density_sem_g_cm3=0.02) for r in rows]  # runs too short to tell
    assert not per_kind(noisy, "periodic").component("seed").resolved_above_md_noise


def test_unbalanced_design_with_failed_runs_removed():
    rows = synthetic_campaign(n_seeds=6)
    kept = [r for i, r in enumerate(rows) if i % 5 != 0]
    result = per_kind(kept, "cluster")
    assert result.n_models == len([r for r in kept if r["data_kind"] == "cluster"]) < 54
    assert (
        result.component("level_of_theory").variance_low
        <= SIGMA_LEVEL**2
        <= result.component("level_of_theory").variance_high
    )


def test_whole_campaign_with_crossed_kind_and_md_noise_as_residual_without_replicate():
    rows = synthetic_campaign(n_seeds=6)
    result = decompose_variance(
        rows, "density_g_cm3", ["level_of_theory", "data_kind"], sem="density_sem_g_cm3", n_bootstrap=100
    )
    assert [c.factor for c in result.components] == ["level_of_theory", "data_kind", RESIDUAL]
    assert result.component("data_kind").share_low == 0.0  # the kind itself shifts nothing
    residual = result.component(RESIDUAL)  # both kinds' seed spreads and the MD noise, pooled
    assert residual.variance_low <= np.mean([s**2 for s in SIGMA_SEED.values()]) + MD_NOISE**2 <= residual.variance_high


def test_bad_tables_are_refused_naming_the_column():
    with pytest.raises(ValueError, match="no column seed"):
        decompose_variance([{"x": 1.0}] * 4, "x", ["seed"])
    with pytest.raises(ValueError, match="2 observations"):
        decompose_variance([{"x": 1.0, "a": 1}, {"x": 2.0, "a": 2}], "x", ["a"])


def test_ranking_stability_is_exact_on_a_constructed_case():
    """Draws 1-3 rank A < B < C, draw 4 ranks B < A < C: rank sums 5, 7, 12 against a mean of 8,
    so S = 26 and W = 12·26 / (4²·(3³ − 3)) = 0.8125; 3 of 4 draws agree with the means' order."""
    values = {1: (1.0, 2.0, 3.0), 2: (1.1, 2.1, 3.1), 3: (0.9, 1.9, 2.9), 4: (2.0, 1.5, 3.0)}
    rows = [
        {"level": level, "seed": draw, "d": v}
        for draw, vs in values.items()
        for level, v in zip("ABC", vs, strict=True)
    ]
    result = ranking_stability(rows, "d", "level", ["seed"])
    assert result.order == ["A", "B", "C"] and result.n_draws == 4
    assert result.kendall_w == pytest.approx(0.8125)
    assert result.agreeing_fraction == 0.75
    table = np.array(list(values.values()))
    within = ((table - table.mean(axis=0)) ** 2).sum() / (3 * 3)
    assert result.min_resolvable_difference == pytest.approx(1.96 * np.sqrt(2 * within / 4))


def test_cluster_seeds_rank_levels_less_consistently_than_periodic_ones():
    """Study A's question: with a seed spread near the level spacing, rankings disagree."""
    rows = synthetic_campaign(n_seeds=6, sigma_seed={"cluster": 0.04, "periodic": 0.005})
    stability = {
        kind: ranking_stability(
            [r for r in rows if r["data_kind"] == kind], "density_g_cm3", "level_of_theory", ["subset_replica", "seed"]
        )
        for kind in SIGMA_SEED
    }
    assert stability["periodic"].kendall_w == 1.0 and stability["periodic"].agreeing_fraction == 1.0
    assert stability["cluster"].kendall_w < 0.9 and stability["cluster"].agreeing_fraction < 0.9
    assert stability["cluster"].min_resolvable_difference > stability["periodic"].min_resolvable_difference


def test_a_nested_factor_with_one_level_per_setting_is_left_out():
    """One subset replica per level: the replica is the level itself, and would take its variance."""
    rows = [r for r in synthetic_campaign(n_seeds=6) if r["data_kind"] == "cluster"]
    one_draw = [dict(r, subset_replica={"pbe-d2": 0, "pbe-d3": 1, "b97-d3": 2}[r["level_of_theory"]]) for r in rows]
    result = decompose_variance(
        one_draw,
        "density_g_cm3",
        ["level_of_theory", "subset_replica", "seed"],
        sem="density_sem_g_cm3",
        replicate="seed",
        nested=NESTED,
        n_bootstrap=50,
    )
    assert [c.factor for c in result.components] == ["level_of_theory", "seed", RESIDUAL]
    assert "subset_replica left out: one level per setting of level_of_theory+data_kind" in result.method
    level = result.component("level_of_theory")
    assert level.variance_low <= SIGMA_LEVEL**2 <= level.variance_high


def test_a_factor_that_renames_another_is_left_out_instead_of_making_the_fit_singular():
    """One dataset size per data kind (study_a_xtb's design): size and kind group the models alike, so
    they share one variance; it goes to the first, and the kinds' known offset (±0.1) is recovered."""
    rng = np.random.default_rng(3)
    rows = [
        {
            "data_kind": kind,
            "dataset_size": {"cluster": 200, "periodic": 60}[kind],
            "seed": seed,
            "density_g_cm3": 1.3 + {"cluster": -0.1, "periodic": 0.1}[kind] + rng.normal(0, 0.01),
        }
        for kind in ("cluster", "periodic")
        for seed in range(1, 7)
    ]
    result = decompose_variance(rows, "density_g_cm3", ["data_kind", "dataset_size", "seed"], replicate="seed")
    assert [c.factor for c in result.components] == ["data_kind", "seed", RESIDUAL]
    assert "dataset_size left out: it groups the models exactly as data_kind does" in result.method
    kind = result.component("data_kind")
    assert kind.share > 0.95
    assert kind.variance_low <= 2 * 0.1**2 <= kind.variance_high  # two levels at ±0.1: variance 2·0.1²
