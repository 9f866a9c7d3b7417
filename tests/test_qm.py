"""mlipcamp.science.qm: levels of theory and GFN2-xTB labels (tblite) on ethylene carbonate."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from ase import Atoms
from rdkit import Chem
from rdkit.Chem import AllChem
from threadpoolctl import threadpool_info

from mlipcamp.hashing import hash_json
from mlipcamp.science.qm import (
    UnknownLevelError,
    compute_label,
    get_level,
    known_level_names,
    label_structures,
)

EC_SMILES = "C1COC(=O)O1"
BOX_ANG = 7.5


def _ec() -> Atoms:
    """One ethylene carbonate (10 atoms, explicit H), ETKDG + MMFF, centred on the origin."""
    mol = Chem.AddHs(Chem.MolFromSmiles(EC_SMILES))
    params = AllChem.ETKDGv3()
    params.randomSeed = 7
    assert AllChem.EmbedMolecule(mol, params) == 0
    assert AllChem.MMFFOptimizeMolecule(mol) == 0
    atoms = Atoms([atom.GetSymbol() for atom in mol.GetAtoms()], positions=mol.GetConformer().GetPositions())
    atoms.positions -= atoms.positions.mean(axis=0)
    return atoms


def _rotated(atoms: Atoms) -> Atoms:
    other = atoms.copy()
    other.rotate(90, "z")
    other.rotate(60, "x")
    return other


@pytest.fixture(scope="module")
def ec() -> Atoms:
    return _ec()


@pytest.fixture(scope="module")
def dimer(ec: Atoms) -> Atoms:
    """Two EC, centres 4 Å apart (closest intermolecular contact ~2.3 Å)."""
    other = _rotated(ec)
    other.translate([0.0, 0.0, 4.0])
    return ec + other


@pytest.fixture(scope="module")
def box(ec: Atoms) -> Atoms:
    """Two EC in a periodic 7.5 Å cube (liquid-like density, ~1.4 g/cm³)."""
    first = ec.copy()
    first.translate([BOX_ANG / 4] * 3)
    second = _rotated(ec)
    second.translate([3 * BOX_ANG / 4] * 3)
    cell = first + second
    cell.cell = [BOX_ANG] * 3
    cell.pbc = True
    return cell


@pytest.fixture(scope="module")
def level():
    return get_level("gfn2-xtb")


def _energy(atoms: Atoms, level) -> float:
    result = compute_label(atoms, level)
    assert result.ok, result.error
    return result.energy_eV


# --- levels ---------------------------------------------------------------------------------


def test_get_level_gfn2_xtb_is_case_insensitive_and_records_tblite_version():
    level = get_level("GFN2-xTB")
    assert level == get_level("gfn2-xtb")
    assert known_level_names()[0] == "gfn2-xtb"
    assert (level.code, level.method) == ("tblite", "GFN2-xTB")
    assert level.code_version == importlib.metadata.version("tblite")
    assert level.settings == {
        "accuracy": 1.0,
        "electronic_temperature_K": 300.0,
        "max_iterations": 250,
    }


def test_unknown_level_lists_known_names():
    with pytest.raises(UnknownLevelError, match=r"unknown level of theory 'nope'; known: gfn2-xtb"):
        get_level("nope")
    assert issubclass(UnknownLevelError, ValueError)


def test_level_hash_is_stable_and_follows_settings(level):
    assert level.hash == get_level("gfn2-xtb").hash == hash_json(level.model_dump())
    assert len(level.hash) == 64
    tighter = level.with_settings(accuracy=0.01)
    assert tighter.settings["accuracy"] == 0.01
    assert level.settings["accuracy"] == 1.0  # the original is untouched
    assert tighter.hash != level.hash
    assert level.with_settings(max_iterations=1).hash not in {level.hash, tighter.hash}
    assert level.with_settings(accuracy=1.0).hash == level.hash


# --- labels ---------------------------------------------------------------------------------


def _check_forces_by_central_differences(atoms: Atoms, level, step: float = 1e-3) -> None:
    result = compute_label(atoms, level)
    assert result.ok, result.error
    assert result.forces_eV_ang.shape == (len(atoms), 3)
    assert result.stress_eV_ang3 is None
    numerical = np.zeros((len(atoms), 3))
    for i in range(len(atoms)):
        for k in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[i, k] += step
            minus.positions[i, k] -= step
            numerical[i, k] = -(_energy(plus, level) - _energy(minus, level)) / (2 * step)
    assert np.abs(result.forces_eV_ang).max() > 0.1  # MMFF geometry: not a GFN2 minimum
    np.testing.assert_allclose(result.forces_eV_ang, numerical, atol=1e-3, rtol=0)


def test_forces_match_finite_differences_on_ec(ec, level):
    _check_forces_by_central_differences(ec, level)


def test_forces_match_finite_differences_on_ec_dimer(dimer, level):
    _check_forces_by_central_differences(dimer, level)


def test_periodic_cell_gets_stress_and_molecules_do_not(box, dimer, level):
    periodic, molecular = compute_label(box, level), compute_label(dimer, level)
    assert periodic.ok and molecular.ok
    assert periodic.stress_eV_ang3.shape == (6,)
    assert np.abs(periodic.stress_eV_ang3).max() > 1e-3
    assert molecular.stress_eV_ang3 is None
    # the same molecules in a box and in vacuum: energies agree to within intermolecular terms
    assert abs(periodic.energy_eV - molecular.energy_eV) < 2.0


@pytest.mark.slow
def test_stress_matches_finite_differences_under_strain(box, level):
    step = 1e-4
    result = compute_label(box, level)
    assert result.ok, result.error
    volume = box.get_volume()
    numerical = []
    for i, j in [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]:  # ASE Voigt order
        energies = []
        for sign in (1, -1):
            strain = np.zeros((3, 3))
            strain[i, j] = strain[j, i] = sign * step
            strained = box.copy()
            strained.set_cell(box.cell[:] @ (np.eye(3) + strain), scale_atoms=True)
            energies.append(_energy(strained, level))
        # a symmetric shear strain moves both off-diagonal entries: dE = 2 V sigma_ij d(eps)
        numerical.append((energies[0] - energies[1]) / (2 * step) / volume / (1 if i == j else 2))
    np.testing.assert_allclose(result.stress_eV_ang3, numerical, atol=1e-5, rtol=0)


def test_scf_non_convergence_is_a_failed_label_with_reason(ec, level):
    result = compute_label(ec, level.with_settings(max_iterations=1))
    assert not result.ok
    assert result.error == "SCF not converged after 1 iterations"
    assert result.energy_eV is None and result.forces_eV_ang is None
    assert result.wall_time_s >= 0.0 and result.host


def test_one_non_converging_structure_does_not_spoil_the_batch(ec, dimer, level):
    # EC and the dimer converge in ~10 cycles; EC blown up to twice its size never converges
    stretched = ec.copy()
    stretched.positions *= 2.0
    calls: list[tuple[int, int]] = []
    results = label_structures(
        [ec, stretched, dimer],
        level.with_settings(max_iterations=30),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "SCF not converged after 30 iterations"
    assert "SCF" in results[1].error and "converged" in results[1].error
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert results[0].energy_eV == pytest.approx(_energy(ec, level), abs=1e-6)
    assert results[2].energy_eV == pytest.approx(_energy(dimer, level), abs=1e-6)


def test_label_structures_limits_openmp_threads_while_running(ec, level):
    def openmp_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"}

    before = openmp_threads()
    during: list[set[int]] = []
    results = label_structures([ec], level, n_threads=1, progress=lambda *_: during.append(openmp_threads()))
    assert results[0].ok
    assert during == [{1}]  # tblite's libgomp is loaded and limited
    assert openmp_threads() == before


def test_charge_and_multiplicity_come_from_atoms_info(ec, level):
    neutral = _energy(ec, level)
    cation = ec.copy()
    cation.info.update(charge=1, multiplicity=2)
    ionised = compute_label(cation, level)
    assert ionised.ok, ionised.error
    assert 5.0 < ionised.energy_eV - neutral < 25.0  # vertical ionisation energy, eV
    odd = ec.copy()
    odd.info["multiplicity"] = 2  # 34 electrons cannot have one unpaired
    failed = compute_label(odd, level)
    assert not failed.ok
    assert "not compatible" in failed.error and "\n" not in failed.error
    assert cation.calc is None and odd.calc is None  # callers' atoms are left alone


def test_unknown_setting_is_a_configuration_error(ec, level):
    with pytest.raises(ValueError, match="unknown tblite settings"):
        compute_label(ec, level.with_settings(max_iter=10))
