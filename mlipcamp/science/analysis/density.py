"""Equilibrated mean of a time series with an autocorrelation-corrected standard error."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

import numpy as np

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
    series = _checked_series(series)
    nskip = max(1, series.size // MAX_EQUILIBRATION_CANDIDATES)
    t0, _, _ = _timeseries().detect_equilibration(series, nskip=nskip)
    # detect_equilibration's g uses the coarse "fast" sum; series_stats recomputes it on the kept part.
    return series_stats(series, equilibration_index=int(t0))


def series_stats(series: np.ndarray, equilibration_index: int = 0) -> SeriesStats:
    """Mean and sem = std·sqrt(g/N) of ``series[equilibration_index:]`` (units of the series),
    g its statistical inefficiency (pymbar, ``fast=False``); nothing else is cut. The whole series
    needs 10 samples; the kept part may be shorter (``converged`` then says so)."""
    kept = _checked_series(series)[equilibration_index:]
    g = float(_timeseries().statistical_inefficiency(kept, fast=False))
    n = kept.size
    return SeriesStats(
        mean=float(kept.mean()),
        sem=float(kept.std(ddof=1) * np.sqrt(g / n)),
        equilibration_index=equilibration_index,
        statistical_inefficiency=g,
        n_effective=n / g,
        n_samples=n,
    )


def _checked_series(series: np.ndarray) -> np.ndarray:
    """``series`` as float64, refused unless 1-D, finite and at least 10 samples long."""
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 1 or series.size < 10:
        raise ValueError(f"need a 1-D series of at least 10 samples, got shape {series.shape}")
    if not np.all(np.isfinite(series)):
        raise ValueError("series contains non-finite values")
    return series


def _timeseries() -> ModuleType:
    """pymbar's timeseries, imported when first needed: with scipy.stats it takes 0.8 s, which every
    command that only reads a campaign file would otherwise pay. pymbar logs a caveat on every call
    and a banner about JAX; our SEMs state their method instead."""
    logging.getLogger("pymbar").setLevel(logging.ERROR)
    from pymbar import timeseries

    return timeseries
