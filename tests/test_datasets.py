"""Tests of mlipcamp.science.datasets: reading user-supplied labelled extxyz datasets and exporting them for MACE."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from mlipcamp.science.datasets import (
    DatasetFormatError,
    DatasetSummary,
    LabelledStructure,
    export_extxyz,
    read_labelled_extxyz,
)

WATER = [[0.0, 0.0, 0.0], [0.7572, 0.5865, 0.0], [-0.7572, 0.5865, 0.0]]  # O H H, Å


def water(shift=(0.0, 0.0, 0.0)) -> Atoms:
    return Atoms("OH2", positions=np.array(WATER) + shift)


def water_dimer() -> Atoms:
    return water() + water((0.0, 0.0, 3.0))


def water_box() -> Atoms:
    box = water((1.0, 1.0, 1.0)) + water((4.0, 4.0, 4.0))
    box.cell = [6.0, 6.5, 7.0]
    box.pbc = True
    return box


def labelled(atoms: Atoms, rng, energy_key="dft_energy", forces_key="dft_forces", stress_key=None, stress=None):
    atoms = atoms.copy()
    atoms.info[energy_key] = float(rng.normal(-500.0, 50.0))
    atoms.arrays[forces_key] = rng.normal(0.0, 1.0, size=(len(atoms), 3))
    if stress_key is not None:
        atoms.info[stress_key] = stress
    return atoms


def symmetric_stress(rng) -> np.ndarray:
    a = rng.normal(0.0, 0.01, size=(3, 3))
    return a + a.T


@pytest.fixture
def custom_file(tmp_path):
    """molecule, cluster and periodic (3x3 stress) frames under custom key names."""
    rng = np.random.default_rng(0)
    frames = [
        labelled(water(), rng),
        labelled(water_dimer(), rng),
        labelled(water_box(), rng, stress_key="dft_stress", stress=symmetric_stress(rng)),
    ]
    frames[0].info["config_type"] = "monomer"
    path = tmp_path / "custom.extxyz"
    write(path, frames, format="extxyz")
    return path, frames


KEYS = {"energy_key": "dft_energy", "forces_key": "dft_forces", "stress_key": "dft_stress"}


def test_custom_keys_values_kinds_and_mol_ids(custom_file):
    path, frames = custom_file
    structures = read_labelled_extxyz(path, **KEYS)
    assert [s.kind for s in structures] == ["molecule", "cluster", "periodic"]
    for s, frame in zip(structures, frames, strict=True):
        assert s.energy_eV == frame.info["dft_energy"]  # written with full precision
        np.testing.assert_allclose(s.forces_eV_ang, frame.arrays["dft_forces"], rtol=0, atol=1e-8)  # %.8f
        assert s.atoms.calc is None
        assert not {"dft_energy", "dft_stress"} & set(s.atoms.info)
        assert "dft_forces" not in s.atoms.arrays
    np.testing.assert_array_equal(structures[0].atoms.arrays["mol_id"], [0, 0, 0])
    np.testing.assert_array_equal(structures[1].atoms.arrays["mol_id"], [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(structures[2].atoms.arrays["mol_id"], [0, 0, 0, 1, 1, 1])
    assert structures[0].atoms.info["config_type"] == "monomer"
    assert structures[0].stress_eV_ang3 is None and structures[1].stress_eV_ang3 is None
    s = frames[2].info["dft_stress"]
    np.testing.assert_array_equal(structures[2].stress_eV_ang3, [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def test_roundtrip_read_export_read_is_exact(custom_file, tmp_path):
    path, _ = custom_file
    first = read_labelled_extxyz(path, **KEYS)
    out = export_extxyz(first, tmp_path / "out" / "mace.extxyz")
    assert out == tmp_path / "out" / "mace.extxyz"
    raw = read(out, index=":", format="extxyz")
    assert all(f.calc is None and "REF_energy" in f.info and "REF_forces" in f.arrays for f in raw)
    assert "REF_stress" in raw[2].info and "REF_stress" not in raw[0].info
    second = read_labelled_extxyz(out)  # default REF_* keys
    assert len(second) == len(first)
    for a, b in zip(first, second, strict=True):
        assert a.kind == b.kind
        assert a.energy_eV == b.energy_eV
        np.testing.assert_array_equal(a.forces_eV_ang, b.forces_eV_ang)
        np.testing.assert_array_equal(a.atoms.positions, b.atoms.positions)
        np.testing.assert_array_equal(a.atoms.numbers, b.atoms.numbers)
        np.testing.assert_array_equal(a.atoms.cell[:], b.atoms.cell[:])
        np.testing.assert_array_equal(a.atoms.pbc, b.atoms.pbc)
        np.testing.assert_array_equal(a.atoms.arrays["mol_id"], b.atoms.arrays["mol_id"])
        if a.stress_eV_ang3 is None:
            assert b.stress_eV_ang3 is None
        else:
            np.testing.assert_array_equal(a.stress_eV_ang3, b.stress_eV_ang3)
    assert second[0].atoms.info["config_type"] == "monomer"


def test_ase_calculator_keys_energy_forces_stress(tmp_path):
    rng = np.random.default_rng(1)
    box = water_box()
    energy, forces, stress = -321.25, rng.normal(size=(len(box), 3)), rng.normal(0.0, 0.01, size=6)
    box.calc = SinglePointCalculator(box, energy=energy, forces=forces, stress=stress)
    path = tmp_path / "calc.extxyz"
    write(path, box, format="extxyz")
    assert read(path, format="extxyz").calc is not None  # ase really stores them as calculator results
    (s,) = read_labelled_extxyz(path, energy_key="energy", forces_key="forces", stress_key="stress")
    assert s.kind == "periodic" and s.energy_eV == energy and s.atoms.calc is None
    np.testing.assert_allclose(s.forces_eV_ang, forces, rtol=0, atol=1e-8)
    np.testing.assert_allclose(s.stress_eV_ang3, stress, rtol=1e-14, atol=0)
    # the default REF_* keys do not silently fall back to the calculator's results
    with pytest.raises(DatasetFormatError, match="REF_energy"):
        read_labelled_extxyz(path)


def test_stress_voigt_and_nine_values_and_optional(tmp_path):
    rng = np.random.default_rng(2)
    s3 = symmetric_stress(rng)
    voigt = np.array([s3[0, 0], s3[1, 1], s3[2, 2], s3[1, 2], s3[0, 2], s3[0, 1]])
    frames = [
        labelled(water_box(), rng, stress_key="s", stress=voigt),
        labelled(water_box(), rng, stress_key="s", stress=s3.reshape(9)),
        labelled(water_box(), rng),  # periodic without stress: fine
    ]
    path = tmp_path / "s.extxyz"
    write(path, frames, format="extxyz")
    structures = read_labelled_extxyz(path, energy_key="dft_energy", forces_key="dft_forces", stress_key="s")
    np.testing.assert_array_equal(structures[0].stress_eV_ang3, voigt)
    np.testing.assert_array_equal(structures[1].stress_eV_ang3, voigt)
    assert structures[2].stress_eV_ang3 is None
    no_stress = read_labelled_extxyz(path, energy_key="dft_energy", forces_key="dft_forces", stress_key=None)
    assert all(s.stress_eV_ang3 is None for s in no_stress)
    assert "s" in no_stress[0].atoms.info  # not a label when stress_key is None


def test_stress_on_non_periodic_frame_is_dropped_with_warning(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "cluster_stress.extxyz"
    write(path, labelled(water_dimer(), rng, stress_key="s", stress=np.zeros(6)), format="extxyz")
    with pytest.warns(UserWarning, match="non-periodic"):
        (s,) = read_labelled_extxyz(path, energy_key="dft_energy", forces_key="dft_forces", stress_key="s")
    assert s.kind == "cluster" and s.stress_eV_ang3 is None and "s" not in s.atoms.info


def test_hartree_bohr_conversion(tmp_path):
    rng = np.random.default_rng(4)
    box = water_box()
    box.positions /= units.Bohr
    box.cell = box.cell[:] / units.Bohr
    stress = symmetric_stress(rng)
    frame = labelled(box, rng, energy_key="E_ha", forces_key="F_ha_bohr", stress_key="S_ha_bohr3", stress=stress)
    path = tmp_path / "au.extxyz"
    write(path, frame, format="extxyz")
    (s,) = read_labelled_extxyz(path, "E_ha", "F_ha_bohr", "S_ha_bohr3", energy_unit="Hartree", length_unit="Bohr")
    hartree, bohr = 27.211386, 0.52917721  # eV, Å (CODATA, to the digits shown)
    assert s.energy_eV == pytest.approx(frame.info["E_ha"] * hartree, rel=1e-7)
    np.testing.assert_allclose(s.forces_eV_ang, frame.arrays["F_ha_bohr"] * hartree / bohr, rtol=1e-6, atol=1e-7)
    expected = stress * hartree / bohr**3
    expected_voigt = [expected[0, 0], expected[1, 1], expected[2, 2], expected[1, 2], expected[0, 2], expected[0, 1]]
    np.testing.assert_allclose(s.stress_eV_ang3, expected_voigt, rtol=1e-6)
    np.testing.assert_allclose(s.atoms.positions, water_box().positions, atol=1e-6)
    np.testing.assert_allclose(s.atoms.cell[:], water_box().cell[:], atol=1e-9)
    np.testing.assert_array_equal(s.atoms.arrays["mol_id"], [0, 0, 0, 1, 1, 1])  # bonds found in Å


def test_kcal_and_kj_per_mol(tmp_path):
    rng = np.random.default_rng(5)
    frame = labelled(water(), rng)
    path = tmp_path / "kcal.extxyz"
    write(path, frame, format="extxyz")
    (kcal,) = read_labelled_extxyz(path, "dft_energy", "dft_forces", None, energy_unit="kcal/mol")
    (kj,) = read_labelled_extxyz(path, "dft_energy", "dft_forces", None, energy_unit="kJ/mol")
    assert kcal.energy_eV == pytest.approx(frame.info["dft_energy"] / 23.0605, rel=1e-5)
    assert kj.energy_eV == pytest.approx(frame.info["dft_energy"] / 96.4853, rel=1e-5)
    np.testing.assert_allclose(kcal.forces_eV_ang, frame.arrays["dft_forces"] / 23.0605, rtol=1e-5, atol=1e-9)


def test_unknown_units_refused(custom_file):
    path, _ = custom_file
    assert len(read_labelled_extxyz(path, **KEYS, length_unit="\u212b")) == 3  # Angstrom sign, NFC-normalised
    with pytest.raises(ValueError, match=r"unknown energy unit 'Ry'.*Hartree"):
        read_labelled_extxyz(path, **KEYS, energy_unit="Ry")
    with pytest.raises(ValueError, match=r"unknown length unit 'nm'.*Bohr"):
        read_labelled_extxyz(path, **KEYS, length_unit="nm")


def test_missing_forces_names_frame_and_keys_present(custom_file, tmp_path):
    _path, frames = custom_file
    del frames[1].arrays["dft_forces"]
    frames[1].arrays["my_forces"] = np.zeros((len(frames[1]), 3))
    bad = tmp_path / "missing.extxyz"
    write(bad, frames, format="extxyz")
    with pytest.raises(DatasetFormatError) as info:
        read_labelled_extxyz(bad, **KEYS)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.frame == 1 and err.path == bad
    message = str(err)
    assert str(bad) in message and "frame 1" in message and "'dft_forces'" in message
    assert "my_forces" in message and "dft_energy" in message  # keys that are present, to fix the names
    assert "energy 'dft_energy'" not in message  # the energy is there
    assert pickle.loads(pickle.dumps(err)).args == err.args


def test_missing_energy_lists_calculator_keys(tmp_path):
    box = water()
    box.calc = SinglePointCalculator(box, energy=-1.0, forces=np.zeros((3, 3)))
    path = tmp_path / "calc.extxyz"
    write(path, box, format="extxyz")
    with pytest.raises(
        DatasetFormatError,
        match=r"frame 0.*no energy 'REF_energy' and no forces 'REF_forces'.*"
        r"calculator results.*'energy', 'forces'",
    ):
        read_labelled_extxyz(path)


@pytest.mark.parametrize("where", ["energy", "forces", "stress", "positions"])
def test_non_finite_values_refused(tmp_path, where):
    rng = np.random.default_rng(6)
    frames = [labelled(water_box(), rng, stress_key="dft_stress", stress=symmetric_stress(rng)) for _ in range(2)]
    if where == "energy":
        frames[1].info["dft_energy"] = float("nan")
    elif where == "forces":
        frames[1].arrays["dft_forces"][2, 1] = np.inf
    elif where == "stress":
        frames[1].info["dft_stress"][0, 0] = np.nan
    else:
        frames[1].positions[0, 0] = np.nan
    path = tmp_path / "nonfinite.extxyz"
    write(path, frames, format="extxyz")
    with pytest.raises(DatasetFormatError, match=rf"frame 1 .*non-finite {where}"):
        read_labelled_extxyz(path, **KEYS)


def test_shape_and_type_errors(tmp_path):
    rng = np.random.default_rng(7)
    frame = labelled(water_box(), rng, stress_key="dft_stress", stress=np.arange(4.0))
    path = tmp_path / "shape.extxyz"
    write(path, frame, format="extxyz")
    with pytest.raises(DatasetFormatError, match=r"stress 'dft_stress' has shape \(4,\)"):
        read_labelled_extxyz(path, **KEYS)

    frame = labelled(water(), rng)
    frame.arrays["dft_forces"] = frame.arrays["dft_forces"][:, :2].copy()
    write(path, frame, format="extxyz")
    with pytest.raises(DatasetFormatError, match=r"forces 'dft_forces' have shape \(3, 2\), expected \(3, 3\)"):
        read_labelled_extxyz(path, **KEYS)

    frame = labelled(water(), rng)
    frame.info["dft_energy"] = "unconverged"
    write(path, frame, format="extxyz")
    with pytest.raises(DatasetFormatError, match="not a single number"):
        read_labelled_extxyz(path, **KEYS)

    frame = labelled(water_box(), rng, stress_key="dft_stress", stress=np.arange(9.0).reshape(3, 3))
    write(path, frame, format="extxyz")
    with pytest.raises(DatasetFormatError, match="not symmetric"):
        read_labelled_extxyz(path, **KEYS)


def test_mixed_pbc_refused(tmp_path):
    rng = np.random.default_rng(8)
    slab = water_box()
    slab.pbc = [True, True, False]
    path = tmp_path / "slab.extxyz"
    write(path, [labelled(water(), rng), labelled(slab, rng)], format="extxyz")
    with pytest.raises(DatasetFormatError, match=r"frame 1 .*mixed periodicity pbc=\[True, True, False\]"):
        read_labelled_extxyz(path, **KEYS)


def test_given_mol_id_kept_and_checked(tmp_path):
    rng = np.random.default_rng(9)
    dimer = labelled(water_dimer(), rng)
    dimer.arrays["mol_id"] = np.array([1, 1, 1, 0, 0, 0])
    path = tmp_path / "molid.extxyz"
    write(path, dimer, format="extxyz")
    (s,) = read_labelled_extxyz(path, **KEYS)
    np.testing.assert_array_equal(s.atoms.arrays["mol_id"], [1, 1, 1, 0, 0, 0])
    assert s.kind == "cluster"
    dimer.arrays["mol_id"] = np.array([0, 0, 0, 2, 2, 2])
    write(path, dimer, format="extxyz")
    with pytest.raises(DatasetFormatError, match=r"frame 0 .*mol_id"):
        read_labelled_extxyz(path, **KEYS)


def test_unreadable_and_empty_files(tmp_path):
    bad = tmp_path / "bad.extxyz"
    bad.write_text("3\nenergy=1.0\nH 0 0 0\n")
    with pytest.raises(DatasetFormatError, match="cannot be read as extended XYZ"):
        read_labelled_extxyz(bad)
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    with pytest.raises(DatasetFormatError, match="no frames"):
        read_labelled_extxyz(empty)
    with pytest.raises(FileNotFoundError):
        read_labelled_extxyz(tmp_path / "absent.extxyz")


def test_labelled_structure_kind_checked():
    with pytest.raises(ValueError, match="kind"):
        LabelledStructure(water(), 0.0, np.zeros((3, 3)), None, "liquid")


def test_training_frames_count_molecules_as_clusters_and_leave_out_isolated_atoms():
    summary = DatasetSummary({"isolated_atom": 2, "molecule": 3, "cluster": 4, "periodic": 5}, {}, {})
    assert summary.training_frames == {"cluster": 7, "periodic": 5}
