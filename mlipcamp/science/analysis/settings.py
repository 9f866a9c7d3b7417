"""How MD runs are analysed (the campaign's ``analysis`` section), and how the spread over its models is
decomposed (its ``sensitivity`` section, for ``mlipcamp.science.sensitivity``)."""

from __future__ import annotations

from ase.data import chemical_symbols
from pydantic import Field, field_validator

from mlipcamp.schema import Length, StrictModel

MIN_BOOTSTRAP = 10  # fewer refits cannot place a 95 % percentile interval


class Analysis(StrictModel):
    rdf_r_max: Length = 6.0
    rdf_bins: int = Field(60, ge=5)
    rdf_element_pairs: list[tuple[str, str]] = Field(
        [("O", "H"), ("C", "O")], description="element pairs whose intra- and intermolecular g(r) are plotted"
    )
    diffusion_blocks: int = Field(4, ge=2)

    @field_validator("rdf_element_pairs")
    @classmethod
    def _elements(cls, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        unknown = sorted({element for pair in pairs for element in pair} - set(chemical_symbols[1:]))
        if unknown:
            raise ValueError(f"unknown element symbols {unknown}")
        return pairs


class Sensitivity(StrictModel):
    n_bootstrap: int = Field(
        200, ge=MIN_BOOTSTRAP, description="parametric-bootstrap refits behind each variance component's 95 % interval"
    )
