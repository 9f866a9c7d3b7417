"""Analyses against known answers: AR(1) statistics, random walks in fluctuating boxes,
split molecules, ideal-gas and lattice RDFs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from mlipcamp.figures import plot_msd, plot_rdf, plot_series
from mlipcamp.science.analysis import (
    DiffusionResult,
    com_rdf,
    diffusion_coefficient,
    equilibrated_mean,
    molecule_com_trajectory,
    msd_multi_origin,
    unwrap_npt,
)


def ar1(n: int, phi: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) series with zero mean, standard deviation sd and lag-1 correlation phi."""
    noise = rng.standard_normal(n) * sd * np.sqrt(1 - phi**2)
    noise[0] = rng.standard_normal() * sd
    return lfilter([1.0], [1.0, -phi], noise)


def fluctuating_cubic_cells(n_frames: int, length: float, rel_sd: float, rng: np.random.Generator) -> np.ndarray:
    edge = length * (1 + rel_sd * rng.standard_normal(n_frames))
    return edge[:, None, None] * np.eye(3)


def walk_in_boxes(true: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Positions moved by the true displacements and wrapped into each frame's (cubic) box."""
    edge = cells[:, 0, 0]
    wrapped = np.empty_like(true)
    wrapped[0] = true[0] % edge[0]
    for i in range(1, len(true)):
        wrapped[i] = (wrapped[i - 1] + true[i] - true[i - 1]) % edge[i]
    return wrapped


# --- density / equilibrated mean -------------------------------------------------------------


def test_equilibrated_mean_ar1_with_transient():
    rng = np.random.default_rng(7)
    n, phi, sd, mu = 10_000, 0.9, 0.01, 1.32
    transient = 10 * sd * np.exp(-np.arange(n) / 200.0)
    series = mu + ar1(n, phi, sd, rng) + transient
    stats = equilibrated_mean(series)

    g_true = (1 + phi) / (1 - phi)  # integrated AR(1) statistical inefficiency = 19
    sem_true = sd * np.sqrt(g_true / stats.n_samples)
    assert stats.equilibration_index >= 300  # transient still 2 sd there: must be cut
    assert stats.n_samples == n - stats.equilibration_index
    assert abs(stats.mean - mu) < 3 * stats.sem
    assert stats.sem == pytest.approx(sem_true, rel=0.3)
    assert stats.statistical_inefficiency == pytest.approx(g_true, rel=0.3)
    assert stats.n_effective == pytest.approx(stats.n_samples / stats.statistical_inefficiency)
    naive = series[stats.equilibration_index :].std(ddof=1) / np.sqrt(stats.n_samples)
    assert stats.sem > 3 * naive


def test_equilibrated_mean_rejects_short_series():
    with pytest.raises(ValueError, match="at least 10"):
        equilibrated_mean(np.ones(5))


# --- diffusion -------------------------------------------------------------------------------


def test_msd_multi_origin_matches_direct_average():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((200, 5, 3)), axis=0)
    lags, msd = msd_multi_origin(x, max_lag=60)
    direct = [0.0] + [np.mean(np.sum((x[m:] - x[:-m]) ** 2, axis=2)) for m in range(1, 61)]
    np.testing.assert_array_equal(lags, np.arange(61))
    np.testing.assert_allclose(msd, direct, rtol=1e-10, atol=1e-9)


def test_unwrap_npt_recovers_walk_in_fluctuating_box():
    rng = np.random.default_rng(3)
    n_frames, n_mol, length = 500, 20, 15.0
    steps = rng.normal(0, 1.2, (n_frames, n_mol, 3))  # Å per frame, all < L/2
    steps[0] = 0.0  # start inside the first box, where the unwrapped trajectory starts
    true = rng.uniform(0, length, (1, n_mol, 3)) + np.cumsum(steps, axis=0)
    cells = fluctuating_cubic_cells(n_frames, length, 0.02, rng)
    wrapped = walk_in_boxes(true, cells)
    assert np.sum(np.abs(np.diff(wrapped, axis=0)) > length / 2) > 500  # many boundary crossings

    unwrapped = unwrap_npt(wrapped, cells)
    np.testing.assert_allclose(unwrapped, true, atol=1e-9)
    # any periodic image of the input gives the same unwrapped trajectory
    images = rng.integers(-3, 4, (n_frames, n_mol, 3)).astype(float)
    np.testing.assert_allclose(unwrap_npt(wrapped + images * cells[:, None, 0, 0, None], cells), true, atol=1e-9)


def test_diffusion_coefficient_recovers_d_after_ballistic_regime():
    # velocities AR(1) per frame (correlation time 10 frames = 0.1 ps): ballistic, then diffusive
    rng = np.random.default_rng(1)
    n_frames, n_mol, phi, sv, dt_ps, length = 4000, 64, 0.9, 0.05, 0.01, 20.0
    noise = rng.standard_normal((n_frames, n_mol, 3)) * sv * np.sqrt(1 - phi**2)
    velocity = lfilter([1.0], [1.0, -phi], noise, axis=0)  # Å per frame
    true = rng.uniform(0, length, (1, n_mol, 3)) + np.cumsum(velocity, axis=0)
    d_true = sv**2 * (1 + phi) / (1 - phi) / 2 / dt_ps * 1e-4  # cm²/s
    cells = fluctuating_cubic_cells(n_frames, length, 0.01, rng)

    result = diffusion_coefficient(unwrap_npt(walk_in_boxes(true, cells), cells), dt_ps, n_blocks=4)
    assert not result.is_fallback
    assert result.n_blocks == 4
    assert abs(result.d_cm2_s - d_true) < 3 * result.sem_cm2_s
    assert result.d_cm2_s == pytest.approx(d_true, rel=0.1)
    assert 0 < result.sem_cm2_s < 0.1 * d_true
    assert result.fit_start_ps >= 0.3  # past the ballistic regime (3 velocity correlation times)
    assert result.fit_end_ps >= 2 * result.fit_start_ps
    assert result.fit_end_ps <= n_frames // 4 // 2 * dt_ps  # lags up to half a block
    assert abs(result.loglog_slope - 1) < 0.15


def test_diffusion_coefficient_flags_fallback_without_diffusive_regime():
    rng = np.random.default_rng(2)
    t = np.arange(800)[:, None, None]
    ballistic = rng.normal(0, 0.1, (1, 10, 3)) * t + rng.normal(0, 0.01, (800, 10, 3))
    result = diffusion_coefficient(ballistic, dt_ps=0.01, n_blocks=2)
    assert result.is_fallback
    assert result.window_rule.startswith("fallback")
    assert (result.fit_start_ps, result.fit_end_ps) == pytest.approx((0.5, 1.5))  # ¼…¾ of 200 lags
    assert result.loglog_slope > 1.5


def test_molecule_com_trajectory_with_split_molecules():
    rng = np.random.default_rng(4)
    n_frames, n_mol = 6, 30
    mol_masses = np.array([12.011, 15.999, 1.008])
    cells = np.array([[[12.0, 0, 0], [2.0, 11.0, 0], [1.0, -1.5, 13.0]]]) * (
        1 + 0.02 * rng.standard_normal((n_frames, 1, 1))
    )  # triclinic, size fluctuating
    true_com = rng.uniform(0, 12, (n_frames, n_mol, 3))
    offsets = rng.normal(0, 0.7, (n_frames, n_mol, 3, 3))  # atom offsets, Å
    offsets -= np.einsum("a,fmak->fmk", mol_masses, offsets)[:, :, None] / mol_masses.sum()
    atoms = (true_com[:, :, None] + offsets).reshape(n_frames, -1, 3)
    frac = np.einsum("fnj,fjk->fnk", atoms, np.linalg.inv(cells))
    wrapped = np.einsum("fnj,fjk->fnk", frac % 1.0, cells)  # molecules split across the boundary
    mol_id = np.repeat(np.arange(n_mol)[::-1] * 3 + 5, 3)  # non-contiguous, descending ids
    masses = np.tile(mol_masses, n_mol)

    com = molecule_com_trajectory(wrapped, cells, masses, mol_id)
    assert com.shape == (n_frames, n_mol, 3)
    expected = true_com[:, ::-1]  # molecules come out ordered by sorted mol_id
    diff = np.einsum("fnj,fjk->fnk", com - expected, np.linalg.inv(cells))
    np.testing.assert_allclose(diff - np.round(diff), 0, atol=1e-9)
    first_atoms = wrapped[:, ::3][:, ::-1]
    np.testing.assert_allclose(com - first_atoms, -offsets[:, ::-1, 0], atol=1e-9)  # COM next to atom 0


# --- RDF -------------------------------------------------------------------------------------


def test_com_rdf_ideal_gas_is_one():
    rng = np.random.default_rng(5)
    n_frames, n, length = 40, 200, 20.0
    cells = fluctuating_cubic_cells(n_frames, length, 0.02, rng)
    points = rng.uniform(0, 1, (n_frames, n, 3)) * cells[:, None, 0, 0, None]
    r, g = com_rdf(points, cells, r_max_ang=50.0, n_bins=50)
    r_cap = 0.5 * cells[:, 0, 0].min()
    assert r[-1] < r_cap and r[-1] == pytest.approx(r_cap * (1 - 1 / 100))  # r_max lowered to L/2
    shell = 4 / 3 * np.pi * np.diff(np.linspace(0, r_cap, 51) ** 3)
    expected_counts = 0.5 * n * (n - 1) * n_frames * shell / length**3
    sigma = 1 / np.sqrt(expected_counts)
    far = expected_counts > 200
    assert far.sum() > 40
    assert np.all(np.abs(g[far] - 1) < 5 * sigma[far])
    assert np.mean(g[far]) == pytest.approx(1.0, abs=0.01)


def test_com_rdf_simple_cubic_lattice_coordination():
    a, reps = 2.5, 8
    grid = np.stack(np.meshgrid(*[np.arange(reps)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) * a
    cells = np.eye(3)[None] * a * reps
    r, g = com_rdf(grid[None], cells, r_max_ang=6.0, n_bins=100)
    dr = r[1] - r[0]
    shell = 4 / 3 * np.pi * ((r + dr / 2) ** 3 - (r - dr / 2) ** 3)
    coordination = np.cumsum(g * shell) * (len(grid) - 1) / (a * reps) ** 3  # neighbours within r
    assert np.all(g[r < a - dr] == 0)  # nothing closer than the lattice spacing
    assert coordination[r < 0.5 * (a + a * np.sqrt(2))][-1] == pytest.approx(6.0, rel=1e-6)
    assert coordination[r < 0.5 * (a * np.sqrt(2) + a * np.sqrt(3))][-1] == pytest.approx(18.0, rel=1e-6)


# --- plots -----------------------------------------------------------------------------------


def test_plots_write_png(tmp_path):
    t = np.linspace(0, 10, 200)
    y = 1.3 + 0.01 * np.sin(t)
    fit = DiffusionResult(
        d_cm2_s=1e-5,
        sem_cm2_s=1e-6,
        fit_start_ps=1.0,
        fit_end_ps=5.0,
        n_blocks=4,
        window_rule="longest run",
        loglog_slope=1.0,
    )
    paths = [
        plot_series(
            t,
            y,
            "time (ps)",
            "density (g/cm³)",
            tmp_path / "rho.png",
            "density",
            equilibration_index=20,
            mean=1.3,
            sem=0.001,
        ),
        plot_msd(t, 6e-1 * t, fit, tmp_path / "msd.png", "MSD"),
        plot_rdf(t, 1 + np.exp(-t), tmp_path / "sub" / "rdf.png", "RDF"),
    ]
    for path in paths:
        assert path.exists() and path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
