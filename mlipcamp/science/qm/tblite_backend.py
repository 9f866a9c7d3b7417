"""tblite backend: xTB Hamiltonians (GFN2-xTB, GFN1-xTB) through tblite's ASE calculator."""

from __future__ import annotations

import re

from tblite.ase import TBLite

from mlipcamp.science.qm.levels import LevelOfTheory, check_xtb_level

# level.settings key -> TBLite calculator parameter
SETTING_PARAMETERS = {
    "accuracy": "accuracy",  # dimensionless; smaller is tighter
    "electronic_temperature_K": "electronic_temperature",  # K
    "max_iterations": "max_iterations",  # SCF cycles
}

# tblite raises CalculationFailed("SCF not converged in N cycles") when max_iterations is hit.
_SCF_NOT_CONVERGED = re.compile(r"SCF not converged in (\d+) cycles")


def make_calculator(level: LevelOfTheory, charge: int = 0, multiplicity: int = 1) -> TBLite:
    """Silent TBLite calculator for ``level`` (total charge in e, spin multiplicity 2S+1)."""
    check_xtb_level(level, "tblite", SETTING_PARAMETERS)
    parameters = {SETTING_PARAMETERS[key]: value for key, value in level.settings.items()}
    return TBLite(method=level.method, charge=charge, multiplicity=multiplicity, verbosity=0, **parameters)


def known_failure(exc: Exception) -> str | None:
    """One-line reason for a tblite failure this backend recognises, else None."""
    match = _SCF_NOT_CONVERGED.search(str(exc))
    if match:
        return f"SCF not converged after {match.group(1)} iterations"
    return None
