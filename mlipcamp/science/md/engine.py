"""MD engines: what advances the atoms in time, behind one small interface.

``run_md``, the recorder, the stability watch and the checkpoints see an engine only as
``MDEngine``: the ``atoms`` it integrates in place (positions, momenta, cell, with the calculator
attached), ``step(n)``, and ``state``/``restore`` of the internal variables a restart needs
beyond the atoms. ``make_engine`` picks the implementation; ASE's integrators are the first.
"""

from __future__ import annotations

import json
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping
from operator import attrgetter
from typing import ClassVar

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics as AseDynamics
from ase.md.nose_hoover_chain import IsotropicMTKNPT

from mlipcamp.science.md.settings import MolecularDynamics


class MDEngine(ABC):
    """Integrates ``atoms`` in place. ``name`` is recorded in checkpoints (a checkpoint of another
    engine is refused); ``state_names`` are the arrays of ``state()``, all a checkpoint holds of
    the engine besides the atoms' positions, momenta and cell."""

    name: ClassVar[str]
    state_names: ClassVar[tuple[str, ...]]
    atoms: Atoms

    @abstractmethod
    def step(self, n: int) -> None:
        """Advance ``n`` steps; ``atoms`` then holds the new state."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """The internal variables (``state_names``) that the next steps depend on."""

    @abstractmethod
    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        """Set the variables of ``state()``, taken from an engine of the same settings whose atoms
        had the positions, momenta and cell that this engine was built on."""


class _AseEngine(MDEngine):
    """An ASE integrator; ``_attributes`` maps each state name to the attribute of the integrator
    (private ones included) that holds it."""

    _attributes: ClassVar[dict[str, str]]

    def __init__(self, dyn: AseDynamics):
        self._dyn = dyn
        self.atoms = dyn.atoms

    def step(self, n: int) -> None:
        self._dyn.run(n)

    def state(self) -> dict[str, np.ndarray]:
        return {name: np.array(attrgetter(path)(self._dyn)) for name, path in self._attributes.items()}

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        for name, path in self._attributes.items():
            owner_path, _, attr = path.rpartition(".")
            owner = attrgetter(owner_path)(self._dyn) if owner_path else self._dyn
            value = np.asarray(state[name])
            setattr(owner, attr, value.item() if value.ndim == 0 else value.copy())


class IsotropicMTKEngine(_AseEngine):
    """NPT: ASE's IsotropicMTKNPT, isotropic volume fluctuations with Nosé–Hoover chains on the
    particles and the barostat (Martyna, Tobias, Klein, J. Chem. Phys. 101, 4177 (1994)).
    ``thermostat_damping`` and ``barostat_damping`` are its time constants."""

    name = "ase-isotropic-mtk"
    # ``nsteps``: ASE computes forces before the first step of a fresh integrator only.
    _attributes = {
        "nsteps": "nsteps",
        "eps": "_eps",
        "p_eps": "_p_eps",
        "cell0": "_cell0",
        "volume0": "_volume0",
        "thermostat_eta": "_thermostat._eta",
        "thermostat_p_eta": "_thermostat._p_eta",
        "barostat_xi": "_barostat._xi",
        "barostat_p_xi": "_barostat._p_xi",
    }
    state_names = tuple(_attributes)

    def __init__(self, atoms: Atoms, md: MolecularDynamics, temperature_K: float, pressure_bar: float):
        super().__init__(
            IsotropicMTKNPT(
                atoms,
                timestep=md.timestep * units.fs,
                temperature_K=temperature_K,
                pressure_au=pressure_bar * units.bar,
                tdamp=md.thermostat_damping * units.fs,
                pdamp=md.barostat_damping * units.fs,
            )
        )


class LangevinEngine(_AseEngine):
    """NVT: ASE's Langevin integrator (Vanden-Eijnden, Ciccotti, Chem. Phys. Lett. 429, 310 (2006)),
    friction 1/``thermostat_damping``, its noise drawn from a stream spawned from ``md.seed``."""

    name = "ase-langevin"
    _attributes = {"nsteps": "nsteps"}
    state_names = ("nsteps", "rng")

    def __init__(self, atoms: Atoms, md: MolecularDynamics, temperature_K: float):
        # A stream independent of the one that drew the initial velocities from the same seed.
        noise_rng = np.random.default_rng(np.random.SeedSequence(md.seed).spawn(1)[0])
        super().__init__(
            Langevin(
                atoms,
                timestep=md.timestep * units.fs,
                temperature_K=temperature_K,
                friction=1.0 / (md.thermostat_damping * units.fs),
                rng=noise_rng,
            )
        )

    def state(self) -> dict[str, np.ndarray]:
        return super().state() | {"rng": np.array(json.dumps(self._dyn.rng.bit_generator.state))}

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        super().restore(state)
        self._dyn.rng.bit_generator.state = json.loads(str(state["rng"]))


def check_conditions(md: MolecularDynamics, temperature_K: float, pressure_bar: float | None) -> None:
    """ValueError unless ``temperature_K`` is positive and finite and ``pressure_bar`` is finite for
    NPT and None for NVT."""
    if not _finite(temperature_K) or temperature_K <= 0:
        raise ValueError(f"temperature_K must be positive and finite, got {temperature_K!r}")
    if md.ensemble == "npt" and not _finite(pressure_bar):
        raise ValueError(f"pressure_bar must be finite for NPT, got {pressure_bar!r}")
    if md.ensemble == "nvt" and pressure_bar is not None:
        raise ValueError(f"pressure_bar applies to NPT only; pass None for NVT, got {pressure_bar!r}")


def _finite(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def make_engine(atoms: Atoms, md: MolecularDynamics, temperature_K: float, pressure_bar: float | None) -> MDEngine:
    """The engine of ``md.ensemble`` integrating ``atoms`` (with calculator and starting momenta)."""
    check_conditions(md, temperature_K, pressure_bar)
    if md.ensemble == "npt":
        return IsotropicMTKEngine(atoms, md, temperature_K, pressure_bar)
    return LangevinEngine(atoms, md, temperature_K)
