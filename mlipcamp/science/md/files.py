"""The files of an MD run in its directory, and how they are written and read.

- ``md_log.csv``: the observables of ``LOG_COLUMNS`` every ``log_interval`` steps, appended;
- ``frames.bin``: a ``frame_dtype`` record every ``trajectory_interval`` steps (step, cell, float32
  positions as the engine has them, not wrapped into the box), appended;
- ``trajectory.npz``: all frames plus masses, atomic numbers, ``mol_id`` and
  ``production_start_step``, assembled at the end of a call (``read_trajectory``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
from ase import Atoms, units

from mlipcamp.science.md.settings import MolecularDynamics

LOG_NAME = "md_log.csv"
FRAMES_NAME = "frames.bin"
TRAJ_NAME = "trajectory.npz"
LOG_COLUMNS = (
    "step",
    "time_ps",
    "temperature_K",
    "pressure_bar",
    "volume_ang3",
    "density_g_cm3",
    "epot_eV",
    "etot_eV",
)
AMU_PER_ANG3_TO_G_PER_CM3 = units._amu * 1e3 / 1e-24  # amu/Å³ → g/cm³ (≈ 1.66054)


def frame_dtype(n_atoms: int) -> np.dtype:
    """One record of ``frames.bin``: step, cell (Å, float64) and positions (Å, float32)."""
    return np.dtype([("step", "<i8"), ("cell", "<f8", (3, 3)), ("positions", "<f4", (n_atoms, 3))])


class Recorder:
    """Appends log rows and frames of ``atoms`` to ``md_log.csv`` and ``frames.bin`` in ``out_dir``.
    A context manager: on entry it starts the files afresh, or (``resume``: the log's bytes and the
    number of frames a checkpoint recorded) truncates them to those lengths; on exit it closes them."""

    def __init__(self, atoms: Atoms, md: MolecularDynamics, out_dir: Path, resume: tuple[int, int] | None = None):
        self.atoms, self.md, self.resume = atoms, md, resume
        self.log_path, self.frames_path = out_dir / LOG_NAME, out_dir / FRAMES_NAME
        self.total_mass = float(atoms.get_masses().sum())
        self.frame_dtype = frame_dtype(len(atoms))

    def __enter__(self) -> Recorder:
        if self.resume is None:
            write_atomically(self.log_path, lambda f: f.write((",".join(LOG_COLUMNS) + "\n").encode()))
            write_atomically(self.frames_path, lambda f: None)
        else:
            log_bytes, n_frames = self.resume
            _truncate(self.log_path, log_bytes)
            _truncate(self.frames_path, n_frames * self.frame_dtype.itemsize)
        self.log_file = self.log_path.open("ab")
        self.frames_file = self.frames_path.open("ab")
        return self

    def __exit__(self, *exc_info) -> None:
        self.log_file.close()
        self.frames_file.close()

    def record(self, step: int) -> dict[str, float] | None:
        """Log and/or store a frame if ``step`` falls on the respective interval; the logged
        observables (LOG_COLUMNS but ``step``), or None if ``step`` is not a log step."""
        observables = None
        if step % self.md.log_interval == 0:
            row = self._observables(step)
            self.log_file.write((f"{step}," + ",".join(f"{v:.10g}" for v in row) + "\n").encode())
            self.log_file.flush()
            observables = dict(zip(LOG_COLUMNS[1:], row.tolist(), strict=True))
        if step % self.md.trajectory_interval == 0:
            frame = np.zeros((), dtype=self.frame_dtype)
            frame["step"], frame["cell"], frame["positions"] = step, self.atoms.cell[:], self.atoms.get_positions()
            self.frames_file.write(frame.tobytes())
        return observables

    def sync(self) -> tuple[int, int]:
        """Flush both files to disk; the log's length in bytes and the number of frames."""
        for f in (self.log_file, self.frames_file):
            f.flush()
            os.fsync(f.fileno())
        return self.log_file.tell(), self.frames_file.tell() // self.frame_dtype.itemsize

    def _observables(self, step: int) -> np.ndarray:
        """The LOG_COLUMNS after ``step`` but ``step``: ps, K, bar, Å³, g/cm³, eV, eV."""
        atoms = self.atoms
        epot = atoms.get_potential_energy()
        stress = atoms.get_stress(voigt=False, include_ideal_gas=True)  # eV/Å³
        volume = atoms.get_volume()
        return np.array(
            [
                step * self.md.timestep / 1000.0,
                atoms.get_temperature(),
                -np.trace(stress) / 3.0 / units.bar,
                volume,
                self.total_mass / volume * AMU_PER_ANG3_TO_G_PER_CM3,
                epot,
                epot + atoms.get_kinetic_energy(),
            ]
        )

    def save_trajectory(self, path: Path) -> None:
        """Write all frames so far, with the per-atom arrays, to ``path`` (.npz), atomically."""
        self.frames_file.flush()
        frames = np.fromfile(self.frames_path, dtype=self.frame_dtype)
        arrays = {
            "positions": frames["positions"],
            "cells": frames["cell"],
            "steps": frames["step"],
            "time_ps": frames["step"] * self.md.timestep / 1000.0,
            "masses": self.atoms.get_masses(),
            "numbers": self.atoms.numbers.copy(),
            "mol_id": np.asarray(self.atoms.arrays["mol_id"]),
            "production_start_step": np.int64(self.md.equilibration_steps),
        }
        write_atomically(path, lambda f: np.savez(f, **arrays))


def _truncate(path: Path, length: int) -> None:
    """Cut ``path`` back to ``length`` bytes (what a checkpoint recorded); ValueError if it is shorter."""
    size = path.stat().st_size if path.exists() else -1
    if size < length:
        raise ValueError(
            f"{path} holds {max(size, 0)} bytes, fewer than the {length} its checkpoint recorded; "
            "delete the directory to start the run afresh"
        )
    os.truncate(path, length)


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` through a temporary file in its directory, fsynced, then renamed over it:
    readers see the old or the new file, never a partial one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_md_log(path: Path) -> dict[str, np.ndarray]:
    """Columns of an ``md_log.csv`` by name (``step`` as int64, the rest float64)."""
    with Path(path).open() as f:
        names = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    columns = {name: data[:, i] for i, name in enumerate(names)}
    columns["step"] = columns["step"].astype(np.int64)
    return columns


def read_trajectory(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a ``trajectory.npz``: positions (n_frames, n_atoms, 3) Å, cells (n_frames, 3, 3) Å,
    steps, time_ps, masses (amu), numbers, mol_id, production_start_step (scalar)."""
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}
