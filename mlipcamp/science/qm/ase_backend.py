"""ASE backend: any ASE calculator class, named by import path — the way to plug in periodic DFT.

A level with ``code='ase'`` carries in its settings:

- ``calculator``: ``'package.module:ClassName'`` (e.g. ``'gpaw:GPAW'``, ``'ase.calculators.vasp:Vasp'``,
  ``'ase.calculators.espresso:Espresso'``, ``'ase.calculators.cp2k:CP2K'``)
- ``kwargs``: constructor keyword arguments (JSON-serialisable: they are part of the level's hash)
- ``supports_periodic``: whether to accept periodic cells (default True)
- ``charge_kwarg``: the constructor argument taking the total charge (e.g. GPAW's ``'charge'``),
  or None; then only neutral singlet structures can be labelled

Build such a level with ``mlipcamp.science.qm.levels.ase_level(...)`` or ``get_level('ase:package.module:Class')``
(no kwargs). A new calculator is constructed for every structure. Failures of the calculator
become failed labels through compute_label; nothing here knows the code's own error messages.
"""

from __future__ import annotations

import importlib

from ase.calculators.calculator import Calculator

from mlipcamp.science.qm.levels import LevelOfTheory

SETTINGS = frozenset({"calculator", "kwargs", "supports_periodic", "charge_kwarg"})


def supports_periodic(level: LevelOfTheory) -> bool:
    """An ASE level accepts periodic cells unless its settings say otherwise."""
    return bool(level.settings.get("supports_periodic", True))


def make_calculator(level: LevelOfTheory, charge: int = 0, multiplicity: int = 1) -> Calculator:
    """A fresh instance of the level's ASE calculator class."""
    unknown = sorted(set(level.settings) - SETTINGS)
    if unknown:
        raise ValueError(f"level {level.name!r}: unknown ase settings {unknown}; known: {sorted(SETTINGS)}")
    path = level.settings.get("calculator")
    if not isinstance(path, str) or ":" not in path:
        raise ValueError(f"level {level.name!r}: settings.calculator must be 'package.module:ClassName'")
    module_name, _, class_name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"level {level.name!r}: cannot import ASE calculator {path!r}: {exc}") from None
    kwargs = dict(level.settings.get("kwargs") or {})
    charge_kwarg = level.settings.get("charge_kwarg")
    if charge != 0:
        if not charge_kwarg:
            raise ValueError(
                f"level {level.name!r}: structure has charge {charge} but the level names no "
                "charge_kwarg for its ASE calculator"
            )
        kwargs[charge_kwarg] = charge
    if multiplicity != 1:
        raise ValueError(
            f"level {level.name!r}: multiplicity {multiplicity} cannot be passed to a generic ASE "
            "calculator; set spin polarisation through the level's kwargs"
        )
    return cls(**kwargs)
