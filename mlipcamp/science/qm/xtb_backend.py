"""xtb-python backend: GFN2-xTB through the xtb library's ASE calculator (molecules only).

A cross-check of the default tblite backend (same Hamiltonian, independent implementation);
periodic GFN2-xTB does not work in xtb-python, so periodic cells are refused. xtb-python ships
binary wheels for CPython 3.11 only; without it ``get_level('gfn2-xtb@xtb')`` already fails.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import CalculationFailed, InputError
from ase.units import Bohr
from xtb.ase.calculator import XTB
from xtb.interface import Calculator as XtbApiCalculator
from xtb.interface import XTBException
from xtb.libxtb import VERBOSITY_MUTED
from xtb.utils import get_method, get_solvent

from mlipcamp.science.qm.backend import LabelFailure
from mlipcamp.science.qm.levels import LevelOfTheory, check_xtb_level, periodic_refusal

supports_periodic = False

# level.settings key -> XTB calculator parameter (same keys and defaults as the tblite levels)
SETTING_PARAMETERS = {
    "accuracy": "accuracy",
    "electronic_temperature_K": "electronic_temperature",
    "max_iterations": "max_iterations",
}


def make_calculator(level: LevelOfTheory, charge: int = 0, multiplicity: int = 1) -> ChargedXTB:
    """Silent xtb-python calculator for ``level`` (total charge in e, spin multiplicity 2S+1)."""
    check_xtb_level(level, "xtb", SETTING_PARAMETERS)
    if get_method(level.method) is None:
        raise ValueError(f"level {level.name!r}: xtb-python does not know method {level.method!r}")
    if multiplicity < 1:
        raise ValueError(f"multiplicity must be >= 1, got {multiplicity}")
    parameters = {SETTING_PARAMETERS[key]: value for key, value in level.settings.items()}
    return ChargedXTB(charge=charge, multiplicity=multiplicity, method=level.method, **parameters)


class ChargedXTB(XTB):
    """xtb-python's XTB with charge and multiplicity as arguments.

    The stock calculator reads them from the atoms' initial charges and magnetic moments, which
    compute_label's bare copy of the structure does not carry.
    """

    def __init__(self, charge: int = 0, multiplicity: int = 1, **kwargs):
        self.total_charge = int(charge)
        self.unpaired = int(multiplicity) - 1
        super().__init__(**kwargs)

    def calculate(self, atoms=None, properties=None, system_changes=None):
        candidate = atoms if atoms is not None else self.atoms
        if candidate is not None and np.any(candidate.pbc):
            raise ValueError(periodic_refusal("xtb"))
        try:
            if system_changes is None:
                super().calculate(atoms, properties)
            else:
                super().calculate(atoms, properties, system_changes)
        except (CalculationFailed, InputError) as exc:
            # XTB replaces the library's message by "xtb could not evaluate input"; the cause is chained
            cause = exc.__cause__ or exc.__context__
            detail = " ".join(str(cause if cause is not None else exc).split())
            if "did not converge" in detail:
                reason = f"SCF not converged after {self.parameters.max_iterations} iterations"
            elif cause is None:
                reason = detail
            else:
                reason = f"xtb single point failed: {detail}"
            raise LabelFailure(reason) from exc

    def _create_api_calculator(self) -> XtbApiCalculator:
        n_electrons = int(self.atoms.numbers.sum()) - self.total_charge
        if n_electrons < self.unpaired or (n_electrons - self.unpaired) % 2:
            raise CalculationFailed(
                f"charge {self.total_charge} and multiplicity {self.unpaired + 1} are not "
                f"compatible with {n_electrons} electrons"
            )
        try:
            calc = XtbApiCalculator(
                get_method(self.parameters.method),
                self.atoms.numbers,
                self.atoms.positions / Bohr,
                self.total_charge,
                self.unpaired,
            )
            calc.set_verbosity(VERBOSITY_MUTED)
            calc.set_accuracy(self.parameters.accuracy)
            calc.set_electronic_temperature(self.parameters.electronic_temperature)
            calc.set_max_iterations(self.parameters.max_iterations)
            calc.set_solvent(get_solvent(self.parameters.solvent))
        except XTBException as exc:
            raise InputError(f"Cannot construct calculator for xtb: {exc}") from exc
        return calc
