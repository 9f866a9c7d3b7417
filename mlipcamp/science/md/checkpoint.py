"""``checkpoint.npz``: the full dynamical state of a run after a step, written atomically.

It holds the step, the atoms' positions, momenta and cell, the engine's name and declared state
(``engine.<name>`` arrays, handed back through ``MDEngine.restore``), the lengths of the log and
the frames at that step, the stability failure that ended the run if any, and a fingerprint of
the settings and the starting structure: a checkpoint of anything else is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from pydantic import BaseModel

from mlipcamp.science.md.engine import MDEngine
from mlipcamp.science.md.files import write_atomically
from mlipcamp.science.md.settings import MolecularDynamics

CHECKPOINT_NAME = "checkpoint.npz"
ENGINE_PREFIX = "engine."
# The arrays of every checkpoint besides the engine's ``engine.<name>`` ones.
RUN_ARRAYS = frozenset(
    {
        "step",
        "positions",
        "momenta",
        "cell",
        "stopped_reason",
        "stopped_step",
        "settings",
        "structure",
        "engine",
        "log_bytes",
        "n_frames",
    }
)


@dataclass(frozen=True)
class Checkpoint:
    step: int
    positions: np.ndarray
    momenta: np.ndarray
    cell: np.ndarray
    engine: str
    engine_state: dict[str, np.ndarray]
    log_bytes: int
    n_frames: int
    stopped: tuple[str, int] | None  # (reason, step) of the stability failure that ended the run


def fingerprint(
    md: MolecularDynamics, temperature_K: float, pressure_bar: float | None, start: Atoms
) -> dict[str, str]:
    """What a checkpoint must have been written for: every md setting (exact values, stability
    limits as ``stability.<name>``), temperature and pressure (JSON), and the starting structure
    (SHA-256 of numbers, positions, cell, masses, mol_id)."""
    settings = _fields(md) | {
        "temperature_K": float(temperature_K),
        "pressure_bar": None if pressure_bar is None else float(pressure_bar),
    }
    digest = hashlib.sha256()
    for array in (start.numbers, start.positions, start.cell[:], start.get_masses(), start.arrays["mol_id"]):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return {"settings": json.dumps(settings, sort_keys=True), "structure": digest.hexdigest()}


def _fields(model: BaseModel, prefix: str = "") -> dict[str, object]:
    """The field values of ``model`` by dotted name, nested models flattened; unlike ``model_dump``
    not rounded by the unit serialisers."""
    fields: dict[str, object] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            fields |= _fields(value, f"{prefix}{name}.")
        else:
            fields[prefix + name] = list(value) if isinstance(value, tuple) else value
    return fields


def save_checkpoint(
    path: Path,
    step: int,
    engine: MDEngine,
    fingerprint: Mapping[str, str],
    files: tuple[int, int],
    stopped: tuple[str, int] | None,
) -> None:
    """Write the state of ``engine`` after ``step``, the files' lengths (log bytes, frames) and the
    stability failure, if any, atomically to ``path``."""
    state = engine.state()
    if set(state) != set(engine.state_names):
        raise RuntimeError(
            f"engine {engine.name} returned state {sorted(state)}, not its declared {list(engine.state_names)}"
        )
    atoms = engine.atoms
    arrays = {
        "step": np.int64(step),
        "positions": atoms.get_positions(),
        "momenta": atoms.get_momenta(),
        "cell": np.array(atoms.cell[:]),
        "engine": np.array(engine.name),
        "log_bytes": np.int64(files[0]),
        "n_frames": np.int64(files[1]),
        "stopped_reason": np.array(stopped[0] if stopped else ""),
        "stopped_step": np.int64(stopped[1] if stopped else -1),
        **{key: np.array(value) for key, value in fingerprint.items()},
        **{ENGINE_PREFIX + name: np.asarray(value) for name, value in state.items()},
    }
    write_atomically(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path: Path, fingerprint: Mapping[str, str]) -> Checkpoint:
    """The checkpoint at ``path``; ValueError if it belongs to other settings or another starting
    structure, or was written by an older mlipcamp."""
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    if not {"log_bytes", "engine"} <= arrays.keys():
        raise ValueError(
            f"{path} was written by an older mlipcamp (frames or integrator variables in another form); "
            "delete its directory to start the run afresh"
        )
    saved, wanted = json.loads(str(arrays["settings"])), json.loads(fingerprint["settings"])
    if saved != wanted:
        diff = ", ".join(
            f"{k}: {saved.get(k)!r} → {wanted.get(k)!r}"
            for k in sorted(saved.keys() | wanted.keys())
            if saved.get(k) != wanted.get(k)
        )
        raise ValueError(f"{path} was written with different settings ({diff}); delete it or use another out_dir")
    if str(arrays["structure"]) != fingerprint["structure"]:
        raise ValueError(f"{path} was written for a different starting structure; delete it or use another out_dir")
    reason = str(arrays["stopped_reason"])
    return Checkpoint(
        step=int(arrays["step"]),
        positions=arrays["positions"],
        momenta=arrays["momenta"],
        cell=arrays["cell"],
        engine=str(arrays["engine"]),
        engine_state={k.removeprefix(ENGINE_PREFIX): v for k, v in arrays.items() if k.startswith(ENGINE_PREFIX)},
        log_bytes=int(arrays["log_bytes"]),
        n_frames=int(arrays["n_frames"]),
        stopped=(reason, int(arrays["stopped_step"])) if reason else None,
    )


def restore_engine(engine: MDEngine, checkpoint: Checkpoint, path: Path) -> None:
    """Hand the engine state of ``checkpoint`` (read from ``path``) to ``engine``; ValueError if
    another engine wrote it or its state names differ from the declared ones."""
    if checkpoint.engine != engine.name:
        raise ValueError(
            f"{path} was written by the MD engine {checkpoint.engine!r}, not {engine.name!r}; "
            "delete it or use another out_dir"
        )
    if set(checkpoint.engine_state) != set(engine.state_names):
        raise ValueError(
            f"{path} holds engine state {sorted(checkpoint.engine_state)}, but {engine.name} declares "
            f"{sorted(engine.state_names)}; delete it or use another out_dir"
        )
    engine.restore(checkpoint.engine_state)
