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
    (``r_max`` in Å). Adding one is one field here: ``mace_arguments`` passes it on."""

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


@cache
def _mace_flags() -> dict[str, argparse.Action]:
    """mace-torch's ``run_train`` options by flag name (``--num_channels`` …)."""
    from mace.tools import build_default_arg_parser

    return dict(build_default_arg_parser()._option_string_actions)


def mace_arguments(hyper: MaceHyperparameters) -> list[str]:
    """``hyper`` as ``mace_run_train`` flags: ``--name=value`` for every field (a switch such as
    ``--stage_two`` only when true), then the MACE model class and a validation batch as large as
    the training batch. A field that mace-torch does not know is an error."""
    flags = _mace_flags()
    arguments = []
    for name in type(hyper).model_fields:
        value, flag = getattr(hyper, name), f"--{name}"
        if flag not in flags:
            raise ValueError(f"MACE hyperparameter {name!r} is not a mace_run_train flag")
        if isinstance(flags[flag], argparse._StoreTrueAction):
            arguments += [flag] if value else []
        else:
            arguments.append(f"{flag}={value!r}" if isinstance(value, float) else f"{flag}={value}")
    return [*arguments, "--model=MACE", f"--valid_batch_size={hyper.batch_size}"]
