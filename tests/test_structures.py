"""Tests for mlipcamp.science.structures: SMILES, packmol boxes, molecules across pbc, clusters, MD sampling."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.geometry import find_mic
from ase.neighborlist import natural_cutoffs, neighbor_list
from ase.units import _Nav

from mlipcamp.science.qm import compute_label, get_level, make_calculator
from mlipcamp.science.structures import (
    InvalidSmilesError,
    build_box,
    canonical_smiles,
    centres_of_mass,
    cut_cluster,
    cut_cluster_radius,
    cut_clusters,
    make_molecules_whole,
    molar_mass_g_mol,
    molecule_from_smiles,
    molecule_ids,
    periodic_snapshot,
    sample_liquid,
    scaled_snapshot,
    training_structures,
)

EC = "C1COC(=O)O1"
EMC = "CCOC(=O)OC"
DEC = "CCOC(=O)OCC"

# name: SMILES, formula, molar mass (g/mol), liquid density (g/cm³)
CARBONATES = {
    "VC": ("O=C1OC=CO1", "C3H2O3", 86.05, 1.36),
    "EC": (EC, "C3H4O3", 88.06, 1.32),
    "PC": ("CC1COC(=O)O1", "C4H6O3", 102.09, 1.20),
    "DMC": ("COC(=O)OC", "C3H6O3", 90.08, 1.07),
    "EMC": (EMC, "C4H8O3", 104.10, 1.01),
    "DEC": (DEC, "C5H10O3", 118.13, 0.975),
}


def density_g_cm3(atoms: Atoms) -> float:
    return atoms.get_masses().sum() / _Nav / (atoms.get_volume() * 1e-24)


def bonds(atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Covalent bonds (i < j), minimum image, 1.2 × covalent radii (as mlipcamp.science.structures)."""
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=1.2))
    return i[i < j], j[i < j]


def straddled(box: Atoms) -> Atoms:
    """``box`` translated by half a cell and wrapped, so molecules straddle the boundary."""
    moved = box.copy()
    moved.positions += moved.cell.lengths() / 2 + 0.37
    moved.wrap()
    return moved


@pytest.fixture(scope="module")
def ec_box() -> Atoms:
    return build_box([(EC, 8)], density_g_cm3=1.32, seed=0)


@pytest.fixture(scope="module")
def mixed_box() -> Atoms:
    return build_box([(EC, 6), (EMC, 4)], density_g_cm3=1.25, seed=1)


# --- SMILES and molecules -------------------------------------------------------------


def test_ec_molecule_formula_mass_and_geometry():
    assert molar_mass_g_mol(EC) == pytest.approx(88.06, abs=0.005)
    ec = molecule_from_smiles(EC, seed=2)
    assert ec.get_chemical_formula(empirical=False) == "C3H4O3"
    assert ec.info["smiles"] == EC
    assert np.allclose(ec.get_center_of_mass(), 0.0, atol=1e-8)
    i, j = bonds(ec)
    assert len(i) == 10  # 5 ring bonds, C=O, 4 C-H
    lengths = np.linalg.norm(ec.positions[j] - ec.positions[i], axis=1)
    pairs = [{ec[a].symbol, ec[b].symbol} for a, b in zip(i, j, strict=True)]
    carbonyl = [k for k, pair in enumerate(pairs) if pair == {"C", "O"} and lengths[k] < 1.25]
    assert len(carbonyl) == 1 and lengths[carbonyl[0]] == pytest.approx(1.21, abs=0.03)
    assert canonical_smiles("O=C1OCCO1") == canonical_smiles(EC)


def test_invalid_smiles_raises_naming_it():
    for func in (canonical_smiles, molar_mass_g_mol, molecule_from_smiles):
        with pytest.raises(InvalidSmilesError, match=r"SMILES 'C1CC\(' does not parse"):
            func("C1CC(")
    with pytest.raises(ValueError, match="does not parse"):
        canonical_smiles("")


# --- packmol boxes ----------------------------------------------------------------------


def test_build_box_density_count_and_ids(ec_box):
    assert len(ec_box) == 80
    assert ec_box.pbc.all()
    assert np.allclose(ec_box.cell.cellpar(), [*([ec_box.cell[0, 0]] * 3), 90, 90, 90])
    assert density_g_cm3(ec_box) == pytest.approx(1.32, rel=0.01)
    assert np.array_equal(ec_box.arrays["mol_id"], np.repeat(np.arange(8), 10))
    assert np.array_equal(ec_box.arrays["species_id"], np.zeros(80, dtype=int))
    assert ec_box.info["smiles"] == [EC]
    # packmol's pbc keyword: no two molecules closer than ~tolerance, across the boundary too
    i, j, d = neighbor_list("ijd", ec_box, 1.8)
    mol = ec_box.arrays["mol_id"]
    assert d[mol[i] != mol[j]].size == 0


def test_build_box_two_components(mixed_box):
    mol, species = mixed_box.arrays["mol_id"], mixed_box.arrays["species_id"]
    assert mol.max() + 1 == 10
    mol_species = np.array([species[mol == m][0] for m in range(10)])
    assert np.array_equal(mol_species, [0] * 6 + [1] * 4)
    assert (species == 0).sum() == 6 * 10 and (species == 1).sum() == 4 * 15
    assert mixed_box[mol == 7].get_chemical_formula() == "C4H8O3"  # EMC
    assert np.all(np.diff(mol) >= 0)  # contiguous per molecule
    assert density_g_cm3(mixed_box) == pytest.approx(1.25, rel=0.01)
    assert mixed_box.info["smiles"] == [EC, EMC]


def test_build_box_seed_reproducible(ec_box):
    again = build_box([(EC, 8)], density_g_cm3=1.32, seed=0)
    other = build_box([(EC, 8)], density_g_cm3=1.32, seed=5)
    assert np.array_equal(again.positions, ec_box.positions)
    assert not np.allclose(other.positions, ec_box.positions)


def test_build_box_rejects_bad_input():
    with pytest.raises(ValueError, match="positive integer"):
        build_box([(EC, 0)], 1.3)
    with pytest.raises(ValueError, match="density"):
        build_box([(EC, 2)], -1.0)
    with pytest.raises(InvalidSmilesError, match="'XyZ'"):
        build_box([("XyZ", 2)], 1.3)
    with pytest.raises(RuntimeError, match=r"packmol failed \(exit code 173\)(.|\n)*ERROR"):
        build_box([(EC, 2)], 20.0)  # cell edge 2.8 Å: cannot hold one molecule


@pytest.mark.parametrize("name", CARBONATES)
def test_carbonate_molecule_and_box(name):
    smiles, formula, molar_mass, density = CARBONATES[name]
    assert molar_mass_g_mol(smiles) == pytest.approx(molar_mass, abs=0.005)
    molecule = molecule_from_smiles(smiles)
    assert molecule.get_chemical_formula(empirical=False) == formula
    assert molecule.get_masses().sum() == pytest.approx(molar_mass, abs=0.01)  # ASE masses agree with RDKit
    n_bonds = len(bonds(molecule)[0])

    box = build_box([(smiles, 6)], density_g_cm3=density, seed=0)
    assert len(box) == 6 * len(molecule)
    assert density_g_cm3(box) == pytest.approx(density, rel=1e-4)  # ASE vs RDKit masses
    mol = box.arrays["mol_id"]
    assert np.array_equal(molecule_ids(box), mol)
    assert np.array_equal(molecule_ids(straddled(box)), mol)
    assert len(bonds(box)[0]) == 6 * n_bonds  # no bond between molecules or to an image
    for m in range(6):
        assert box[mol == m].get_chemical_formula(empirical=False) == formula
    i, j, d = neighbor_list("ijd", box, 1.8)
    assert d[mol[i] != mol[j]].size == 0


def test_ec_emc_3_7_mixture():
    box = build_box([(EC, 3), (EMC, 7)], density_g_cm3=1.08, seed=0)
    mol, species = box.arrays["mol_id"], box.arrays["species_id"]
    mol_species = np.array([species[mol == m][0] for m in range(mol.max() + 1)])
    assert np.array_equal(mol_species, [0] * 3 + [1] * 7)
    assert np.array_equal(np.bincount(species), [3 * 10, 7 * 15])
    assert np.bincount(mol_species).tolist() == [3, 7]  # mole fractions 0.3 / 0.7
    assert box.get_chemical_formula(empirical=False) == "C37H68O30"  # 3 C3H4O3 + 7 C4H8O3
    ec_mass = box.get_masses()[species == 0].sum()
    assert ec_mass / box.get_masses().sum() == pytest.approx(3 * 88.06 / (3 * 88.06 + 7 * 104.10), abs=1e-4)
    assert density_g_cm3(box) == pytest.approx(1.08, rel=1e-4)
    assert np.array_equal(molecule_ids(straddled(box)), mol)
    formulas = {0: "C3H4O3", 1: "C4H8O3"}
    for m in range(10):
        assert box[mol == m].get_chemical_formula(empirical=False) == formulas[mol_species[m]]
    assert box.info["smiles"] == [EC, EMC]


def test_build_box_refuses_molecules_touching_their_own_image():
    # 3 DEC in an 8.45 Å box: packmol keeps molecules apart, not a molecule from its own image
    with pytest.raises(RuntimeError, match=r"molecule \d \(CCOC\(=O\)OCC\) .* from its own periodic image"):
        build_box([(DEC, 3)], density_g_cm3=0.975, seed=0)


# --- molecules across the periodic boundary -------------------------------------------


def test_molecule_ids_across_boundary(ec_box):
    moved = straddled(ec_box)
    i, j = bonds(moved)
    assert (np.linalg.norm(moved.positions[j] - moved.positions[i], axis=1) > 2.0).any(), "nothing straddles"
    assert np.array_equal(molecule_ids(moved), ec_box.arrays["mol_id"])
    # numbering follows the first atom, whatever the atom order
    reversed_box = moved[::-1]
    assert np.array_equal(molecule_ids(reversed_box), 7 - ec_box.arrays["mol_id"][::-1])


def test_make_molecules_whole(mixed_box):
    moved = straddled(mixed_box)
    whole = make_molecules_whole(moved)
    i, j = bonds(moved)
    assert np.linalg.norm(whole.positions[j] - whole.positions[i], axis=1).max() < 2.0
    # each molecule is the packmol molecule translated by a lattice vector
    for m in range(10):
        atoms = mixed_box.arrays["mol_id"] == m
        shift = whole.positions[atoms] - mixed_box.positions[atoms]
        assert np.allclose(shift, shift[0], atol=1e-9)
        frac = np.linalg.solve(mixed_box.cell.T, shift[0] - (mixed_box.cell.lengths() / 2 + 0.37))
        assert np.allclose(frac, np.round(frac), atol=1e-9)
    assert np.array_equal(moved.positions, straddled(mixed_box).positions)  # input untouched
    with pytest.raises(ValueError, match="not covalently connected"):
        make_molecules_whole(moved, np.zeros(len(moved), dtype=int))
    with pytest.raises(ValueError, match="mol_id"):
        make_molecules_whole(Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]]))


def test_centres_of_mass_follow_molecules(ec_box):
    moved = straddled(ec_box)
    expected = np.array([ec_box[ec_box.arrays["mol_id"] == m].get_center_of_mass() for m in range(8)])
    com = centres_of_mass(moved)
    assert com.shape == (8, 3)
    delta = np.linalg.solve(ec_box.cell.T, (com - expected - (ec_box.cell.lengths() / 2 + 0.37)).T).T
    assert np.allclose(delta, np.round(delta), atol=1e-9)


# --- clusters ---------------------------------------------------------------------------


def test_clusters_hold_whole_molecules(mixed_box):
    moved = straddled(mixed_box)
    formulas = {0: "C3H4O3", 1: "C4H8O3"}
    clusters = cut_clusters(moved, (2, 6), 8, np.random.default_rng(3))
    assert len(clusters) == 8
    assert len({c.info["n_molecules"] for c in clusters}) > 1
    for cluster in clusters:
        n = cluster.info["n_molecules"]
        assert 2 <= n <= 6
        assert not cluster.pbc.any() and cluster.cell.rank == 0
        assert np.allclose(cluster.get_center_of_mass(), 0.0, atol=1e-9)
        ids = molecule_ids(cluster)
        assert ids.max() + 1 == n
        assert np.array_equal(ids, cluster.arrays["mol_id"])
        for m in range(n):
            species = set(cluster.arrays["species_id"][ids == m])
            assert len(species) == 1
            assert cluster[ids == m].get_chemical_formula() == formulas[species.pop()]
        # the n molecules nearest the centre (minimum image), placed at their minimum images
        box_com = centres_of_mass(moved)
        _, box_dist = find_mic(box_com - box_com[cluster.info["centre_mol"]], moved.cell, pbc=True)
        com = centres_of_mass(cluster)
        assert np.allclose(np.linalg.norm(com - com[0], axis=1), np.sort(box_dist)[:n], atol=1e-9)
        centre_species = moved.arrays["species_id"][moved.arrays["mol_id"] == cluster.info["centre_mol"]][0]
        assert cluster.arrays["species_id"][0] == centre_species
    with pytest.raises(ValueError, match="11 molecules from a box of 10"):
        cut_cluster(moved, 11, 0)
    with pytest.raises(ValueError, match="up to 11"):
        cut_clusters(moved, (2, 11), 3, np.random.default_rng(0))


def test_clusters_are_reproducible(mixed_box):
    a = cut_clusters(mixed_box, (1, 4), 5, np.random.default_rng(7))
    b = cut_clusters(mixed_box, (1, 4), 5, np.random.default_rng(7))
    assert [c.info["centre_mol"] for c in a] == [c.info["centre_mol"] for c in b]
    assert all(np.array_equal(x.positions, y.positions) for x, y in zip(a, b, strict=True))


def nitrogen_box() -> Atoms:
    """N2 molecules (bond 1.1 Å) in a 20 Å cube; molecule 0 (bond along x) straddles x = 0,
    the others have their bond along y and are whole.

    Centre-of-mass distances (minimum image) from molecule 0 at (0.3, 10, 10):
    m1 (17.3, 10, 10) 3 Å; m2 (0.3, 14, 10) 4 Å; m3 (0.3, 10, 15) 5 Å; m4 (10.3, 1, 1) 15.6 Å.
    """
    coms = np.array([[0.3, 10, 10], [17.3, 10, 10], [0.3, 14, 10], [0.3, 10, 15], [10.3, 1, 1]])
    half_bonds = np.array([[0.55, 0, 0]] + [[0, 0.55, 0]] * 4)
    positions = np.concatenate([[c - h, c + h] for c, h in zip(coms, half_bonds, strict=True)])
    box = Atoms("N10", positions=positions, cell=[20, 20, 20], pbc=True)
    box.wrap()
    box.arrays["mol_id"] = np.repeat(np.arange(5), 2)
    box.arrays["species_id"] = np.repeat([3, 1, 4, 1, 5], 2)
    return box


def test_cut_cluster_selects_nearest_molecules():
    box = nitrogen_box()
    cluster = cut_cluster(box, 3, 0)
    assert cluster.info["n_molecules"] == 3 and cluster.info["centre_mol"] == 0
    assert np.array_equal(cluster.arrays["mol_id"], [0, 0, 1, 1, 2, 2])
    assert np.array_equal(cluster.arrays["species_id"], [3, 3, 1, 1, 4, 4])
    com = centres_of_mass(cluster)
    assert np.allclose(com - com[0], [[0, 0, 0], [-3, 0, 0], [0, 4, 0]], atol=1e-9)
    assert np.allclose(np.linalg.norm(cluster.positions[1::2] - cluster.positions[::2], axis=1), 1.1)

    around_m1 = cut_cluster(box, 4, 1)  # m0 3 Å, m2 5 Å, m3 sqrt(34) Å
    assert np.array_equal(around_m1.arrays["species_id"][::2], [1, 3, 4, 1])
    com = centres_of_mass(around_m1)
    assert np.allclose(np.linalg.norm(com - com[0], axis=1), [0, 3, 5, np.sqrt(34)], atol=1e-9)
    with pytest.raises(ValueError, match="centre molecule 5"):
        cut_cluster(box, 2, 5)


def brute_force_distances(box: Atoms, centre: int) -> np.ndarray:
    """Minimum-image COM distances (Å) from molecule ``centre`` of a box whose molecules are whole,
    by trying lattice translations -2..2 along each (cubic) cell vector."""
    mol = box.arrays["mol_id"]
    com = np.array([box[mol == m].get_center_of_mass() for m in range(mol.max() + 1)])
    shifts = np.array(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij")).reshape(3, -1).T @ box.cell.array
    delta = com[:, None, :] - com[centre] + shifts[None, :, :]
    return np.linalg.norm(delta, axis=2).min(axis=1)


def test_cut_cluster_radius_nitrogen():
    box = nitrogen_box()  # distances from m0: m1 3 Å, m2 4 Å, m3 5 Å, m4 far
    cluster = cut_cluster_radius(box, 4.5, 0)
    assert cluster.info["n_molecules"] == 3 and cluster.info["centre_mol"] == 0
    assert cluster.info["radius_ang"] == 4.5
    assert np.array_equal(cluster.arrays["mol_id"], [0, 0, 1, 1, 2, 2])
    assert np.array_equal(cluster.arrays["species_id"], [3, 3, 1, 1, 4, 4])
    assert not cluster.pbc.any() and cluster.cell.rank == 0
    assert np.allclose(cluster.get_center_of_mass(), 0.0, atol=1e-9)
    com = centres_of_mass(cluster)
    assert np.allclose(com - com[0], [[0, 0, 0], [-3, 0, 0], [0, 4, 0]], atol=1e-9)
    # molecule 0 straddles x = 0 in the box; whole in the cluster
    assert np.allclose(np.linalg.norm(cluster.positions[1::2] - cluster.positions[::2], axis=1), 1.1)

    assert cut_cluster_radius(box, 3.5, 0).info["n_molecules"] == 2
    assert cut_cluster_radius(box, 0.5, 3).info["n_molecules"] == 1  # only the centre
    assert cut_cluster_radius(box, 6.0, 0).info["n_molecules"] == 4
    capped = cut_cluster_radius(box, 6.0, 0, max_molecules=2)
    assert capped.info["n_molecules"] == 2
    assert np.array_equal(capped.arrays["species_id"], [3, 3, 1, 1])  # the nearest two
    assert cut_cluster_radius(box, 10.0, 4).info["n_molecules"] == 1  # half the 20 Å cell is allowed

    with pytest.raises(ValueError, match=r"radius 10.01 Å exceeds half the smallest perpendicular width"):
        cut_cluster_radius(box, 10.01, 0)
    for radius in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="positive"):
            cut_cluster_radius(box, radius, 0)
    for cap in (0, -2, 1.5):
        with pytest.raises(ValueError, match="max_molecules"):
            cut_cluster_radius(box, 4.5, 0, max_molecules=cap)
    with pytest.raises(ValueError, match="centre molecule 5"):
        cut_cluster_radius(box, 4.5, 5)


def test_cut_cluster_radius_limit_uses_perpendicular_width():
    box = nitrogen_box()
    box.set_cell([[20, 0, 0], [10, 20, 0], [0, 0, 20]])  # edges >= 20 Å, width along a 8000/|b x c| = 17.9 Å
    with pytest.raises(ValueError, match=r"\(8.9443 Å\)"):
        cut_cluster_radius(box, 9.0, 0)
    assert cut_cluster_radius(box, 8.9, 0).info["radius_ang"] == 8.9
    # no periodicity, no limit
    cluster = cut_cluster_radius(nitrogen_box(), 4.5, 0)
    assert cut_cluster_radius(cluster, 100.0, 0).info["n_molecules"] == 3


def test_cut_cluster_radius_matches_brute_force(mixed_box):
    moved = straddled(mixed_box)
    mol = moved.arrays["mol_id"]
    i, j = bonds(moved)
    straddling = set(mol[i[np.linalg.norm(moved.positions[j] - moved.positions[i], axis=1) > 2.0]].tolist())
    assert straddling, "no molecule straddles the boundary"
    formulas = {0: "C3H4O3", 1: "C4H8O3"}
    half_width = moved.cell[0, 0] / 2
    seen_straddling = seen_excluded = False
    for centre in range(10):
        distances = brute_force_distances(mixed_box, centre)  # packmol's box: molecules whole
        for radius in (3.0, 4.5, half_width):
            cluster = cut_cluster_radius(moved, radius, centre)
            inside = np.flatnonzero(distances <= radius)
            expected = inside[np.argsort(distances[inside], kind="stable")]
            n = cluster.info["n_molecules"]
            assert n == len(expected) and expected[0] == centre
            assert cluster.info["centre_mol"] == centre and cluster.info["radius_ang"] == radius
            assert (np.delete(distances, expected) > radius).all()
            com = centres_of_mass(cluster)
            assert np.allclose(np.linalg.norm(com - com[0], axis=1), distances[expected], atol=1e-9)
            assert np.allclose(cluster.get_center_of_mass(), 0.0, atol=1e-9)
            assert not cluster.pbc.any()
            ids = molecule_ids(cluster)
            assert np.array_equal(ids, cluster.arrays["mol_id"]) and ids.max() + 1 == n  # whole and apart
            box_species = mixed_box.arrays["species_id"][np.searchsorted(mol, expected)]
            for m in range(n):
                assert np.all(cluster.arrays["species_id"][ids == m] == box_species[m])
                assert cluster[ids == m].get_chemical_formula() == formulas[box_species[m]]
            seen_straddling |= bool(straddling & set(expected[1:].tolist()))
            seen_excluded |= n < 10

            capped = cut_cluster_radius(moved, radius, centre, max_molecules=3)
            assert capped.info["n_molecules"] == min(3, n)
            com = centres_of_mass(capped)
            assert np.allclose(np.linalg.norm(com - com[0], axis=1), distances[expected[:3]], atol=1e-9)
    assert seen_straddling and seen_excluded


def test_cut_clusters_by_radius_redraws_small_clusters(monkeypatch):
    box = nitrogen_box()  # within 4.5 Å: 3 molecules around m0, 2 around m1 and m2, 1 around m3 and m4
    rng = np.random.default_rng(0)
    # up to 4 redraws: all 5 centres can be tried, so the only one reaching 3 molecules is found
    for cluster in cut_clusters(box, (3, 3), 10, rng, radius_ang=4.5):
        assert cluster.info["centre_mol"] == 0 and cluster.info["n_molecules"] == 3
        assert cluster.info["radius_ang"] == 4.5
    # n_min out of reach: the largest of the tries is kept
    for cluster in cut_clusters(box, (4, 5), 5, rng, radius_ang=4.5):
        assert cluster.info["centre_mol"] == 0 and cluster.info["n_molecules"] == 3
    # n_min = 1: no redraw, n_max caps
    small = cut_clusters(box, (1, 2), 30, rng, radius_ang=4.5)
    assert {c.info["centre_mol"] for c in small} == set(range(5))
    for cluster in small:
        expected = cut_cluster_radius(box, 4.5, cluster.info["centre_mol"], max_molecules=2)
        assert np.array_equal(cluster.positions, expected.positions)
    assert {c.info["n_molecules"] for c in small} == {1, 2}
    # without redraws the small clusters are accepted as drawn
    monkeypatch.setattr("mlipcamp.science.structures.clusters.RADIUS_CLUSTER_REDRAWS", 0)
    drawn = cut_clusters(box, (3, 3), 30, rng, radius_ang=4.5)
    assert {c.info["n_molecules"] for c in drawn} == {1, 2, 3}
    assert all(c.info["n_molecules"] == 3 for c in drawn if c.info["centre_mol"] == 0)


def test_cut_clusters_by_radius_in_a_liquid(mixed_box):
    moved = straddled(mixed_box)
    a = cut_clusters(moved, (3, 4), 12, np.random.default_rng(5), radius_ang=4.5)
    b = cut_clusters(moved, (3, 4), 12, np.random.default_rng(5), radius_ang=4.5)
    assert [c.info["centre_mol"] for c in a] == [c.info["centre_mol"] for c in b]
    assert all(np.array_equal(x.positions, y.positions) for x, y in zip(a, b, strict=True))
    for cluster in a:
        assert 1 <= cluster.info["n_molecules"] <= 4
        expected = cut_cluster_radius(moved, 4.5, cluster.info["centre_mol"], max_molecules=4)
        assert np.array_equal(cluster.positions, expected.positions)
        assert np.array_equal(cluster.arrays["species_id"], expected.arrays["species_id"])
    # n_max only caps in radius mode; n_min must be reachable; the radius is checked up front
    assert len(cut_clusters(moved, (1, 50), 2, np.random.default_rng(0), radius_ang=3.0)) == 2
    with pytest.raises(ValueError, match="at least 11 molecules from a box of 10"):
        cut_clusters(moved, (11, 12), 1, np.random.default_rng(0), radius_ang=3.0)
    with pytest.raises(ValueError, match="exceeds half"):
        cut_clusters(moved, (1, 2), 0, np.random.default_rng(0), radius_ang=moved.cell[0, 0])


def test_periodic_snapshot(ec_box):
    shifted = ec_box.copy()
    shifted.positions += 0.7 * ec_box.cell.lengths()
    shifted.calc = LennardJones()
    snap = periodic_snapshot(shifted)
    assert snap.calc is None and snap.pbc.all()
    assert snap.info["n_molecules"] == 8
    scaled = snap.get_scaled_positions(wrap=False)
    assert scaled.min() >= 0.0 and scaled.max() < 1.0
    assert np.array_equal(snap.arrays["mol_id"], ec_box.arrays["mol_id"])
    assert shifted.get_scaled_positions(wrap=False).max() > 1.0  # input untouched
    with pytest.raises(ValueError, match="3D cell"):
        periodic_snapshot(Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]]))


@pytest.mark.parametrize("factor", [0.85, 1.0, 1.3])
def test_scaled_snapshot_moves_molecules_rigidly(ec_box, factor):
    scaled = scaled_snapshot(ec_box, factor)
    assert scaled.get_volume() == pytest.approx(factor * ec_box.get_volume(), rel=1e-12)
    assert scaled.info["volume_factor"] == factor and scaled.calc is None
    assert np.array_equal(molecule_ids(scaled), ec_box.arrays["mol_id"])  # no bond broken or formed
    whole, original = make_molecules_whole(scaled), make_molecules_whole(ec_box)
    for mol in range(8):  # every intramolecular distance kept: rigid molecules
        sel = ec_box.arrays["mol_id"] == mol
        assert np.allclose(whole[sel].get_all_distances(), original[sel].get_all_distances(), atol=1e-10)
    # centres of mass scaled by factor^(1/3), up to lattice vectors
    shift = centres_of_mass(scaled) - centres_of_mass(ec_box) * factor ** (1 / 3)
    fractional = np.linalg.solve(scaled.cell.T, shift.T).T
    assert np.allclose(fractional, np.round(fractional), atol=1e-9)
    with pytest.raises(ValueError, match="volume_factor"):
        scaled_snapshot(ec_box, 3.0)


def test_training_structures_at_several_volumes(ec_box):
    structures = training_structures([ec_box], (1, 2), 3, seed=0, volume_factors=(0.9, 1.0, 1.2))
    assert [kind for kind, _ in structures] == ["cluster"] * 3 + ["periodic"] * 3
    volumes = [atoms.get_volume() / ec_box.get_volume() for _, atoms in structures[3:]]
    assert volumes == pytest.approx([0.9, 1.0, 1.2])


# --- MD sampling ------------------------------------------------------------------------


def lj() -> LennardJones:
    return LennardJones(sigma=1.0, epsilon=0.005, rc=3.0)


def test_sample_liquid_mechanics(ec_box):
    calls = []
    snaps = sample_liquid(
        ec_box,
        lj(),
        300.0,
        n_steps=6,
        timestep_fs=0.5,
        interval=2,
        seed=11,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert [s.info["sample_step"] for s in snaps] == [2, 4, 6]
    assert calls == [(2, 6), (4, 6), (6, 6)]
    for snap in snaps:
        fresh = snap.copy()  # the snapshot carries what the MD computed there: a fresh single point agrees
        fresh.calc = lj()
        assert snap.get_potential_energy() == pytest.approx(fresh.get_potential_energy(), abs=1e-12)
        assert np.allclose(snap.calc.results["forces"], fresh.get_forces(), atol=1e-12)
        assert snap.info["temperature_K"] == 300.0
        assert np.array_equal(snap.arrays["mol_id"], ec_box.arrays["mol_id"])
        assert np.array_equal(snap.arrays["species_id"], ec_box.arrays["species_id"])
        scaled = snap.get_scaled_positions(wrap=False)
        assert scaled.min() >= 0.0 and scaled.max() < 1.0
        assert 150.0 < snap.get_temperature() < 450.0
    assert not np.allclose(snaps[0].positions, snaps[1].positions)
    assert ec_box.calc is None and "momenta" not in ec_box.arrays  # input untouched

    same = sample_liquid(ec_box, lj(), 300.0, n_steps=6, timestep_fs=0.5, interval=2, seed=11)
    other = sample_liquid(ec_box, lj(), 300.0, n_steps=6, timestep_fs=0.5, interval=2, seed=12)
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(snaps, same, strict=True))
    assert not np.allclose(snaps[-1].positions, other[-1].positions)

    odd = sample_liquid(ec_box, lj(), 300.0, n_steps=7, timestep_fs=0.5, interval=3, seed=0)
    assert [s.info["sample_step"] for s in odd] == [3, 6]


def test_sample_liquid_validates_arguments(ec_box):
    good = {"temperature_K": 300.0, "n_steps": 4, "timestep_fs": 0.5, "interval": 2, "seed": 0}
    for bad, match in [
        ({"n_steps": 0}, "n_steps"),
        ({"interval": 5}, "interval"),
        ({"interval": 0}, "interval"),
        ({"temperature_K": 0.0}, "temperature"),
        ({"timestep_fs": -1.0}, "timestep"),
    ]:
        with pytest.raises(ValueError, match=match):
            sample_liquid(ec_box, lj(), **{**good, **bad})


@pytest.mark.slow
def test_sample_liquid_gfn2_xtb(ec_box):
    calc = make_calculator(get_level("gfn2-xtb"))  # the sampling potential as a campaign makes it
    snaps = sample_liquid(ec_box, calc, 300.0, n_steps=3, timestep_fs=0.5, interval=1, seed=0)
    assert [s.info["sample_step"] for s in snaps] == [1, 2, 3]
    for snap in snaps:
        label = compute_label(periodic_snapshot(snap), get_level("gfn2-xtb"))  # what labelling would compute
        carried = periodic_snapshot(snap).calc.results
        # equal to the SCF convergence: the MD's SCF starts from the previous step's wavefunction
        assert carried["energy"] == pytest.approx(label.energy_eV, abs=1e-6)
        assert np.allclose(carried["forces"], label.forces_eV_ang, atol=1e-3)  # eV/Å: 1 meV/Å
        assert np.allclose(carried["stress"], label.stress_eV_ang3, atol=1e-5)  # eV/Å³: 16 bar
        assert np.isfinite(snap.positions).all()
        assert np.array_equal(molecule_ids(snap), ec_box.arrays["mol_id"])  # no bond broken or formed
        assert 100.0 < snap.get_temperature() < 600.0
    _, moved = find_mic(snaps[-1].positions - ec_box.positions, ec_box.cell, pbc=True)
    assert 0.0 < np.median(moved) < 0.2  # 1.5 fs at 300 K: a few 0.01 Å per atom


def tiny_mace_model(path) -> None:
    """An untrained ScaleShiftMACE for H, C, O (8 scalar channels, 1 interaction) saved with torch.save."""
    import torch
    from mace import modules  # before e3nn: importing mace lets torch.load read e3nn's constants

    # isort: split
    from e3nn import o3

    torch.manual_seed(0)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.ScaleShiftMACE(
        r_max=4.0,
        num_bessel=4,
        num_polynomial_cutoff=5,
        max_ell=1,
        interaction_cls=block,
        interaction_cls_first=block,
        num_interactions=1,
        num_elements=3,
        hidden_irreps=o3.Irreps("8x0e"),
        MLP_irreps=o3.Irreps("8x0e"),
        atomic_energies=np.zeros(3),
        avg_num_neighbors=8.0,
        atomic_numbers=[1, 6, 8],
        correlation=2,
        gate=torch.nn.functional.silu,
        atomic_inter_scale=0.1,
        atomic_inter_shift=0.0,
    ).to(torch.float64)
    torch.save(model, path)


@pytest.mark.slow
def test_sample_liquid_mace_calculator(ec_box, tmp_path):
    from mlipcamp.science.mace_calculator import mace_calculator

    model = tmp_path / "tiny.model"
    tiny_mace_model(model)
    run = {"temperature_K": 300.0, "n_steps": 4, "timestep_fs": 0.5, "interval": 2, "seed": 3}
    for dtype in ("float64", "float32"):
        calc = mace_calculator(model, "cpu", dtype)
        snaps = sample_liquid(ec_box, calc, **run)
        assert calc.results["forces"].shape == (len(ec_box), 3)  # MACE drove the MD
        assert [s.info["sample_step"] for s in snaps] == [2, 4]
        for snap in snaps:
            assert snap.get_forces().shape == (len(ec_box), 3) and np.isfinite(snap.positions).all()
            assert np.array_equal(snap.arrays["mol_id"], ec_box.arrays["mol_id"])
            assert np.array_equal(molecule_ids(snap), ec_box.arrays["mol_id"])
            assert 100.0 < snap.get_temperature() < 600.0
        # the calculator carries nothing from one run to the next
        again = sample_liquid(ec_box, calc, **run)
        fresh = sample_liquid(ec_box, mace_calculator(model, "cpu", dtype), **run)
        atol = 1e-10 if dtype == "float64" else 1e-6
        assert all(np.allclose(a.positions, b.positions, atol=atol) for a, b in zip(snaps, again, strict=True))
        assert all(np.allclose(a.positions, b.positions, atol=atol) for a, b in zip(snaps, fresh, strict=True))
    assert ec_box.calc is None and "momenta" not in ec_box.arrays
