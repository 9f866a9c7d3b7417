"""Dispersion corrections added on top of a DFT energy: Grimme D2 (implemented here) and D3 (simple-dftd3).

Everything here works in eV and Å. The DFT backends compute the dispersion themselves with
these helpers and add it to the functional's energy and forces, instead of relying on a QM
code's own switch (PySCF's ``mf.disp`` silently maps some names to other functionals), so that
the parameters used are exactly the ones stored in the LevelOfTheory.

D2: S. Grimme, J. Comput. Chem. 27, 1787 (2006), eqs. 11-13 and Table 1:
    E = -s6 sum_{i<j} C6ij / r^6 * f_damp(r),  f_damp = 1 / (1 + exp(-d (r / (R0i + R0j) - 1))),
    C6ij = sqrt(C6i C6j), d = 20. Molecules only (no periodic images).
D3: S. Grimme, J. Antony, S. Ehrlich, H. Krieg, J. Chem. Phys. 132, 154104 (2010) (zero damping)
    and S. Grimme, S. Ehrlich, L. Goerigk, J. Comput. Chem. 32, 1456 (2011) (Becke-Johnson damping),
    evaluated by the ``dftd3`` package (Python API of simple-dftd3).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import chemical_symbols
from ase.units import Bohr, Hartree
from scipy.special import expit

# --- D2 ---------------------------------------------------------------------------------------

# 1 J/mol per particle is 1/(N_A e) eV = 1/F eV with F = N_A e = 96485.33212 C/mol (CODATA 2018,
# exact in the 2019 SI); 1 nm^6 = 1e6 Å^6.  So 1 J nm^6 mol^-1 = 1e6/F eV Å^6 = 10.3643 eV Å^6
# (C6 of carbon, 1.75 J nm^6/mol, is 18.14 eV Å^6).
FARADAY_C_PER_MOL = 96485.33212
J_NM6_PER_MOL_IN_EV_ANG6 = 1e6 / FARADAY_C_PER_MOL

# Grimme 2006, Table 1: atomic C6 (J nm^6 mol^-1) and R0 (Å), by atomic number (H-Ar, K, Ca, Br).
D2_C6_J_NM6_PER_MOL: dict[int, float] = {
    1: 0.14, 2: 0.08,
    3: 1.61, 4: 1.61, 5: 3.13, 6: 1.75, 7: 1.23, 8: 0.70, 9: 0.75, 10: 0.63,
    11: 5.71, 12: 5.71, 13: 10.79, 14: 9.23, 15: 7.84, 16: 5.57, 17: 5.07, 18: 4.61,
    19: 10.80, 20: 10.80, 35: 12.47,
}  # fmt: skip
D2_R0_ANG: dict[int, float] = {
    1: 1.001, 2: 1.012,
    3: 0.825, 4: 1.408, 5: 1.485, 6: 1.452, 7: 1.397, 8: 1.342, 9: 1.287, 10: 1.243,
    11: 1.144, 12: 1.364, 13: 1.639, 14: 1.716, 15: 1.705, 16: 1.683, 17: 1.639, 18: 1.595,
    19: 1.485, 20: 1.474, 35: 1.749,
}  # fmt: skip
D2_DAMPING_D = 20.0
# Global scaling s6 fitted per functional (Grimme 2006): the only functional-dependent parameter.
D2_S6: dict[str, float] = {
    "pbe": 0.75,
    "blyp": 1.2,
    "bp86": 1.05,
    "tpss": 1.0,
    "b3lyp": 1.05,
    "b97-d": 1.25,  # B97-D, the GGA refitted together with D2 (libxc GGA_XC_B97_D)
}
D2_IMPLEMENTATION = "mlipcamp-d2-v1"  # bump if the table or formula above changes


def d2_energy_forces(
    numbers: np.ndarray, positions: np.ndarray, s6: float, d: float = D2_DAMPING_D
) -> tuple[float, np.ndarray]:
    """Grimme D2 dispersion of a molecule: energy (eV) and forces (eV/Å), positions in Å."""
    numbers = np.asarray(numbers, dtype=int)
    positions = np.asarray(positions, dtype=np.float64)
    missing = sorted({int(z) for z in numbers if int(z) not in D2_C6_J_NM6_PER_MOL})
    if missing:
        symbols = ", ".join(chemical_symbols[z] for z in missing)
        raise ValueError(f"no D2 parameters for element(s) {symbols}")
    forces = np.zeros_like(positions)
    if len(numbers) < 2:
        return 0.0, forces
    c6 = np.array([D2_C6_J_NM6_PER_MOL[int(z)] for z in numbers]) * J_NM6_PER_MOL_IN_EV_ANG6
    r0 = np.array([D2_R0_ANG[int(z)] for z in numbers])
    i, j = np.triu_indices(len(numbers), k=1)
    vec = positions[i] - positions[j]
    r = np.linalg.norm(vec, axis=1)
    c6ij = np.sqrt(c6[i] * c6[j])
    r0ij = r0[i] + r0[j]
    f = expit(d * (r / r0ij - 1.0))  # 1 / (1 + exp(-d (r/R0 - 1))), overflow-safe
    pair = -s6 * c6ij / r**6 * f
    # dE/dr = -s6 C6 [ -6 f / r^7 + f' / r^6 ],  f' = (d / R0) f (1 - f)
    de_dr = -s6 * c6ij * (-6.0 * f / r**7 + d / r0ij * f * (1.0 - f) / r**6)
    pair_force = -(de_dr / r)[:, None] * vec  # force on i from the pair; j gets the opposite
    np.add.at(forces, i, pair_force)
    np.add.at(forces, j, -pair_force)
    return float(pair.sum()), forces


# --- D3 ---------------------------------------------------------------------------------------

# Two-body D3 by default (s9 = 0): the published D3(BJ)/D3(0) fits and most codes (psi4's -d3bj,
# ORCA, Gaussian) leave the Axilrod-Teller-Muto three-body term out; simple-dftd3 includes it
# (s9 = 1) unless told otherwise, so s9 is always stored explicitly.
D3_DEFAULT_S9 = 0.0
# parameter names the dftd3 damping classes take, per damping ("bj": rational, "zero": zero)
D3_PARAMETER_NAMES = {"bj": ("s6", "s8", "s9", "a1", "a2", "alp"), "zero": ("s6", "s8", "s9", "rs6", "rs8", "alp")}
# ωB97X-D3: Y.-S. Lin, G.-D. Li, S.-P. Mao, J.-D. Chai, J. Chem. Theory Comput. 9, 263 (2013),
# D3 zero damping refitted with the functional (libxc HYB_GGA_XC_WB97X_D3)
WB97X_D3_ZERO_PARAMS = {"s6": 1.0, "s8": 1.0, "s9": D3_DEFAULT_S9, "rs6": 1.281, "rs8": 1.094, "alp": 14.0}
# functional names whose entry in simple-dftd3's parameter table has another key
_D3_TABLE_ALIASES = {"bp86": "bp", "b97-d": "b97d"}


def _d3_table_file() -> Path:
    # simple-dftd3 ships parameters.toml in $PREFIX/share/s-dftd3 (conda) or next to the package
    # (wheels); dftd3.parameters finds it too but needs a third-party TOML parser to import.
    import dftd3

    package = Path(dftd3.__file__).resolve().parent
    for candidate in (package.parents[3] / "share" / "s-dftd3" / "parameters.toml", package / "parameters.toml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"simple-dftd3's parameters.toml not found near {package}")


@lru_cache(maxsize=1)
def _d3_table() -> dict[str, Any]:
    with open(_d3_table_file(), "rb") as fh:
        return tomllib.load(fh)


def d3_table_functionals(damping: str) -> list[str]:
    """Functionals with parameters for ``damping`` ('bj' or 'zero') in simple-dftd3's table."""
    table = _d3_table()["parameter"]
    return sorted(name for name, entry in table.items() if damping in entry.get("d3", {}))


def d3_parameters(functional: str, damping: str) -> dict[str, float] | None:
    """Published D3 parameters of ``functional`` for ``damping`` ('bj' or 'zero'), s9 = 0; None if unknown.

    Read from the parameter table shipped with simple-dftd3 (the values of the original papers).
    """
    if damping not in D3_PARAMETER_NAMES:
        raise ValueError(f"unknown D3 damping {damping!r}; known: {sorted(D3_PARAMETER_NAMES)}")
    table = _d3_table()
    name = functional.lower()
    candidates = [_D3_TABLE_ALIASES.get(name, name), name.replace("-", ""), name.replace("-", "_")]
    for key in candidates:
        entry = table["parameter"].get(key, {}).get("d3", {}).get(damping)
        if entry is not None:
            params = {**table["default"]["parameter"]["d3"][damping], **entry}
            params["s9"] = D3_DEFAULT_S9
            return {k: float(params[k]) for k in D3_PARAMETER_NAMES[damping]}
    return None


def d3_energy_forces(
    numbers: np.ndarray, positions: np.ndarray, damping: str, params: Mapping[str, float]
) -> tuple[float, np.ndarray]:
    """D3 dispersion of a molecule through simple-dftd3: energy (eV) and forces (eV/Å), positions in Å."""
    from dftd3.interface import DispersionModel, RationalDampingParam, ZeroDampingParam

    kinds = {"bj": RationalDampingParam, "zero": ZeroDampingParam}
    if damping not in kinds:
        raise ValueError(f"unknown D3 damping {damping!r}; known: {sorted(kinds)}")
    unknown = sorted(set(params) - set(D3_PARAMETER_NAMES[damping]))
    if unknown:
        raise ValueError(f"unknown D3({damping}) parameters {unknown}; known: {list(D3_PARAMETER_NAMES[damping])}")
    model = DispersionModel(np.asarray(numbers, dtype=np.int32), np.asarray(positions, dtype=np.float64) / Bohr)
    result = model.get_dispersion(kinds[damping](**dict(params)), grad=True)
    return float(result["energy"]) * Hartree, -np.asarray(result["gradient"]) * Hartree / Bohr


# --- dispatch used by the backends --------------------------------------------------------------

DISPERSION_VARIANTS = ("d2", "d3bj", "d3zero")


def dispersion_energy_forces(
    numbers: np.ndarray, positions: np.ndarray, variant: str, params: Mapping[str, float]
) -> tuple[float, np.ndarray]:
    """Energy (eV) and forces (eV/Å) of dispersion ``variant`` ('d2', 'd3bj', 'd3zero') with ``params``."""
    if variant == "d2":
        unknown = sorted(set(params) - {"s6", "d"})
        if unknown:
            raise ValueError(f"unknown D2 parameters {unknown}; known: ['s6', 'd']")
        return d2_energy_forces(numbers, positions, s6=params["s6"], d=params.get("d", D2_DAMPING_D))
    if variant == "d3bj":
        return d3_energy_forces(numbers, positions, "bj", params)
    if variant == "d3zero":
        return d3_energy_forces(numbers, positions, "zero", params)
    raise ValueError(f"unknown dispersion {variant!r}; known: {', '.join(DISPERSION_VARIANTS)}")
