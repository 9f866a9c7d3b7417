"""mlipcamp.science.qm DFT levels: spec parsing, D2/D3 dispersion, PySCF/psi4/xtb-python/ASE backends."""

from __future__ import annotations

import importlib.util
import math
import types

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.units import Bohr, Hartree

from mlipcamp.science.qm import (
    UnknownLevelError,
    compute_label,
    get_level,
    known_level_names,
    label_structures,
    make_calculator,
)
from mlipcamp.science.qm.dispersion import (
    D2_S6,
    J_NM6_PER_MOL_IN_EV_ANG6,
    d2_energy_forces,
    d3_energy_forces,
    d3_parameters,
    dispersion_energy_forces,
)
from mlipcamp.science.qm.labelling import check_level_supports, supports_periodic
from mlipcamp.science.qm.levels import LevelOfTheory, ase_level, declared_level, parse_level_spec

HAS_XTB = importlib.util.find_spec("xtb") is not None
HAS_PSI4 = importlib.util.find_spec("psi4") is not None
PSI4_REASON = "psi4 is conda-only and not installed"


def _water() -> Atoms:
    """Water slightly off its minimum (so forces are sizeable), no symmetry."""
    atoms = molecule("H2O")
    atoms.positions += np.array([[0.0, 0.02, -0.03], [0.05, 0.08, 0.01], [-0.04, -0.1, 0.06]])
    return atoms


def _water_dimer() -> Atoms:
    """Two waters 2.9 Å O–O apart, roughly hydrogen bonded."""
    first, second = molecule("H2O"), molecule("H2O")
    second.rotate(90, "x")
    second.translate([0.3, 0.2, 2.9])
    return first + second


def _organic_cluster() -> Atoms:
    """Ethanol next to a water: H, C, O at bonded and non-bonded distances (12 atoms)."""
    other = molecule("H2O")
    other.translate([3.2, 0.4, 0.7])
    return molecule("CH3CH2OH") + other


def _fd_forces(energy, positions: np.ndarray, step: float = 1e-4) -> np.ndarray:
    numerical = np.zeros_like(positions)
    for i in range(len(positions)):
        for k in range(3):
            plus, minus = positions.copy(), positions.copy()
            plus[i, k] += step
            minus[i, k] -= step
            numerical[i, k] = -(energy(plus) - energy(minus)) / (2 * step)
    return numerical


def _directional_check(atoms: Atoms, level, step: float = 2e-3, seed: int = 0) -> tuple[float, float]:
    """(F·u, -(E(x+hu) - E(x-hu)) / 2h) for a random unit displacement u of all atoms: 3 SCFs."""
    u = np.random.default_rng(seed).normal(size=atoms.positions.shape)
    u /= np.linalg.norm(u)
    result = compute_label(atoms, level)
    assert result.ok, result.error
    energies = []
    for sign in (1, -1):
        moved = atoms.copy()
        moved.positions += sign * step * u
        other = compute_label(moved, level)
        assert other.ok, other.error
        energies.append(other.energy_eV)
    return float(np.sum(result.forces_eV_ang * u)), -(energies[0] - energies[1]) / (2 * step)


# --- level specs ---------------------------------------------------------------------------------


def test_known_level_names_are_the_documented_specs():
    assert known_level_names() == [
        "gfn2-xtb",
        "gfn2-xtb@xtb",
        "pbe-d3bj/def2-svp",
        "pbe-d2/def2-svp",
        "b97-d3bj/def2-tzvp",
        "wb97x-d3/def2-tzvp",
    ]


def test_named_dft_specs_resolve_to_explicit_functionals_and_published_dispersion():
    pbe = get_level("pbe-d3bj/def2-svp")
    assert (pbe.name, pbe.code, pbe.method, pbe.basis, pbe.dispersion) == (
        "pbe-d3bj/def2-svp", "pyscf", "GGA_X_PBE,GGA_C_PBE", "def2-svp", "d3bj",
    )  # fmt: skip
    # Grimme, Ehrlich, Goerigk 2011: PBE-D3(BJ) a1 0.4289, s8 0.7875, a2 4.4407; two-body only
    assert pbe.settings["dispersion_params"] == {
        "s6": 1.0, "s8": 0.7875, "s9": 0.0, "a1": 0.4289, "a2": 4.4407, "alp": 14.0,
    }  # fmt: skip
    assert pbe.settings["density_fit"] is True and pbe.settings["auxbasis"] == "def2-svp-jkfit"
    assert {"grids_level", "conv_tol", "max_cycle", "grid_response"} <= set(pbe.settings)
    assert pbe.code_version.startswith("pyscf ") and "libxc" in pbe.code_version and "dftd3" in pbe.code_version

    d2 = get_level("pbe-d2/def2-svp")
    assert (d2.dispersion, d2.settings["dispersion_params"]) == ("d2", {"s6": 0.75, "d": 20.0})

    # B97-D3(BJ) is the B97-D GGA (not PySCF's hybrid 'b97') with B97-D's D3(BJ) parameters
    b97 = get_level("b97-d3bj/def2-tzvp")
    assert (b97.method, b97.dispersion) == ("GGA_XC_B97_D", "d3bj")
    assert b97.settings["dispersion_params"] == {
        "s6": 1.0, "s8": 2.2609, "s9": 0.0, "a1": 0.5545, "a2": 3.2297, "alp": 14.0,
    }  # fmt: skip
    assert get_level("b97/def2-svp").method == "HYB_GGA_XC_B97"  # no dispersion: Becke's hybrid B97
    assert get_level("b97-d/def2-svp") == get_level("b97-d2/def2-svp")  # B97-D means B97-D2
    assert get_level("b97-d2/def2-svp").settings["dispersion_params"] == {"s6": 1.25, "d": 20.0}

    # ωB97X-D3: its libxc functional plus zero-damping D3 with Lin et al. 2013's parameters
    wb = get_level("wb97x-d3/def2-tzvp")
    assert (wb.name, wb.method, wb.dispersion) == ("wb97x-d3/def2-tzvp", "HYB_GGA_XC_WB97X_D3", "d3zero")
    assert wb.settings["dispersion_params"] == {
        "s6": 1.0, "s8": 1.0, "s9": 0.0, "rs6": 1.281, "rs8": 1.094, "alp": 14.0,
    }  # fmt: skip


def test_generic_specs_are_canonicalised():
    assert get_level("PBE-D3BJ/Def2-SVP@pyscf") == get_level("pbe-d3bj/def2-svp")
    assert get_level("pbe-none/def2-svp") == get_level("pbe/def2-svp")
    assert get_level("pbe/def2-svp").dispersion is None
    assert "dispersion_params" not in get_level("pbe/def2-svp").settings
    assert get_level("b3lyp-d3zero/def2-svp").method == "HYB_GGA_XC_B3LYP"
    assert get_level("m06-2x/def2-svp").method == "HYB_MGGA_X_M06_2X,MGGA_C_M06_2X"
    assert get_level("tpss-d2/def2-svp").settings["dispersion_params"]["s6"] == 1.0
    assert parse_level_spec("b3lyp-d3bj/6-31g*@psi4") == parse_level_spec("B3LYP-D3BJ/6-31G*@psi4")
    parsed = parse_level_spec("wb97x-d3/def2-tzvp@psi4")
    assert (parsed.functional, parsed.dispersion, parsed.basis, parsed.code) == (
        "wb97x-d3", None, "def2-tzvp", "psi4",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("nofunctional-d3bj/def2-svp", "unknown functional 'nofunctional'"),
        ("pbe-d3bj/def2-nope", "unknown basis 'def2-nope'"),
        ("pbe-d3/def2-svp", "unknown dispersion 'd3'"),
        ("pbe-d4/def2-svp", "unknown dispersion 'd4'"),
        ("pbe/def2-svp@orca", "unknown code 'orca'"),
        ("m06-2x-d2/def2-svp", "no D2 s6 for functional 'm06-2x'"),
        ("wb97x-d3-d3bj/def2-svp", "wb97x-d3 comes with its own d3zero dispersion"),
        ("wb97x-d/def2-svp", "not implemented"),
        ("pbe-d3bj-d3bj/def2-svp", "already names a dispersion"),
        ("ase:no_such_package.module:Calc", "not importable"),
    ],
)
def test_unknown_specs_say_why_and_list_the_named_specs(spec, reason):
    with pytest.raises(UnknownLevelError) as info:
        get_level(spec)
    message = str(info.value)
    assert reason in message
    assert f"known: {', '.join(known_level_names())}" in message
    assert "<functional>[-<dispersion>]/<basis>[@<code>]" in message


def test_level_hash_follows_basis_dispersion_and_settings():
    svp, tzvp = get_level("pbe-d3bj/def2-svp"), get_level("pbe-d3bj/def2-tzvp")
    assert svp.hash == get_level("pbe-d3bj/def2-svp").hash
    assert len({svp.hash, tzvp.hash, get_level("pbe-d3zero/def2-svp").hash, get_level("pbe/def2-svp").hash}) == 4
    params = svp.settings["dispersion_params"]
    assert svp.with_settings(dispersion_params={**params, "s9": 1.0}).hash != svp.hash
    assert svp.with_settings(grids_level=4).hash != svp.hash
    assert svp.with_settings(density_fit=False).hash != svp.hash
    assert svp.with_settings(conv_tol=1e-9).hash == svp.hash


def test_declared_levels_name_imported_labels_apart_from_computed_ones():
    declared = declared_level("PBE-D3BJ/def2-SVP")
    assert declared.name == "declared:pbe-d3bj/def2-svp"
    assert (declared.code, declared.method, declared.basis, declared.dispersion) == (
        "declared",
        "pbe",
        "def2-svp",
        "d3bj",
    )
    assert get_level("declared:pbe-d3bj/def2-svp") == declared == declared_level("declared:pbe-d3bj/def2-svp")
    assert declared.hash != get_level("pbe-d3bj/def2-svp").hash
    assert declared_level("pbe-none/def2-svp").name == "declared:pbe/def2-svp"
    assert declared_level("b3lyp-d3bj/def2-tzvp@orca").name == "declared:b3lyp-d3bj/def2-tzvp@orca"
    assert declared_level("CCSD(T)/CBS").name == "declared:ccsd(t)/cbs"
    with pytest.raises(UnknownLevelError):
        declared_level("declared: ")
    with pytest.raises(ValueError, match="no backend computes it"):
        compute_label(_water(), declared)


@pytest.mark.skipif(HAS_XTB, reason="xtb-python is installed")
def test_xtb_python_spec_without_xtb_says_how_to_get_it():
    with pytest.raises(UnknownLevelError, match="pip install xtb"):
        get_level("gfn2-xtb@xtb")


@pytest.mark.skipif(HAS_PSI4, reason="psi4 is installed")
def test_psi4_spec_without_psi4_says_so():
    with pytest.raises(UnknownLevelError, match=PSI4_REASON):
        get_level("pbe-d3bj/def2-svp@psi4")


# --- D2 ------------------------------------------------------------------------------------------


def test_d2_units_and_pair_energy_match_a_hand_computation():
    # Grimme 2006 Table 1: C6(C) = 1.75 J nm^6/mol = 18.14 eV Å^6
    assert pytest.approx(18.14, abs=0.005) == 1.75 * J_NM6_PER_MOL_IN_EV_ANG6
    assert D2_S6["pbe"] == 0.75
    r = 3.2
    numbers, positions = [6, 8], np.array([[0.0, 0.0, 0.0], [0.0, 0.0, r]])
    c6 = math.sqrt(1.75 * 0.70) * 1e6 / 96485.33212  # J nm^6/mol -> eV Å^6 for the C–O pair
    damping = 1.0 / (1.0 + math.exp(-20.0 * (r / (1.452 + 1.342) - 1.0)))
    expected = -0.75 * c6 / r**6 * damping
    energy, forces = d2_energy_forces(numbers, positions, s6=0.75)
    assert energy == pytest.approx(expected, rel=1e-12)
    assert energy == pytest.approx(-0.007597, abs=1e-6)  # 11.471 eV Å^6 / 3.2^6 × 0.9482 × 0.75
    np.testing.assert_allclose(forces[0], -forces[1], atol=1e-15)
    assert forces[0, 2] > 0  # attraction pulls C towards O (+z)


def test_d2_forces_match_finite_differences():
    rng = np.random.default_rng(3)
    numbers = np.array([1, 3, 5, 6, 7, 8, 9, 11, 15, 16, 17, 1])
    grid = np.array([[i, j, k] for i in range(3) for j in range(2) for k in range(2)], dtype=float)
    positions = grid * 2.4 + rng.normal(scale=0.3, size=grid.shape)
    energy, forces = d2_energy_forces(numbers, positions, s6=0.75)
    assert energy < 0
    numerical = _fd_forces(lambda x: d2_energy_forces(numbers, x, s6=0.75)[0], positions)
    assert np.abs(forces).max() > 1e-2
    np.testing.assert_allclose(forces, numerical, atol=1e-7, rtol=0)


def test_d2_refuses_elements_without_parameters():
    with pytest.raises(ValueError, match="no D2 parameters for element"):
        d2_energy_forces([1, 92], np.array([[0.0, 0, 0], [0, 0, 3.0]]), s6=0.75)


# --- D3 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("functional", "damping"), [("pbe", "bj"), ("b97-d", "bj"), ("pbe", "zero"), ("wb97x", "zero")]
)
def test_d3_forces_match_finite_differences(functional, damping):
    atoms = _organic_cluster()
    params = d3_parameters(functional, damping)
    energy, forces = d3_energy_forces(atoms.numbers, atoms.positions, damping, params)
    assert energy < 0
    numerical = _fd_forces(lambda x: d3_energy_forces(atoms.numbers, x, damping, params)[0], atoms.positions)
    np.testing.assert_allclose(forces, numerical, atol=1e-7, rtol=0)


def test_d3_parameters_and_energies_match_pyscf_dispersion():
    dftd3 = pytest.importorskip("pyscf.dispersion.dftd3")
    from pyscf import gto

    atoms = _water_dimer()
    mol = gto.M(
        atom=[(s, tuple(p)) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)], verbose=0
    )
    for xc, ours, version, damping in [
        ("pbe", "pbe", "d3bj", "bj"),
        ("b97d", "b97-d", "d3bj", "bj"),
        ("pbe", "pbe", "d3zero", "zero"),
    ]:
        reference = dftd3.DFTD3Dispersion(mol, xc=xc, version=version, atm=False).get_dispersion()["energy"]
        energy, _ = d3_energy_forces(atoms.numbers, atoms.positions, damping, d3_parameters(ours, damping))
        assert energy / Hartree == pytest.approx(reference, rel=1e-8)
    # ωB97X-D3's zero-damping parameters (Lin et al. 2013) are simple-dftd3's 'wb97x' zero entry
    assert d3_parameters("wb97x", "zero") == get_level("wb97x-d3/def2-svp").settings["dispersion_params"]


def test_dispersion_dispatch_rejects_unknown_variants_and_parameters():
    atoms = _water_dimer()
    with pytest.raises(ValueError, match="unknown dispersion 'd4'"):
        dispersion_energy_forces(atoms.numbers, atoms.positions, "d4", {})
    with pytest.raises(ValueError, match="unknown D3"):
        dispersion_energy_forces(atoms.numbers, atoms.positions, "d3bj", {"s6": 1.0, "rs6": 1.0})


# --- PySCF ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def water() -> Atoms:
    return _water()


@pytest.mark.parametrize("spec", ["pbe-d3bj/def2-svp", "pbe-d2/def2-svp"])
def test_pyscf_forces_match_directional_finite_difference(water, spec):
    analytic, numerical = _directional_check(water, get_level(spec))
    assert abs(analytic) > 0.1
    assert analytic == pytest.approx(numerical, abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["b97-d3bj/def2-svp", "wb97x-d3/def2-svp"])
def test_pyscf_forces_match_directional_finite_difference_other_functionals(water, spec):
    analytic, numerical = _directional_check(water, get_level(spec))
    assert abs(analytic) > 0.1
    assert analytic == pytest.approx(numerical, abs=1e-4)


@pytest.fixture(scope="module")
def dimer_without_dispersion():
    dimer = _water_dimer()
    return dimer, compute_label(dimer, get_level("pbe/sto-3g"))


@pytest.mark.parametrize("spec", ["pbe-d3bj/sto-3g", pytest.param("pbe-d2/sto-3g", marks=pytest.mark.slow)])
def test_pyscf_adds_exactly_the_level_dispersion(dimer_without_dispersion, spec):
    dimer, bare = dimer_without_dispersion
    level = get_level(spec)
    dressed = compute_label(dimer, level)
    assert bare.ok and dressed.ok
    energy, forces = dispersion_energy_forces(
        dimer.numbers, dimer.positions, level.dispersion, level.settings["dispersion_params"]
    )
    assert energy < -1e-3 and np.abs(forces).max() > 1e-3
    assert dressed.energy_eV - bare.energy_eV == pytest.approx(energy, abs=1e-6)
    np.testing.assert_allclose(dressed.forces_eV_ang - bare.forces_eV_ang, forces, atol=1e-5)


def test_pyscf_density_fitting_is_default_and_close_to_exact_integrals(water):
    level = get_level("pbe/def2-svp")
    assert level.settings["density_fit"] is True
    fitted, exact = compute_label(water, level), compute_label(water, level.with_settings(density_fit=False))
    assert fitted.ok and exact.ok
    assert fitted.energy_eV == pytest.approx(exact.energy_eV, abs=3e-3)
    np.testing.assert_allclose(fitted.forces_eV_ang, exact.forces_eV_ang, atol=1e-3)


def test_pyscf_scf_non_convergence_is_a_failed_label(water):
    result = compute_label(water, get_level("pbe-d3bj/def2-svp").with_settings(max_cycle=1))
    assert not result.ok
    assert result.error == "SCF not converged after 1 cycles"
    assert result.energy_eV is None and result.forces_eV_ang is None


def test_pyscf_charge_and_multiplicity(water):
    level = get_level("pbe/sto-3g")
    neutral = compute_label(water, level)
    cation = water.copy()
    cation.info.update(charge=1, multiplicity=2)  # UKS doublet
    ionised = compute_label(cation, level)
    assert neutral.ok and ionised.ok, ionised.error
    assert 5.0 < ionised.energy_eV - neutral.energy_eV < 20.0
    odd = water.copy()
    odd.info["multiplicity"] = 2
    failed = compute_label(odd, level)
    assert not failed.ok and "not compatible" in failed.error and "\n" not in failed.error


def test_pyscf_unknown_setting_is_a_configuration_error(water):
    with pytest.raises(ValueError, match="unknown pyscf settings"):
        compute_label(water, get_level("pbe/sto-3g").with_settings(maxcycle=10))


def test_periodic_cells_are_refused_per_structure_and_up_front(water):
    level = get_level("pbe-d3bj/def2-svp")
    box = water.copy()
    box.cell = [8.0, 8.0, 8.0]
    box.pbc = True
    result = compute_label(box, level)
    assert not result.ok
    assert result.error.startswith("pyscf backend cannot label periodic cells; use an ASE calculator backend")
    assert "docs/levels_of_theory.md" in result.error
    assert not supports_periodic(level)
    with pytest.raises(ValueError, match="pyscf backend cannot label periodic cells"):
        check_level_supports(level, periodic=True)
    check_level_supports(level, periodic=False)
    check_level_supports(get_level("gfn2-xtb"), periodic=True)  # tblite labels periodic cells
    box.calc = make_calculator(level)  # the calculator refuses too (e.g. used directly for MD)
    with pytest.raises(ValueError, match="cannot label periodic cells"):
        box.get_potential_energy()


def test_pyscf_threads_follow_label_structures_limit(water):
    from pyscf import lib

    seen: list[int] = []
    results = label_structures(
        [water], get_level("pbe/sto-3g"), n_threads=1, progress=lambda *_: seen.append(lib.num_threads())
    )
    assert results[0].ok and seen == [1]


# --- ethylene carbonate: PySCF single point, xtb-python vs tblite ------------------------------


@pytest.fixture(scope="module")
def ec() -> Atoms:
    """One ethylene carbonate, ETKDG + MMFF (as in test_qm.py)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("C1COC(=O)O1"))
    params = AllChem.ETKDGv3()
    params.randomSeed = 7
    assert AllChem.EmbedMolecule(mol, params) == 0
    assert AllChem.MMFFOptimizeMolecule(mol) == 0
    atoms = Atoms([a.GetSymbol() for a in mol.GetAtoms()], positions=mol.GetConformer().GetPositions())
    atoms.positions -= atoms.positions.mean(axis=0)
    return atoms


@pytest.fixture(scope="module")
def ec_dimer(ec) -> Atoms:
    other = ec.copy()
    other.rotate(90, "z")
    other.rotate(60, "x")
    other.translate([0.0, 0.0, 4.0])
    return ec + other


@pytest.mark.slow
def test_pyscf_ec_single_point(ec):
    """PBE-D3(BJ)/def2-SVP on EC: ~11 s on 2 cores."""
    result = compute_label(ec, get_level("pbe-d3bj/def2-svp"))
    assert result.ok, result.error
    assert 0.1 < np.abs(result.forces_eV_ang).max() < 5.0  # MMFF geometry: not a PBE minimum
    # grid_response (default): forces are the exact gradient, so no spurious net force
    np.testing.assert_allclose(result.forces_eV_ang.sum(axis=0), 0.0, atol=1e-6)


@pytest.mark.skipif(not HAS_XTB, reason="xtb-python is not installed (binary wheels for CPython 3.11 only)")
def test_xtb_python_agrees_with_tblite_on_an_ec_cluster(ec_dimer):
    reference = compute_label(ec_dimer, get_level("gfn2-xtb"))
    level = get_level("gfn2-xtb@xtb")
    assert (level.code, level.method, level.settings) == ("xtb", "GFN2-xTB", get_level("gfn2-xtb").settings)
    other = compute_label(ec_dimer, level)
    assert reference.ok and other.ok, other.error
    assert other.energy_eV == pytest.approx(reference.energy_eV, abs=1e-3)
    np.testing.assert_allclose(other.forces_eV_ang, reference.forces_eV_ang, atol=1e-3)


@pytest.mark.skipif(not HAS_XTB, reason="xtb-python is not installed (binary wheels for CPython 3.11 only)")
def test_xtb_python_failures_are_labels(ec_dimer):
    level = get_level("gfn2-xtb@xtb")
    result = compute_label(ec_dimer, level.with_settings(max_iterations=1))
    assert (result.ok, result.error) == (False, "SCF not converged after 1 iterations")
    cation = ec_dimer.copy()
    cation.info.update(charge=1, multiplicity=2)
    assert compute_label(cation, level).ok
    odd = ec_dimer.copy()
    odd.info["multiplicity"] = 2
    failed = compute_label(odd, level)
    assert not failed.ok and "not compatible" in failed.error
    box = ec_dimer.copy()
    box.cell, box.pbc = [12.0] * 3, True
    refused = compute_label(box, level)
    assert not refused.ok and refused.error.startswith("xtb backend cannot label periodic cells")
    with pytest.raises(ValueError, match="cannot label periodic cells"):
        check_level_supports(level, periodic=True)


# --- psi4 ----------------------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_PSI4, reason=PSI4_REASON)
def test_psi4_agrees_with_pyscf_on_water(water):  # pragma: no cover - needs psi4
    ours = compute_label(water, get_level("pbe-d3bj/def2-svp"))
    level = get_level("pbe-d3bj/def2-svp@psi4")
    assert (level.code, level.method, level.dispersion) == ("psi4", "pbe-d3bj", "d3bj")
    theirs = compute_label(water, level)
    assert ours.ok and theirs.ok, theirs.error
    # same functional, basis, fitting basis and D3(BJ); grids differ slightly
    assert theirs.energy_eV == pytest.approx(ours.energy_eV, abs=5e-3)
    np.testing.assert_allclose(theirs.forces_eV_ang, ours.forces_eV_ang, atol=5e-3)
    failed = compute_label(water, level.with_settings(options={**level.settings["options"], "maxiter": 1}))
    assert not failed.ok and failed.error.startswith("SCF not converged")


def test_psi4_backend_plumbing_with_a_stand_in_module(monkeypatch, water):
    """The psi4 calculator's geometry, options and unit handling, against a fake psi4 module."""
    from mlipcamp.science.qm import psi4_backend

    calls: dict[str, object] = {}
    k = 0.3  # Hartree/Bohr^2: E = k/2 sum |r|^2 in Bohr

    class FakeMatrix:
        def __init__(self, array):
            self.np = array

    class FakeWfn:
        def __init__(self, energy):
            self._energy = energy

        def energy(self):
            return self._energy

    def geometry(text):
        calls["geometry"] = text
        rows = [line.split() for line in text.splitlines()[1:] if len(line.split()) == 4]
        return np.array([[float(v) for v in row[1:]] for row in rows]) / Bohr

    def gradient(method, molecule, return_wfn):
        calls["method"] = method
        return FakeMatrix(k * molecule), FakeWfn(0.5 * k * float((molecule**2).sum()))

    core = types.SimpleNamespace(clean=lambda: None, clean_options=lambda: None, be_quiet=lambda: None)
    fake = types.SimpleNamespace(
        core=core,
        set_memory=lambda memory: calls.setdefault("memory", memory),
        set_num_threads=lambda n: calls.setdefault("threads", n),
        set_options=lambda options: calls.setdefault("options", options),
        geometry=geometry,
        gradient=gradient,
    )
    monkeypatch.setattr(psi4_backend, "psi4", fake)
    level = LevelOfTheory(
        name="pbe-d3bj/def2-svp@psi4", code="psi4", method="pbe-d3bj", basis="def2-svp",
        dispersion="d3bj", settings={"options": {"scf_type": "df"}}, code_version="fake",
    )  # fmt: skip
    result = compute_label(water, level)
    assert result.ok, result.error
    r_bohr = water.positions / Bohr
    assert result.energy_eV == pytest.approx(0.5 * k * (r_bohr**2).sum() * Hartree)
    np.testing.assert_allclose(result.forces_eV_ang, -k * r_bohr * Hartree / Bohr, rtol=1e-9)
    assert calls["method"] == "pbe-d3bj"
    assert calls["options"] == {"scf_type": "df", "basis": "def2-svp", "reference": "rks"}
    assert calls["geometry"].startswith("0 1\nO ")
    assert {"no_com", "no_reorient", "symmetry c1", "units angstrom"} <= set(calls["geometry"].splitlines())

    class SCFConvergenceError(Exception):
        iteration = 7

    assert psi4_backend.known_failure(SCFConvergenceError("Could not converge SCF iterations in 7 iterations.")) == (
        "SCF not converged after 7 cycles"
    )


# --- ASE calculators -------------------------------------------------------------------------------


def test_ase_backend_labels_periodic_cells_with_any_calculator():
    level = get_level("ase:ase.calculators.emt:EMT")
    assert (level.code, level.method) == ("ase", "ase.calculators.emt:EMT")
    assert level.code_version.startswith("ase ")
    check_level_supports(level, periodic=True)
    cell = bulk("Cu", "fcc", a=3.7, cubic=True)
    cell.positions[0] += [0.05, -0.03, 0.02]
    result = compute_label(cell, level)
    assert result.ok, result.error
    assert result.stress_eV_ang3.shape == (6,) and np.abs(result.forces_eV_ang).max() > 1e-3

    tuned = ase_level("ase.calculators.lj:LennardJones", {"sigma": 2.3, "epsilon": 0.01}, name="lj-cu")
    assert tuned.settings["kwargs"] == {"sigma": 2.3, "epsilon": 0.01} and tuned.hash != level.hash
    assert compute_label(cell, tuned).ok

    molecules_only = ase_level("ase.calculators.emt:EMT", supports_periodic=False)
    with pytest.raises(ValueError, match="cannot label periodic cells"):
        check_level_supports(molecules_only, periodic=True)
    charged = cell.copy()
    charged.info["charge"] = 1
    with pytest.raises(ValueError, match="no charge_kwarg"):
        compute_label(charged, level)
