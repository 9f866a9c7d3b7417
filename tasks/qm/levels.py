"""Levels of theory: what labels a structure (code, method, settings, code version)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

import pydantic

from tasks.hashing import hash_json


class UnknownLevelError(ValueError):
    """Raised for a level-of-theory name that is not registered."""


class LevelOfTheory(pydantic.BaseModel, frozen=True, extra="forbid"):
    """A fully specified QM level; its ``hash`` keys labels together with the structure hash."""

    name: str
    code: str
    method: str
    basis: str | None = None
    dispersion: str | None = None
    settings: dict[str, Any] = {}
    code_version: str

    @property
    def hash(self) -> str:
        """sha256 of every field (settings and code version included)."""
        return hash_json(self.model_dump())

    def with_settings(self, **kw: Any) -> LevelOfTheory:
        """Copy of this level with ``settings`` updated by ``kw``."""
        return LevelOfTheory.model_validate(
            {**self.model_dump(), "settings": {**self.settings, **kw}}
        )


def _gfn2_xtb() -> LevelOfTheory:
    # GFN2-xTB carries its own minimal basis and D4 dispersion, so basis/dispersion stay None.
    return LevelOfTheory(
        name="gfn2-xtb",
        code="tblite",
        method="GFN2-xTB",
        settings={"accuracy": 1.0, "electronic_temperature_K": 300.0, "max_iterations": 250},
        code_version=importlib.metadata.version("tblite"),
    )


_LEVELS: dict[str, Callable[[], LevelOfTheory]] = {"gfn2-xtb": _gfn2_xtb}


def known_level_names() -> list[str]:
    """Names accepted by :func:`get_level`, sorted."""
    return sorted(_LEVELS)


def get_level(name: str) -> LevelOfTheory:
    """The registered level called ``name`` (case-insensitive); raises UnknownLevelError."""
    try:
        factory = _LEVELS[name.lower()]
    except KeyError:
        known = ", ".join(known_level_names())
        raise UnknownLevelError(f"unknown level of theory {name!r}; known: {known}") from None
    return factory()
