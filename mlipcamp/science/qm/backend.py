"""What a QM backend module provides (``Backend``), and what it raises for a structure it cannot
label (``LabelFailure``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ase.calculators.calculator import Calculator

from mlipcamp.science.qm.levels import LevelOfTheory


class Backend(Protocol):
    """What a backend module provides; optionally also ``supports_periodic``, a bool or a function of
    the level (absent means True)."""

    def make_calculator(self, level: LevelOfTheory, charge: int = 0, multiplicity: int = 1) -> Calculator: ...

    def known_failure(self, exc: Exception) -> str | None:  # optional: a one-line reason for the code's own errors
        ...


class LabelFailure(RuntimeError):
    """Raised by a backend for a per-structure failure; its message is the reason stored with the label."""


def unpaired_electrons(numbers: Sequence[int], charge: int, multiplicity: int) -> int:
    """2S = multiplicity - 1 for a molecule of these atomic numbers; LabelFailure when the charge and
    multiplicity cannot describe its electron count."""
    n_electrons = int(sum(numbers)) - charge
    unpaired = multiplicity - 1
    if n_electrons < unpaired or (n_electrons - unpaired) % 2:
        raise LabelFailure(
            f"charge {charge} and multiplicity {multiplicity} are not compatible with {n_electrons} electrons"
        )
    return unpaired
