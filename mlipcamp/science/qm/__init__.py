"""Quantum-chemistry labelling: levels of theory and single points through pluggable backends."""

from mlipcamp.science.qm.labelling import (
    LabelResult,
    check_level_supports,
    compute_label,
    get_backend,
    label_structures,
    make_calculator,
)
from mlipcamp.science.qm.levels import (
    LevelOfTheory,
    UnknownLevelError,
    declared_level,
    get_level,
    known_level_names,
)

__all__ = [
    "LabelResult",
    "LevelOfTheory",
    "UnknownLevelError",
    "check_level_supports",
    "compute_label",
    "declared_level",
    "get_backend",
    "get_level",
    "known_level_names",
    "label_structures",
    "make_calculator",
]
