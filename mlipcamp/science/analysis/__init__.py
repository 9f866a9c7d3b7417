"""Analyses of MD runs: equilibrated density, temperature check, self-diffusion, radial
distribution; ``md_run.analyse_md_run`` puts them together for one run."""

from mlipcamp.science.analysis.density import SeriesStats, equilibrated_mean, series_stats
from mlipcamp.science.analysis.diffusion import (
    DiffusionResult,
    diffusion_coefficient,
    minimum_image,
    molecule_com_trajectory,
    molecule_species,
    msd_multi_origin,
    unwrap_npt,
    yeh_hummer_correction,
)
from mlipcamp.science.analysis.rdf import com_rdf, element_pair_rdf
from mlipcamp.science.analysis.temperature import temperature_fluctuation_check

__all__ = [
    "DiffusionResult",
    "SeriesStats",
    "com_rdf",
    "diffusion_coefficient",
    "element_pair_rdf",
    "equilibrated_mean",
    "minimum_image",
    "molecule_com_trajectory",
    "molecule_species",
    "msd_multi_origin",
    "series_stats",
    "temperature_fluctuation_check",
    "unwrap_npt",
    "yeh_hummer_correction",
]
