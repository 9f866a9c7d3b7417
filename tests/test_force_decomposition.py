"""Force decomposition of study B against its defining properties: the parts sum to the forces,
each part carries exactly its share of each molecule's net force and torque, rigid motions land
in one part, and the degenerate molecules (single atom, linear) are handled."""

from __future__ import annotations

import numpy as np
import pytest

from mlipcamp.science.force_decomposition import ForceComponents, component_errors, decompose_forces

TOL = 1e-12


def _system(seed: int = 0):
    """3 molecules of 5, 1 and 2 atoms, labelled 7, 3, 11 and interleaved in the atom order."""
    rng = np.random.default_rng(seed)
    mol_id = np.array([7, 7, 3, 7, 11, 7, 11, 7])
    positions = rng.normal(scale=1.5, size=(8, 3)) + 10.0 * (mol_id[:, None] == 11)
    masses = rng.uniform(1.0, 16.0, size=8)
    forces = rng.normal(size=(8, 3))
    return positions, forces, masses, mol_id


def _net_and_torque(positions, forces, masses, mol_id):
    """Per-molecule net force and torque about the COM, computed the slow way."""
    out = {}
    for k in np.unique(mol_id):
        sel = mol_id == k
        r, f, m = positions[sel], forces[sel], masses[sel]
        com = (m[:, None] * r).sum(axis=0) / m.sum()
        out[int(k)] = (f.sum(axis=0), np.cross(r - com, f).sum(axis=0), r - com, m)
    return out


def test_parts_sum_to_forces_and_split_net_force_and_torque():
    positions, forces, masses, mol_id = _system()
    c = decompose_forces(positions, forces, masses, mol_id)
    for part in (c.translational, c.rotational, c.vibrational):
        assert part.shape == forces.shape
    np.testing.assert_allclose(c.translational + c.rotational + c.vibrational, forces, rtol=0, atol=TOL)

    total = _net_and_torque(positions, forces, masses, mol_id)
    trans = _net_and_torque(positions, c.translational, masses, mol_id)
    rot = _net_and_torque(positions, c.rotational, masses, mol_id)
    vib = _net_and_torque(positions, c.vibrational, masses, mol_id)
    zero = np.zeros(3)
    for k, (net, tau, _, _) in total.items():
        assert np.linalg.norm(tau) > 0.1 or k == 3  # the check below is not vacuous
        np.testing.assert_allclose(trans[k][0], net, rtol=0, atol=TOL)
        np.testing.assert_allclose(trans[k][1], zero, rtol=0, atol=TOL)
        np.testing.assert_allclose(rot[k][0], zero, rtol=0, atol=TOL)
        np.testing.assert_allclose(rot[k][1], tau, rtol=0, atol=TOL)
        np.testing.assert_allclose(vib[k][0], zero, rtol=0, atol=TOL)
        np.testing.assert_allclose(vib[k][1], zero, rtol=0, atol=TOL)


def test_translational_part_is_mass_weighted_net_force():
    positions, forces, masses, mol_id = _system(1)
    c = decompose_forces(positions, forces, masses, mol_id)
    sel = mol_id == 7
    expected = masses[sel, None] / masses[sel].sum() * forces[sel].sum(axis=0)
    np.testing.assert_allclose(c.translational[sel], expected, rtol=0, atol=TOL)


def test_rigid_rotation_is_all_rotational():
    positions, _, masses, mol_id = _system(2)
    alphas = {7: np.array([0.3, -0.2, 0.5]), 3: np.array([1.0, 2.0, 3.0]), 11: np.array([0.0, 0.0, 0.0])}
    forces = np.zeros_like(positions)
    for k, (_, _, rp, m) in _net_and_torque(positions, forces, masses, mol_id).items():
        forces[mol_id == k] = m[:, None] * np.cross(alphas[k], rp)
    # the diatomic (11) gets a rotation perpendicular to its bond, the only kind it can have
    rp11 = _net_and_torque(positions, forces, masses, mol_id)[11][2]
    axis = np.cross(rp11[0], [1.0, 0.0, 0.0])
    sel = mol_id == 11
    forces[sel] = masses[sel, None] * np.cross(axis, rp11)

    c = decompose_forces(positions, forces, masses, mol_id)
    assert np.abs(forces).max() > 0.5
    np.testing.assert_allclose(c.rotational, forces, rtol=0, atol=TOL)
    np.testing.assert_allclose(c.translational, 0.0, rtol=0, atol=TOL)
    np.testing.assert_allclose(c.vibrational, 0.0, rtol=0, atol=TOL)


def test_rigid_translation_is_all_translational():
    positions, _, masses, mol_id = _system(3)
    accel = {7: np.array([0.1, -0.4, 0.2]), 3: np.array([-1.0, 0.5, 0.0]), 11: np.array([0.0, 0.3, -0.3])}
    forces = masses[:, None] * np.array([accel[int(k)] for k in mol_id])
    c = decompose_forces(positions, forces, masses, mol_id)
    np.testing.assert_allclose(c.translational, forces, rtol=0, atol=TOL)
    np.testing.assert_allclose(c.rotational, 0.0, rtol=0, atol=TOL)
    np.testing.assert_allclose(c.vibrational, 0.0, rtol=0, atol=TOL)


def test_single_atom_is_pure_translation():
    c = decompose_forces(np.array([[1.0, 2.0, 3.0]]), np.array([[0.4, -0.1, 2.0]]), np.array([12.0]), np.array([0]))
    np.testing.assert_allclose(c.translational, [[0.4, -0.1, 2.0]], rtol=0, atol=TOL)
    np.testing.assert_array_equal(c.rotational, 0.0)
    np.testing.assert_allclose(c.vibrational, 0.0, rtol=0, atol=TOL)


def test_linear_molecule_uses_pseudo_inverse():
    """CO2-like, on a tilted axis: finite α, torque reproduced, no spin about the axis."""
    rng = np.random.default_rng(4)
    axis = np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    positions = np.array([3.0, -1.0, 2.0]) + np.array([-1.16, 0.0, 1.16])[:, None] * axis
    masses = np.array([15.999, 12.011, 15.999])
    forces = rng.normal(size=(3, 3))
    mol_id = np.zeros(3, dtype=int)
    c = decompose_forces(positions, forces, masses, mol_id)

    assert np.all(np.isfinite(c.rotational)) and np.abs(c.rotational).max() < 10 * np.abs(forces).max()
    np.testing.assert_allclose(c.translational + c.rotational + c.vibrational, forces, rtol=0, atol=TOL)
    np.testing.assert_allclose(c.rotational @ axis, 0.0, rtol=0, atol=TOL)  # rotation moves atoms off-axis only
    _net, tau, _, _ = _net_and_torque(positions, forces, masses, mol_id)[0]
    _, tau_rot, _, _ = _net_and_torque(positions, c.rotational, masses, mol_id)[0]
    net_vib, tau_vib, _, _ = _net_and_torque(positions, c.vibrational, masses, mol_id)[0]
    assert np.linalg.norm(tau) > 0.1
    np.testing.assert_allclose(tau_rot, tau, rtol=0, atol=TOL)
    np.testing.assert_allclose(net_vib, 0.0, rtol=0, atol=TOL)
    np.testing.assert_allclose(tau_vib, 0.0, rtol=0, atol=TOL)
    # bending (perpendicular) survives in the vibrational part of a triatomic
    assert np.abs(np.cross(c.vibrational, axis)).max() > 1e-3


def test_diatomic_vibration_is_bond_stretch_only():
    positions, forces, masses, mol_id = _system(6)
    c = decompose_forces(positions, forces, masses, mol_id)
    sel = mol_id == 11
    bond = positions[sel][1] - positions[sel][0]
    np.testing.assert_allclose(np.cross(c.vibrational[sel], bond), 0.0, rtol=0, atol=TOL)
    assert np.abs(c.vibrational[sel]).max() > 1e-3


def test_independent_of_atom_order_labels_and_origin():
    positions, forces, masses, mol_id = _system(5)
    c = decompose_forces(positions, forces, masses, mol_id)
    perm = np.random.default_rng(5).permutation(len(masses))
    relabel = {7: -2, 3: 40, 11: 0}
    c2 = decompose_forces(
        positions[perm] + [5.0, -3.0, 8.0],
        forces[perm],
        masses[perm],
        np.array([relabel[int(k)] for k in mol_id[perm]]),
    )
    for name in ("translational", "rotational", "vibrational"):
        np.testing.assert_allclose(getattr(c2, name), getattr(c, name)[perm], rtol=0, atol=1e-11)


def test_bad_input_is_rejected():
    positions, forces, masses, mol_id = _system()
    with pytest.raises(ValueError):
        decompose_forces(positions, forces[:-1], masses, mol_id)
    with pytest.raises(ValueError):
        decompose_forces(positions, forces, -masses, mol_id)
    with pytest.raises(ValueError):
        decompose_forces(positions, forces, masses, mol_id.astype(float))


def _components(seed: int, n_atoms: int) -> ForceComponents:
    rng = np.random.default_rng(seed)
    return ForceComponents(*(rng.normal(size=(n_atoms, 3)) for _ in range(3)))


def test_component_errors_scaled_prediction():
    ref = [_components(0, 4), _components(1, 7)]
    pred = [ForceComponents(1.1 * r.translational, 1.1 * r.rotational, 1.1 * r.vibrational) for r in ref]
    err = component_errors(ref, pred)
    assert set(err) == {"translational", "rotational", "vibrational"}
    for name, e in err.items():
        assert e["relative_rmse"] == pytest.approx(0.1, rel=1e-12)
        a = np.concatenate([getattr(r, name).ravel() for r in ref])
        assert e["rmse_mev_per_ang"] == pytest.approx(100.0 * np.sqrt(np.mean(a**2)), rel=1e-12)


def test_component_errors_pools_all_components_of_all_structures():
    # structure 1: 1 atom, exact; structure 2: 3 atoms, every component off by 2 meV/Å (vib only)
    ref = [
        ForceComponents(np.ones((1, 3)), np.zeros((1, 3)), np.ones((1, 3))),
        ForceComponents(np.ones((3, 3)), np.zeros((3, 3)), np.ones((3, 3))),
    ]
    pred = [
        ForceComponents(np.ones((1, 3)), np.zeros((1, 3)), np.ones((1, 3))),
        ForceComponents(np.ones((3, 3)), np.zeros((3, 3)), np.ones((3, 3)) + 0.002),
    ]
    err = component_errors(ref, pred)
    assert err["vibrational"]["rmse_mev_per_ang"] == pytest.approx(2.0 * np.sqrt(9 / 12), rel=1e-12)
    assert err["vibrational"]["relative_rmse"] == pytest.approx(0.002 * np.sqrt(9 / 12), rel=1e-12)
    assert err["translational"] == {"rmse_mev_per_ang": 0.0, "relative_rmse": 0.0}
    assert err["rotational"]["rmse_mev_per_ang"] == 0.0
    assert np.isnan(err["rotational"]["relative_rmse"])  # reference identically zero


def test_component_errors_rejects_mismatch():
    with pytest.raises(ValueError):
        component_errors([_components(0, 4)], [])
    with pytest.raises(ValueError):
        component_errors([_components(0, 4)], [_components(0, 5)])


def test_decomposition_errors_make_split_molecules_whole(tmp_path):
    from ase import Atoms

    from mlipcamp.figures import decomposition_plot
    from mlipcamp.science.evaluation import decomposition_errors

    rng = np.random.default_rng(7)
    whole = Atoms(
        "OH2CO",
        positions=[[5.0, 5.0, 5.0], [5.96, 5.0, 5.0], [4.76, 5.93, 5.0], [2.0, 2.0, 2.0], [2.0, 2.0, 3.13]],
        cell=[10.0, 10.0, 10.0],
        pbc=True,
    )
    whole.arrays["mol_id"] = np.array([0, 0, 0, 1, 1])
    split = whole.copy()
    split.positions -= [5.5, 0.0, 0.0]  # water now straddles the boundary at x = 0
    split.wrap()
    ref = rng.normal(size=(5, 3))
    pred = ref + 0.1 * rng.normal(size=(5, 3))
    expected = decomposition_errors([whole], [ref], [pred])
    got = decomposition_errors([split], [ref], [pred])
    for component, values in expected.items():
        assert got[component]["rmse_mev_per_ang"] == pytest.approx(values["rmse_mev_per_ang"], rel=1e-9)
    assert decomposition_plot(got, tmp_path / "bars.png", "test").stat().st_size > 1000
