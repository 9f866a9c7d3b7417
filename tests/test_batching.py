"""Labelling batches dealt by cost over the worker slots (flows/batching.py)."""

import numpy as np
import pytest

from mlipcamp.flows.batching import balanced_batches, qm_cost


def test_equal_costs_fill_every_slot_to_the_end():
    batches = balanced_batches(dict.fromkeys(range(240), 1.0), batch_size=50, n_slots=2)
    assert len(batches) == 6 and {len(b) for b in batches} == {40}  # not 5 batches, the fifth alone
    assert sorted(i for b in batches for i in b) == list(range(240))


def test_longest_processing_time_rule_on_a_known_case():
    # most costly first, each to the least loaded batch with room: 5→a, 4→b, 3→b, 3→a, 3→b
    assert balanced_batches({1: 5.0, 2: 4.0, 3: 3.0, 4: 3.0, 5: 3.0}, batch_size=3, n_slots=2) == [[1, 4], [2, 3, 5]]


@pytest.mark.parametrize("n_slots", [None, 1, 3, 4])
def test_batches_respect_the_size_and_are_within_graham_s_bound(n_slots):
    sizes = np.random.default_rng(n_slots or 0).integers(10, 60, 97)
    costs = {i: qm_cost(int(n)) for i, n in enumerate(sizes, start=100)}
    batches = balanced_batches(costs, batch_size=10, n_slots=n_slots)
    assert sorted(i for b in batches for i in b) == sorted(costs)
    assert all(len(b) <= 10 and b == sorted(b) for b in batches)
    assert len(batches) % (n_slots or 1) == 0 and len(batches) >= 10
    loads = [sum(costs[i] for i in b) for b in batches]
    assert max(loads) <= 4 / 3 * max(sum(loads) / len(loads), max(costs.values()))


def test_fewer_structures_than_slots_and_none():
    assert balanced_batches({7: 1.0, 3: 2.0}, batch_size=50, n_slots=4) == [[3], [7]]
    assert balanced_batches({}, batch_size=50, n_slots=2) == []
