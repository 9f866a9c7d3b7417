"""Content hashes that key every step of a campaign (sha256, hex)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

POSITION_DECIMALS = 6  # Å; positions are rounded to 1e-6 Å before hashing


def hash_json(obj: Any) -> str:
    """sha256 of the canonical JSON form of ``obj`` (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def hash_atoms(atoms: Atoms) -> str:
    """sha256 of a structure's content: atomic numbers, positions (Å, rounded), cell, pbc."""
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    positions = np.round(np.asarray(atoms.positions, dtype=np.float64), POSITION_DECIMALS) + 0.0
    h.update(positions.tobytes())
    h.update((np.round(np.asarray(atoms.cell[:], dtype=np.float64), POSITION_DECIMALS) + 0.0).tobytes())
    h.update(np.asarray(atoms.pbc, dtype=np.bool_).tobytes())
    return h.hexdigest()


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot hash object of type {type(obj).__name__}")
