"""Tests of mlipcamp.science.selection: the pair-distance fingerprint and farthest-point sampling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from scipy.spatial.transform import Rotation

from mlipcamp.science.selection import ELEMENTS, PAIRS, farthest_point_subset, structure_fingerprint

N_BINS = 24
R_MAX = 6.0  # Å, bin width 0.25 Å


def block(fingerprint: np.ndarray, a: str, b: str) -> np.ndarray:
    """The histogram of the element pair (a, b) in either order."""
    k = PAIRS.index((a, b) if (a, b) in PAIRS else (b, a))
    return fingerprint[k * N_BINS : (k + 1) * N_BINS]


def test_fingerprint_length_is_fixed_by_the_element_list() -> None:
    assert len(PAIRS) == len(ELEMENTS) * (len(ELEMENTS) + 1) // 2 == 36
    assert structure_fingerprint(molecule("H2")).shape == (36 * N_BINS,)
    assert structure_fingerprint(molecule("CH3CH2OH"), n_bins=10).shape == (360,)


def test_h2_gives_one_hh_count_per_two_atoms_in_the_right_bin() -> None:
    h2 = Atoms("H2", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 0.74]])
    fp = structure_fingerprint(h2)
    expected = np.zeros(N_BINS)
    expected[2] = 0.5  # 0.74 Å lies in [0.50, 0.75)
    np.testing.assert_array_equal(block(fp, "H", "H"), expected)
    assert fp.sum() == 0.5


def test_ethanol_counts_every_pair_once_per_atom() -> None:
    ethanol = molecule("CH3CH2OH")  # C2 H6 O, every distance below 6 Å
    fp = structure_fingerprint(ethanol)
    assert fp.sum() == pytest.approx(9 * 8 / 2 / 9)
    assert block(fp, "C", "C").sum() == pytest.approx(1 / 9)
    assert block(fp, "H", "H").sum() == pytest.approx(15 / 9)
    assert block(fp, "C", "H").sum() == pytest.approx(12 / 9)
    assert block(fp, "C", "O").sum() == pytest.approx(2 / 9)
    assert block(fp, "H", "O").sum() == pytest.approx(6 / 9)
    symbols = ethanol.get_chemical_symbols()
    o = symbols.index("O")
    d_co = min(ethanol.get_distance(o, c) for c in range(len(ethanol)) if symbols[c] == "C")
    assert 1.25 < d_co < 1.5
    assert block(fp, "C", "O")[5] == pytest.approx(1 / 9)  # the C-O bond, in [1.25, 1.50) Å


def test_fingerprint_is_invariant_under_rotation_translation_and_permutation() -> None:
    ethanol = molecule("CH3CH2OH")
    reference = structure_fingerprint(ethanol)
    moved = ethanol.copy()
    moved.positions = Rotation.from_euler("zyx", [37.0, -58.0, 121.0], degrees=True).apply(moved.positions)
    moved.positions += [3.1, -7.4, 12.9]
    permutation = np.random.default_rng(3).permutation(len(moved))
    shuffled = moved[permutation]
    assert list(permutation) != list(range(len(moved)))
    np.testing.assert_allclose(structure_fingerprint(shuffled), reference, atol=1e-12)


def test_periodic_fingerprint_uses_the_minimum_image() -> None:
    box = Atoms("LiF", positions=[[0.3, 5.0, 5.0], [9.7, 5.0, 5.0]], cell=[10.0, 15.0, 15.0], pbc=True)
    fp = structure_fingerprint(box)
    expected = np.zeros(N_BINS)
    expected[2] = 0.5  # image distance 0.6 Å, not 9.4 Å
    np.testing.assert_allclose(block(fp, "F", "Li"), expected)
    assert fp.sum() == pytest.approx(0.5)
    cluster = box.copy()
    cluster.pbc = False
    assert structure_fingerprint(cluster).sum() == 0.0  # 9.4 Å is beyond r_max


def test_fingerprint_rejects_elements_outside_the_list() -> None:
    with pytest.raises(ValueError, match=r"\['Na'\]"):
        structure_fingerprint(Atoms("NaCH", positions=[[0, 0, 0], [1.5, 0, 0], [2.5, 0, 0]]))


def line(n: int = 11) -> np.ndarray:
    """Points 0, 1, ..., n-1 on a line, as (n, 1) fingerprints."""
    return np.arange(n, dtype=float)[:, None]


def test_fps_on_a_line_takes_the_farther_extreme_second() -> None:
    firsts = set()
    for replica in range(20):
        first = farthest_point_subset(line(), 1, replica)[0]
        firsts.add(first)
        assert farthest_point_subset(line(), 2, replica) == sorted({first, 0 if first >= 5 else 10})
    assert len(firsts) > 3


def test_fps_breaks_ties_by_lowest_index() -> None:
    replica = next(r for r in range(1000) if farthest_point_subset(line(), 1, r) == [5])
    # from 5: 0 and 10 tie at 5 (0 first), then 2, 3, 7, 8 tie at 2 (2 first), then 7
    assert farthest_point_subset(line(), 2, replica) == [0, 5]
    assert farthest_point_subset(line(), 4, replica) == [0, 2, 5, 10]
    assert farthest_point_subset(line(), 5, replica) == [0, 2, 5, 7, 10]


def test_fps_is_nested_reproducible_and_differs_between_replicas() -> None:
    points = np.random.default_rng(0).normal(size=(40, 5))
    subsets = [farthest_point_subset(points, k, replica=2) for k in range(1, 41)]
    for small, large in itertools.pairwise(subsets):
        assert len(large) == len(small) + 1 and set(small) < set(large)
    assert subsets[-1] == list(range(40)) == farthest_point_subset(points, None, replica=2)
    assert farthest_point_subset(points, 10, replica=2) == subsets[9]
    assert len({tuple(farthest_point_subset(points, 10, replica=r)) for r in range(6)}) > 1


def test_fps_picks_duplicates_only_after_every_distinct_fingerprint() -> None:
    points = np.array([[0.0], [0.0], [0.0], [1.0], [1.0], [3.0]])
    for replica in range(8):
        chosen = farthest_point_subset(points, 3, replica)
        assert sorted(points[chosen, 0]) == [0.0, 1.0, 3.0]
        fourth = set(farthest_point_subset(points, 4, replica)) - set(chosen)
        assert fourth == {min({0, 1, 2, 3, 4} - set(chosen))}  # lowest-index duplicate


def test_fps_errors_match_select_subset() -> None:
    with pytest.raises(ValueError, match="replica must be >= 0"):
        farthest_point_subset(line(), 3, replica=-1)
    for size in (0, 12):
        with pytest.raises(ValueError, match=f"asked for {size} training structures, but only 11 are labelled"):
            farthest_point_subset(line(), size, replica=0)
    with pytest.raises(ValueError, match="shape"):
        farthest_point_subset(np.arange(5.0), 2, replica=0)
