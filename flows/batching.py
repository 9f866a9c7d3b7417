"""Labelling batches that keep every worker slot busy to the end.

Cutting the structure list into runs of ``batch_size`` leaves the last wave short (240 structures in
batches of 50 on 2 slots: 5 batches, the fifth alone on one worker, at most 1.71x a serial loop).
Here the number of batches is a multiple of the slots, and structures are dealt by estimated cost,
most costly first, each to the least loaded batch: the longest-processing-time rule (R. L. Graham,
SIAM J. Appl. Math. 17, 416 (1969)), whose largest load is within 4/3 of the best possible when
batch sizes are free.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping


def qm_cost(n_atoms: int) -> float:
    """Relative cost of a semi-empirical or DFT single point on ``n_atoms`` atoms: the cubic
    scaling of its diagonalisations, which dominate at the 10-100 atoms of sampled clusters."""
    return float(n_atoms) ** 3


def balanced_batches(costs: Mapping[int, float], batch_size: int, n_slots: int | None) -> list[list[int]]:
    """Keys of ``costs`` (structure ids → estimated cost) in batches of at most ``batch_size``, as many
    batches as the smallest multiple of ``n_slots`` that allows (None: no multiple asked), of nearly
    equal total cost; each batch in id order, the batches in order of their first id."""
    if not costs:
        return []
    n_batches = math.ceil(len(costs) / batch_size)
    if n_slots:
        n_batches = min(len(costs), math.ceil(n_batches / n_slots) * n_slots)
    capacity = math.ceil(len(costs) / n_batches)
    heap = [(0.0, index) for index in range(n_batches)]  # (load, batch); full batches leave the heap
    batches: list[list[int]] = [[] for _ in range(n_batches)]
    for key in sorted(costs, key=lambda k: (-costs[k], k)):
        load, index = heapq.heappop(heap)
        batches[index].append(key)
        if len(batches[index]) < capacity:
            heapq.heappush(heap, (load + costs[key], index))
    return sorted((sorted(batch) for batch in batches if batch), key=lambda batch: batch[0])
