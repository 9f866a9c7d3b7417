"""Canonical temperature-fluctuation check of a thermostatted MD run (study B)."""

from __future__ import annotations

import numpy as np

from mlipcamp.science.analysis.density import MIN_EFFECTIVE_SAMPLES, series_stats

STD_RATIO_RANGE = (0.7, 1.3)  # accepted observed/expected standard deviation of T
MEAN_TOLERANCE_SEMS = 3.0  # accepted |mean − target| in expected standard errors of the mean


def temperature_fluctuation_check(
    temperatures_K: np.ndarray, target_K: float, n_atoms: int, n_constraints: int = 3
) -> dict[str, float | int | bool]:
    """Compare an equilibrated temperature series (K) with the canonical ensemble at ``target_K``.

    Expected standard deviation ΔT = T·sqrt(2/N_dof), N_dof = 3·n_atoms − n_constraints (3 for
    fixed centre-of-mass momentum; study B quotes T·sqrt(2/(3N))). ASE's ``get_temperature``
    divides 2·E_kin/k_B by 3N, not N_dof: the two differ by 3N/N_dof (1 % at N = 100). The
    whole series is used: pass only the equilibrated part.

    Pass rule: observed/expected std within STD_RATIO_RANGE (the sample std of n_eff
    independent Gaussian samples has relative error ≈ 1/sqrt(2·n_eff), so ±30 % is ≥ 3σ from
    n_eff = 50), |mean − target| ≤ 3·ΔT·sqrt(g/n) (g: statistical inefficiency of the series,
    pymbar), and at least MIN_EFFECTIVE_SAMPLES uncorrelated samples n_eff = n/g.
    """
    n_dof = 3 * n_atoms - n_constraints
    if n_dof < 1:
        raise ValueError(f"no degrees of freedom: 3·{n_atoms} − {n_constraints}")
    stats = series_stats(temperatures_K)
    expected_std = float(target_K * np.sqrt(2.0 / n_dof))
    observed_std = float(np.std(temperatures_K, ddof=1))
    ratio = observed_std / expected_std
    mean_tolerance = float(MEAN_TOLERANCE_SEMS * expected_std / np.sqrt(stats.n_effective))
    std_ok = bool(STD_RATIO_RANGE[0] <= ratio <= STD_RATIO_RANGE[1])
    mean_ok = bool(abs(stats.mean - target_K) <= mean_tolerance)
    enough = bool(stats.n_effective >= MIN_EFFECTIVE_SAMPLES)
    return {
        "target_K": float(target_K),
        "n_dof": n_dof,
        "mean_K": stats.mean,
        "mean_deviation_K": float(stats.mean - target_K),
        "mean_tolerance_K": mean_tolerance,
        "expected_std_K": expected_std,
        "observed_std_K": observed_std,
        "std_ratio": ratio,
        "statistical_inefficiency": stats.statistical_inefficiency,
        "n_effective": stats.n_effective,
        "std_ok": std_ok,
        "mean_ok": mean_ok,
        "enough_samples": enough,
        "passes": std_ok and mean_ok and enough,
    }
