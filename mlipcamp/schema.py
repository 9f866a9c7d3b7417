"""The base of every settings model: strict pydantic models whose physical quantities are written
with their unit in campaign files ("313 K", "1 fs", "1.32 g/cm^3")."""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Annotated

import pint
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationInfo

UNITS_REQUIRED = "units_required"  # validation context key: campaign files must write every unit

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_POWER_SUFFIX = re.compile(r"([A-Za-z])(\d)\b")  # "cm3" -> "cm^3"


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    return pint.UnitRegistry()


class StrictModel(BaseModel):
    """A settings section: unknown keys are errors and values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def to_unit(text: object, unit: str, units_required: bool = True) -> float:
    """Magnitude of a quantity such as "313 K" or "0.5 ps" in ``unit``; raises ValueError naming the problem.

    A bare number is taken to be in ``unit`` unless ``units_required`` (campaign files).
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"expected a quantity with a unit such as '1 {unit}'")
    if isinstance(text, int | float):
        if units_required:
            raise ValueError(f"a unit is required, e.g. '{text} {unit}'")
        return float(text)
    match = _NUMBER_UNIT.match(text)
    if not match or not match.group(2):
        raise ValueError(f"expected '<number> <unit>', e.g. '1 {unit}', got '{text}'")
    value, unit_text = float(match.group(1)), _POWER_SUFFIX.sub(r"\1^\2", match.group(2))
    ureg = registry()
    try:
        magnitude = float(ureg.Quantity(value, unit_text).to(unit).magnitude)
        return float(
            f"{magnitude:.12g}"
        )  # without the conversion's last-digit noise (0.5 ps: 500 fs, not 499.99999999999994)
    except pint.errors.UndefinedUnitError:
        raise ValueError(f"unknown unit '{match.group(2)}'") from None
    except pint.errors.DimensionalityError:
        raise ValueError(f"'{text}' is not convertible to {unit}") from None


def _quantity(unit: str, positive: bool = True):
    def parse(value: object, info: ValidationInfo) -> float:
        magnitude = to_unit(value, unit, units_required=bool((info.context or {}).get(UNITS_REQUIRED)))
        if not math.isfinite(magnitude):
            raise ValueError(f"must be finite, got '{value}'")
        if positive and magnitude <= 0:
            raise ValueError(f"must be positive, got '{value}'")
        return magnitude

    return Annotated[
        float,
        BeforeValidator(parse),
        PlainSerializer(lambda v: f"{v!r} {unit}", return_type=str),  # repr: exact, so keys never merge two values
    ]


Temperature = _quantity("K")
Pressure = _quantity("bar", positive=False)
Time = _quantity("fs")
Density = _quantity("g/cm^3")
Length = _quantity("angstrom")
Viscosity = _quantity("mPa*s")
Energy = _quantity("eV", positive=False)
