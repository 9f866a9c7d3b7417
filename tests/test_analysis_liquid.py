"""Liquid analyses against known answers: Yeh–Hummer numbers, molecule formulas, element-pair
RDFs of uncorrelated points and rigid diatomics, canonical temperature fluctuations, plots."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.constants import k as k_B
from scipy.signal import lfilter

from mlipcamp.figures import plot_energy, plot_rdf_pairs
from mlipcamp.science.analysis import (
    element_pair_rdf,
    molecule_species,
    temperature_fluctuation_check,
    yeh_hummer_correction,
)

TRICLINIC = np.array([[20.0, 0.0, 0.0], [4.0, 19.0, 0.0], [2.0, -3.0, 21.0]])


def fluctuating_cells(base: np.ndarray, n_frames: int, rel_sd: float, rng: np.random.Generator) -> np.ndarray:
    """Copies of ``base`` (3, 3) Å scaled isotropically by 1 + rel_sd·N(0, 1) per frame."""
    return base[None] * (1 + rel_sd * rng.standard_normal((n_frames, 1, 1)))


def uniform_in_cells(cells: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniformly random points (n_frames, n, 3) Å in every frame's cell."""
    return np.einsum("fnj,fjk->fnk", rng.uniform(0, 1, (cells.shape[0], n, 3)), cells)


def half_widths(cells: np.ndarray) -> np.ndarray:
    """Half the perpendicular widths (n_frames, 3) Å: 1 / (2·|reciprocal vector|)."""
    return 0.5 / np.linalg.norm(np.linalg.inv(cells), axis=1)


def wrap(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    frac = np.einsum("fnj,fjk->fnk", positions, np.linalg.inv(cells))
    return np.einsum("fnj,fjk->fnk", frac % 1.0, cells)


def random_units(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal((*shape, 3))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# --- Yeh–Hummer, species ---------------------------------------------------------------------


def test_yeh_hummer_correction_value_and_scaling():
    expected_m2_s = 2.837297 * k_B * 298.15 / (6 * np.pi * 0.89e-3 * 20e-10)
    delta = yeh_hummer_correction(298.15, 0.89, 20.0)
    assert delta == pytest.approx(expected_m2_s * 1e4, rel=1e-12)  # cm²/s, ≈ 3.48e-6
    assert yeh_hummer_correction(298.15, 0.89, 40.0) == pytest.approx(delta / 2, rel=1e-12)  # ∝ 1/L
    assert yeh_hummer_correction(596.3, 1.78, 20.0) == pytest.approx(delta, rel=1e-12)  # ∝ T/η
    assert yeh_hummer_correction(596.3, 0.89, 20.0) == pytest.approx(2 * delta, rel=1e-12)
    # the reference's rounded numbers for EMC and EC at L ≈ 22.4 Å (4.25e-6 and 1.53e-6 here)
    assert yeh_hummer_correction(298.0, 0.65, 22.4) == pytest.approx(4.2e-6, rel=0.02)
    assert yeh_hummer_correction(313.0, 1.9, 22.4) == pytest.approx(1.5e-6, rel=0.02)


def test_molecule_species_mixture_in_sorted_mol_id_order():
    water, ec, dmc = [8, 1, 1], [6, 6, 6, 8, 8, 8, 1, 1, 1, 1], [6, 6, 6, 8, 8, 8] + [1] * 6
    numbers = np.array(ec + water + dmc + water)
    mol_id = np.array([7] * 10 + [3] * 3 + [12] * 12 + [0] * 3)
    perm = np.random.default_rng(0).permutation(numbers.size)  # atoms of molecules interleaved
    assert molecule_species(numbers[perm], mol_id[perm]) == ["H2O", "H2O", "C3H4O3", "C3H6O3"]


# --- element-pair RDF ------------------------------------------------------------------------


@pytest.mark.parametrize("base", [np.eye(3) * 20.0, TRICLINIC], ids=["cubic", "triclinic"])
@pytest.mark.parametrize("elements", [(8, 1), (1, 1)], ids=["O-H", "H-H"])
def test_element_pair_rdf_uncorrelated_points_is_one(base, elements):
    rng = np.random.default_rng(11)
    n_frames, n_o, n_h = 10, 150, 300
    cells = fluctuating_cells(base, n_frames, 0.02, rng)
    positions = uniform_in_cells(cells, n_o + n_h, rng)
    numbers = rng.permutation([8] * n_o + [1] * n_h)
    mol_id = np.arange(n_o + n_h)
    r_max = 0.99 * half_widths(cells).min()
    r, g = element_pair_rdf(positions, cells, numbers, mol_id, elements, r_max, n_bins=50)

    n_pairs = n_o * n_h if elements == (8, 1) else n_h * (n_h - 1) / 2
    shell = 4 / 3 * np.pi * np.diff(np.linspace(0, r_max, 51) ** 3)
    expected_counts = n_pairs * shell * np.sum(1 / np.abs(np.linalg.det(cells)))
    # bin counts are ≈ Poisson: relative σ = 1/sqrt(expected); 5σ in 200 such bins is never reached
    far = expected_counts > 200
    assert far.sum() > 40
    assert np.all(np.abs(g[far] - 1) < 5 / np.sqrt(expected_counts[far]))
    assert np.average(g, weights=expected_counts) == pytest.approx(1.0, abs=5 / np.sqrt(expected_counts.sum()))
    np.testing.assert_allclose(r, np.linspace(0, r_max, 51)[:-1] + r_max / 100)


def triatomic_liquid(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions, cells, numbers and mol_id of 120 random bent O–H–H molecules, wrapped (split)."""
    n_frames, n_mol = 4, 120
    cells = fluctuating_cells(TRICLINIC, n_frames, 0.02, rng)
    centres = uniform_in_cells(cells, n_mol, rng)
    atoms = centres[:, :, None] + 0.97 * random_units((n_frames, n_mol, 3), rng)
    atoms[:, :, 0] = centres  # O at the centre, two H at 0.97 Å
    numbers = np.tile([8, 1, 1], n_mol)
    mol_id = np.repeat(rng.permutation(n_mol), 3)
    return wrap(atoms.reshape(n_frames, -1, 3), cells), cells, numbers, mol_id


@pytest.mark.parametrize("elements", [(8, 1), (1, 8), (1, 1), (8, 8)])
def test_element_pair_rdf_intra_plus_inter_is_all(elements):
    positions, cells, numbers, mol_id = triatomic_liquid(np.random.default_rng(12))
    r_max = 0.99 * half_widths(cells).min()
    rdf = {
        part: element_pair_rdf(positions, cells, numbers, mol_id, elements, r_max, n_bins=60, part=part)[1]
        for part in ("all", "intra", "inter")
    }
    np.testing.assert_allclose(rdf["intra"] + rdf["inter"], rdf["all"], rtol=1e-12, atol=0)
    if elements == (8, 8):
        assert np.all(rdf["intra"] == 0)  # one O per molecule
    else:
        assert rdf["intra"].sum() > 0 and rdf["inter"].sum() > 0


@pytest.mark.parametrize("elements", [(6, 8), (7, 7)], ids=["A-B", "A-A"])
def test_element_pair_rdf_rigid_diatomic_gas_coordination(elements):
    rng = np.random.default_rng(13)
    n_frames, n_mol, bond = 5, 200, 1.13  # Å; bins of 0.1 Å: the bond lies in bin 11 (1.1–1.2)
    cells = fluctuating_cells(np.eye(3) * 18.0, n_frames, 0.02, rng)
    first = uniform_in_cells(cells, n_mol, rng)
    second = first + bond * random_units((n_frames, n_mol), rng)
    positions = wrap(np.stack([first, second], axis=2).reshape(n_frames, -1, 3), cells)  # some split
    numbers = np.tile(elements, n_mol)
    mol_id = np.repeat(np.arange(n_mol), 2)
    _r, g = element_pair_rdf(positions, cells, numbers, mol_id, elements, 8.0, n_bins=80, part="intra")

    np.testing.assert_array_equal(np.flatnonzero(g), [11])
    shell = 4 / 3 * np.pi * np.diff(np.linspace(0, 8.0, 81) ** 3)  # ∫ over a bin of 4π r² dr
    n_neighbours = n_mol if elements[0] != elements[1] else 2 * n_mol - 1  # N_b, or N_a − 1
    rho = n_neighbours * np.mean(1 / np.abs(np.linalg.det(cells)))  # Å⁻³
    assert rho * np.sum(g * shell) == pytest.approx(1.0, rel=1e-12)  # one bonded partner


def test_element_pair_rdf_refuses_bad_input():
    positions, cells, numbers, mol_id = triatomic_liquid(np.random.default_rng(14))
    too_far = 1.01 * half_widths(cells).min()
    with pytest.raises(ValueError, match="half the smallest cell width"):
        element_pair_rdf(positions, cells, numbers, mol_id, (8, 1), too_far)
    with pytest.raises(ValueError, match="part"):
        element_pair_rdf(positions, cells, numbers, mol_id, (8, 1), 5.0, part="both")
    with pytest.raises(ValueError, match="no pairs"):
        element_pair_rdf(positions, cells, numbers, mol_id, (8, 6), 5.0)


# --- temperature fluctuations ----------------------------------------------------------------


N_ATOMS, TARGET_K = 100, 500.0
CANONICAL_SD = TARGET_K * np.sqrt(2 / (3 * N_ATOMS - 3))  # 41.0 K


def test_temperature_check_canonical_series_passes():
    rng = np.random.default_rng(20)
    n = 4000
    check = temperature_fluctuation_check(TARGET_K + CANONICAL_SD * rng.standard_normal(n), TARGET_K, N_ATOMS)
    assert check["n_dof"] == 297
    assert check["expected_std_K"] == pytest.approx(CANONICAL_SD, rel=1e-12)
    # sample std of n Gaussian samples: relative σ = 1/sqrt(2(n−1)) = 0.011; allow 5σ
    assert check["std_ratio"] == pytest.approx(1.0, abs=5 / np.sqrt(2 * n))
    assert check["statistical_inefficiency"] == pytest.approx(1.0, abs=0.2)  # white noise
    assert abs(check["mean_deviation_K"]) <= check["mean_tolerance_K"]
    assert check["std_ok"] and check["mean_ok"] and check["passes"]


def test_temperature_check_correlated_series_widens_mean_tolerance():
    rng = np.random.default_rng(21)
    n, phi = 10_000, 0.9
    noise = rng.standard_normal(n) * CANONICAL_SD * np.sqrt(1 - phi**2)
    noise[0] = rng.standard_normal() * CANONICAL_SD
    check = temperature_fluctuation_check(TARGET_K + lfilter([1.0], [1.0, -phi], noise), TARGET_K, N_ATOMS)
    g_true = (1 + phi) / (1 - phi)  # 19 for AR(1)
    # pymbar's g at n/g ≈ 500 has a heavy upper tail: over 200 seeds 1–99 % spans 0.78–1.8 g_true
    assert g_true / 1.5 < check["statistical_inefficiency"] < 2.5 * g_true
    assert check["n_effective"] == pytest.approx(n / check["statistical_inefficiency"])
    assert check["mean_tolerance_K"] == pytest.approx(3 * CANONICAL_SD / np.sqrt(check["n_effective"]))
    assert check["passes"]


def test_temperature_check_fails_wide_or_shifted_series():
    rng = np.random.default_rng(22)
    unit = rng.standard_normal(4000)
    wide = temperature_fluctuation_check(TARGET_K + 3 * CANONICAL_SD * unit, TARGET_K, N_ATOMS)
    assert wide["std_ratio"] == pytest.approx(3.0, rel=0.1)
    assert not wide["std_ok"] and not wide["passes"]
    shifted = temperature_fluctuation_check(TARGET_K + 20 + CANONICAL_SD * unit, TARGET_K, N_ATOMS)
    assert shifted["mean_deviation_K"] == pytest.approx(20, abs=3)
    assert shifted["std_ok"] and not shifted["mean_ok"] and not shifted["passes"]


def test_temperature_check_needs_uncorrelated_samples():
    t = TARGET_K + CANONICAL_SD * np.sqrt(2) * np.sin(np.linspace(0, 2 * np.pi, 200))  # one slow cycle
    check = temperature_fluctuation_check(t, TARGET_K, N_ATOMS)
    assert check["std_ok"] and check["mean_ok"]  # right width and mean, but one slow cycle
    assert check["n_effective"] < 10 and not check["enough_samples"] and not check["passes"]


# --- plots -----------------------------------------------------------------------------------


def test_liquid_plots_write_png(tmp_path):
    t = np.linspace(0, 5, 500)
    r = np.linspace(0.05, 8, 80)
    paths = [
        plot_energy(t, -100 + 0.1 * np.sin(t), -95 + 0.01 * t, tmp_path / "energy.png", "energy"),
        plot_rdf_pairs(
            {"O-H inter": (r, 1 - np.exp(-r)), "O-H intra": (r, 5 * np.exp(-((r - 1) ** 2) / 0.01))},
            tmp_path / "sub" / "rdf_pairs.png",
            "O-H",
        ),
    ]
    for path in paths:
        assert path.exists() and path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
