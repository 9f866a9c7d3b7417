"""What an MD run is: its ensemble, length, intervals and stability limits (the campaign's ``md``
section). Temperature and pressure come from the liquid; devices and threads from ``execution``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlipcamp.schema import Density, StrictModel, Time


class Stability(StrictModel):
    """Limits of the stability watch; a run that crosses one stops early and is excluded from analysis."""

    max_force: float = Field(20.0, gt=0, description="largest allowed atomic force, eV/Å")
    density_window: tuple[Density, Density] = Field((0.2, 5.0), description="allowed density range, g/cm³ (NPT)")
    max_temperature_factor: float = Field(3.0, gt=1, description="runaway when T exceeds this × the target")
    check_connectivity: bool = Field(True, description="stop when a covalent bond breaks or molecules fuse")

    @field_validator("density_window")
    @classmethod
    def _ordered(cls, window: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= window[0] < window[1]:
            raise ValueError(f"must be [low, high] with 0 <= low < high, got {list(window)}")
        return window


class MolecularDynamics(StrictModel):
    """An MD run; times in fs, steps and intervals in steps."""

    n_molecules: int = Field(ge=2, description="molecules in the production box")
    ensemble: Literal["npt", "nvt"] = Field("npt", description="npt: isotropic MTK; nvt: Langevin (study B)")
    timestep: Time = 1.0
    thermalization_steps: int = Field(
        0,
        ge=0,
        description="NPT only: Langevin NVT steps at the packing density before the barostat starts, so that "
        "the strain of a freshly packed box relaxes instead of kicking the barostat; not analysed",
    )
    equilibration_steps: int = Field(0, ge=0, description="steps before production, recorded too")
    n_steps: int = Field(gt=0, description="production steps")
    thermostat_damping: Time = Field(100.0, description="NPT thermostat time constant; NVT Langevin friction = 1/this")
    barostat_damping: Time = 1000.0
    log_interval: int = Field(10, gt=0, description="steps between log rows")
    trajectory_interval: int = Field(10, gt=0, description="steps between trajectory frames")
    checkpoint_interval: int = Field(1000, gt=0, description="steps between checkpoints (full dynamical state)")
    stability: Stability = Stability()
    seed: int = Field(0, ge=0)
    dtype: Literal["float32", "float64"] | None = Field(
        None,
        description="precision the model is evaluated in; default: the precision it was trained in "
        "(training.mace.default_dtype). float32 is faster, see docs/md.md for what it changes",
    )

    @model_validator(mode="after")
    def _thermalization_before_a_barostat(self) -> MolecularDynamics:
        if self.thermalization_steps and self.ensemble != "npt":
            raise ValueError("thermalization_steps: applies to NPT runs (an NVT run's equilibration_steps thermalize)")
        return self

    def identity(self) -> dict:
        """The settings as JSON, ``thermalization_steps`` left out when 0 and ``dtype`` when unset (runs
        from before they existed keep their keys)."""
        unset = {"thermalization_steps": not self.thermalization_steps, "dtype": self.dtype is None}
        return self.model_dump(mode="json", exclude={field for field, leave_out in unset.items() if leave_out})

    @property
    def total_steps(self) -> int:
        """Equilibration plus production steps."""
        return self.equilibration_steps + self.n_steps

    @property
    def steps_with_thermalization(self) -> int:
        """Every step a run integrates: thermalization, equilibration and production."""
        return self.thermalization_steps + self.total_steps
