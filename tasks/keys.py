"""Cache keys of the steps: a hash of a step's version and its inputs. A step's results are found
again by its key, so a change to what a step computes bumps its version here, and only here."""

from __future__ import annotations

from typing import Any

from mlipcamp.hashing import hash_json

STEP_VERSIONS = {
    "build": 1,
    "sample": 3,  # 3: execution settings (threads) no longer in the sampling settings
    "import": 2,  # 2: the data kind is part of how a file is read; isolated atoms are not imported
    "dataset": 3,
    "train": 4,  # 4: E0s a choice; unset optional mace-torch flags keep mace's defaults
    "simulate": 3,  # 3: the md section itself, with the liquid's temperature and pressure
    "compare": 2,  # 2: test errors once over the models; inseparable nested factors left out
}


def step_key(step: str, **inputs: Any) -> str:
    """Key of ``step`` (one of STEP_VERSIONS) run on ``inputs`` (JSON-able values)."""
    return hash_json({"step": f"{step}/{STEP_VERSIONS[step]}", **inputs})
