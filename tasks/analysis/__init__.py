"""Analyses of MD runs: equilibrated density, self-diffusion, radial distribution, plots."""

from tasks.analysis.density import SeriesStats, equilibrated_mean
from tasks.analysis.diffusion import (
    DiffusionResult,
    diffusion_coefficient,
    minimum_image,
    molecule_com_trajectory,
    msd_multi_origin,
    unwrap_npt,
)
from tasks.analysis.plots import plot_msd, plot_rdf, plot_series
from tasks.analysis.rdf import com_rdf

__all__ = [
    "DiffusionResult",
    "SeriesStats",
    "com_rdf",
    "diffusion_coefficient",
    "equilibrated_mean",
    "minimum_image",
    "molecule_com_trajectory",
    "msd_multi_origin",
    "plot_msd",
    "plot_rdf",
    "plot_series",
    "unwrap_npt",
]
