"""Equilibrated mean of a time series with an autocorrelation-corrected standard error."""

from __future__ import annotations

from dataclasses import dataclass

import logging

import numpy as np

# pymbar logs a caveat on every call and a banner about JAX; our SEMs state their method instead.
logging.getLogger("pymbar").setLevel(logging.ERROR)
from pymbar import timeseries  # noqa: E402

MAX_EQUILIBRATION_CANDIDATES = 500  # origins tried by detect_equilibration (cost ∝ this)


MIN_EFFECTIVE_SAMPLES = 10


@dataclass
class SeriesStats:
    """Mean and standard error (units of the series) of the equilibrated part
    ``series[equilibration_index:]``; ``n_effective = n_samples / statistical_inefficiency``."""

    mean: float
    sem: float
    equilibration_index: int
    statistical_inefficiency: float
    n_effective: float
    n_samples: int

    @property
    def converged(self) -> bool:
        """Stated rule: the equilibrated part is at least half the series and holds
        at least MIN_EFFECTIVE_SAMPLES uncorrelated samples; otherwise the run is too short
        for the mean to be trusted, whatever its SEM says."""
        return self.n_samples >= self.equilibration_index and self.n_effective >= MIN_EFFECTIVE_SAMPLES


def equilibrated_mean(series: np.ndarray) -> SeriesStats:
    """Cut the equilibration transient (pymbar ``detect_equilibration``: the start that
    maximises the number of uncorrelated samples) and return the mean with
    sem = std·sqrt(g/N), g the statistical inefficiency of the kept N samples.

    Units follow the series (e.g. g/cm³ for a density log).
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 1 or series.size < 10:
        raise ValueError(f"need a 1-D series of at least 10 samples, got shape {series.shape}")
    if not np.all(np.isfinite(series)):
        raise ValueError("series contains non-finite values")
    nskip = max(1, series.size // MAX_EQUILIBRATION_CANDIDATES)
    t0, _, _ = timeseries.detect_equilibration(series, nskip=nskip)
    t0 = int(t0)
    kept = series[t0:]
    # detect_equilibration's g uses the coarse "fast" sum; recompute it on the kept part.
    g = float(timeseries.statistical_inefficiency(kept, fast=False))
    n = kept.size
    return SeriesStats(
        mean=float(kept.mean()),
        sem=float(kept.std(ddof=1) * np.sqrt(g / n)),
        equilibration_index=t0,
        statistical_inefficiency=g,
        n_effective=n / g,
        n_samples=n,
    )
