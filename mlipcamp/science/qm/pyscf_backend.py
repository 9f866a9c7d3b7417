"""PySCF backend: molecular Kohn-Sham DFT energies and analytic forces, plus D2/D3 dispersion.

PySCF works in Hartree and Bohr and does not raise when the SCF fails to converge; this
calculator converts to eV and eV/Å, turns ``mf.converged == False`` into a failure, and adds the
dispersion correction itself (mlipcamp.science.qm.dispersion, with the parameters stored in the level)
rather than through PySCF's ``mf.disp`` name mapping. Closed-shell singlets use RKS, everything
else UKS. OpenMP threads follow threadpoolctl limits (label_structures sets them). Molecules only.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols
from ase.units import Bohr, Hartree
from pyscf import df, dft, gto  # loaded with the backend, so thread limits reach PySCF's OpenMP

from mlipcamp.science.qm.backend import LabelFailure, unpaired_electrons
from mlipcamp.science.qm.dispersion import DISPERSION_VARIANTS, dispersion_energy_forces
from mlipcamp.science.qm.levels import PYSCF_DEFAULTS, LevelOfTheory, periodic_refusal

supports_periodic = False

# settings a PySCF level may carry (see mlipcamp.science.qm.levels.PYSCF_DEFAULTS)
SETTINGS = frozenset(PYSCF_DEFAULTS) | {"auxbasis", "dispersion_params"}


def make_calculator(level: LevelOfTheory, charge: int = 0, multiplicity: int = 1) -> PySCFCalculator:
    """PySCF calculator for ``level`` (total charge in e, spin multiplicity 2S+1)."""
    unknown = sorted(set(level.settings) - SETTINGS)
    if unknown:
        raise ValueError(f"level {level.name!r}: unknown pyscf settings {unknown}; known: {sorted(SETTINGS)}")
    if not level.basis:
        raise ValueError(f"level {level.name!r}: a PySCF DFT level needs a basis")
    if level.dispersion is not None:
        if level.dispersion not in DISPERSION_VARIANTS:
            raise ValueError(
                f"level {level.name!r}: unknown dispersion {level.dispersion!r}; known: {DISPERSION_VARIANTS}"
            )
        if not level.settings.get("dispersion_params"):
            raise ValueError(f"level {level.name!r}: dispersion {level.dispersion} needs dispersion_params")
    if multiplicity < 1:
        raise ValueError(f"multiplicity must be >= 1, got {multiplicity}")
    return PySCFCalculator(level, charge=charge, multiplicity=multiplicity)


class PySCFCalculator(Calculator):
    """ASE calculator running one PySCF DFT single point per geometry (eV, eV/Å)."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, level: LevelOfTheory, charge: int = 0, multiplicity: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.level = level
        self.charge = int(charge)
        self.multiplicity = int(multiplicity)
        self._mf = None
        self._dispersion: tuple[float, np.ndarray] | None = None

    def reset(self) -> None:
        super().reset()
        self._mf = None
        self._dispersion = None

    def calculate(self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if system_changes:
            self._mf = None
            self._dispersion = None
        atoms = self.atoms
        if np.any(atoms.pbc):
            raise ValueError(periodic_refusal("pyscf"))
        if self._mf is None:
            self._mf = self._scf(atoms)
            self._dispersion = self._dispersion_terms(atoms)
            energy = float(self._mf.e_tot) * Hartree + self._dispersion[0]
            self.results["energy"] = self.results["free_energy"] = energy
        if "forces" in properties and "forces" not in self.results:
            gradient = self._mf.nuc_grad_method()
            gradient.verbose = 0
            gradient.grid_response = bool(self.level.settings.get("grid_response", PYSCF_DEFAULTS["grid_response"]))
            de = np.asarray(gradient.kernel())  # Hartree/Bohr
            self.results["forces"] = -de * (Hartree / Bohr) + self._dispersion[1]

    def _dispersion_terms(self, atoms: Atoms) -> tuple[float, np.ndarray]:
        if self.level.dispersion is None:
            return 0.0, np.zeros((len(atoms), 3))
        return dispersion_energy_forces(
            atoms.numbers, atoms.positions, self.level.dispersion, self.level.settings["dispersion_params"]
        )

    def _scf(self, atoms: Atoms):
        settings = {**PYSCF_DEFAULTS, **self.level.settings}
        unpaired = unpaired_electrons(atoms.numbers, self.charge, self.multiplicity)
        mol = gto.Mole()
        mol.atom = [(chemical_symbols[z], tuple(p)) for z, p in zip(atoms.numbers, atoms.positions, strict=True)]
        mol.unit = "Angstrom"
        mol.basis = self.level.basis
        mol.charge = self.charge
        mol.spin = unpaired  # PySCF's spin is 2S = N_alpha - N_beta
        mol.verbose = 0
        mol.build()
        mf = dft.RKS(mol) if unpaired == 0 else dft.UKS(mol)
        mf.xc = self.level.method
        mf.verbose = 0
        _no_builtin_dispersion(mf)
        if settings["density_fit"]:
            auxbasis = settings.get("auxbasis")
            if auxbasis == "etb":
                auxbasis = df.addons.aug_etb(mol)
            mf = mf.density_fit(auxbasis=auxbasis)
        mf.grids.level = int(settings["grids_level"])
        mf.conv_tol = float(settings["conv_tol"])
        mf.max_cycle = int(settings["max_cycle"])
        mf.kernel()
        if not mf.converged:
            raise LabelFailure(f"SCF not converged after {mf.max_cycle} cycles")
        return mf


def _no_builtin_dispersion(mf) -> None:
    """Make sure PySCF adds no dispersion of its own (we add the level's): mf.disp off, xc without -d3."""
    if hasattr(mf, "disp"):
        mf.disp = None
    try:
        from pyscf.scf.dispersion import check_disp
    except ImportError:  # PySCF < 2.5 has no built-in dispersion
        return
    if check_disp(mf):
        raise ValueError(f"PySCF would add its own dispersion for xc {mf.xc!r}; refusing to double count")
