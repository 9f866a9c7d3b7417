"""MACE hyperparameters (the campaign's ``training.mace``), each named as its mace-torch flag, so
the ``mace_run_train`` command line is generated from the fields and never mapped by hand."""

from __future__ import annotations

import argparse
from functools import cache
from typing import Literal

from pydantic import Field

from mlipcamp.schema import Length, StrictModel


class MaceHyperparameters(StrictModel):
    """Architecture, loss and optimiser of a MACE model; every field is a ``mace_run_train`` flag
    (``r_max`` in Å). Adding one is one field here: ``mace_arguments`` passes it on.

    The first block has this project's defaults (small CPU-trainable models). The optional block is
    what a user copies from a working ``mace_run_train`` command: None leaves mace-torch's own
    default (pinned by the mace-torch version, which is part of every model's identity), and an
    unset field is left out of the model's identity, so adding one changes no stored model.
    """

    num_channels: int = Field(16, ge=1)
    max_L: int = Field(0, ge=0, le=3)
    num_interactions: int = Field(2, ge=1)
    correlation: int = Field(2, ge=1)
    r_max: Length = 4.0
    batch_size: int = Field(8, ge=1)
    max_num_epochs: int = Field(30, ge=1)
    lr: float = Field(0.01, gt=0)
    energy_weight: float = Field(1.0, ge=0)
    forces_weight: float = Field(100.0, ge=0)
    default_dtype: Literal["float32", "float64"] = "float64"
    enable_cueq: bool = Field(False, description="cuEquivariance kernels (GPU; needs the cuequivariance packages)")
    stage_two: bool = Field(False, description="MACE's stage two from 3/4 of the epochs: energy weight 1000, lower lr")

    model: Literal["MACE", "ScaleShiftMACE"] | None = None
    hidden_irreps: str | None = Field(None, description="e.g. '64x0e + 64x1o' (overrides num_channels/max_L)")
    max_ell: int | None = Field(None, ge=0, le=3, description="highest ℓ of the spherical harmonics")
    num_radial_basis: int | None = Field(None, ge=1)
    num_cutoff_basis: int | None = Field(None, ge=1)
    radial_MLP: str | None = Field(None, description="e.g. '[64, 64, 64]'")
    MLP_irreps: str | None = Field(None, description="e.g. '16x0e'")
    interaction: str | None = None
    interaction_first: str | None = None
    gate: Literal["silu", "tanh", "abs", "None"] | None = None
    scaling: Literal["std_scaling", "rms_forces_scaling", "no_scaling"] | None = None
    loss: str | None = Field(None, description="e.g. weighted, ef, huber, universal")
    compute_stress: bool | None = Field(None, description="train on stress labels (periodic data; loss stress)")
    stress_weight: float | None = Field(None, ge=0)
    virials_weight: float | None = Field(None, ge=0)
    valid_batch_size: int | None = Field(None, ge=1)
    eval_interval: int | None = Field(None, ge=1, description="validate every n epochs")
    patience: int | None = Field(None, ge=1, description="stop after n validations without improvement")
    optimizer: Literal["adam", "adamw", "schedulefree"] | None = None
    weight_decay: float | None = Field(None, ge=0)
    scheduler: str | None = None
    scheduler_patience: int | None = Field(None, ge=0)
    lr_factor: float | None = Field(None, gt=0)
    lr_scheduler_gamma: float | None = Field(None, gt=0)
    clip_grad: float | None = Field(None, gt=0)
    ema: bool | None = None
    ema_decay: float | None = Field(None, gt=0, lt=1)
    start_stage_two: int | None = Field(None, ge=0, description="epoch stage two starts (default: 3/4 of them)")
    stage_two_lr: float | None = Field(None, gt=0)
    stage_two_energy_weight: float | None = Field(None, ge=0)
    stage_two_forces_weight: float | None = Field(None, ge=0)
    stage_two_stress_weight: float | None = Field(None, ge=0)

    def identity(self) -> dict:
        """The settings that define a model (unset optional flags left out), as JSON types."""
        return self.model_dump(mode="json", exclude_none=True)


@cache
def _mace_flags() -> dict[str, argparse.Action]:
    """mace-torch's ``run_train`` options by flag name (``--num_channels`` …)."""
    from mace.tools import build_default_arg_parser

    return dict(build_default_arg_parser()._option_string_actions)


def mace_arguments(hyper: MaceHyperparameters) -> list[str]:
    """``hyper`` as ``mace_run_train`` flags: ``--name=value`` for every set field (a switch such as
    ``--stage_two`` only when true; an optional field left None is not passed, so mace-torch's
    default holds). A field that mace-torch does not know is an error."""
    flags = _mace_flags()
    arguments = []
    for name in type(hyper).model_fields:
        value, flag = getattr(hyper, name), f"--{name}"
        if flag not in flags:
            raise ValueError(f"MACE hyperparameter {name!r} is not a mace_run_train flag")
        if value is None:
            continue
        if isinstance(flags[flag], argparse._StoreTrueAction):
            arguments += [flag] if value else []
        else:
            arguments.append(f"{flag}={value!r}" if isinstance(value, float) else f"{flag}={value}")
    return arguments
