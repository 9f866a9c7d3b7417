"""Production MD that survives job limits and crashes.

``run_md`` advances a box with the engine of ``make_engine`` and writes, in ``out_dir``, the log,
the frames and ``trajectory.npz`` (``files``) and every ``checkpoint_interval`` steps a checkpoint
(``checkpoint``). A second call with the same arguments truncates the files to the lengths the
checkpoint recorded and resumes, reproducing the uninterrupted run bit for bit (for a
deterministic calculator). At every log step the stability watch (``stability``) checks the
state; the first failure ends the run early with ``stopped_reason`` set instead of raising.
An NPT run with ``thermalization_steps`` first runs that many Langevin NVT steps at the packing
density, resumable in the same way in ``out_dir/thermalization``, and starts from where they end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from mlipcamp.science.md.checkpoint import (
    CHECKPOINT_NAME,
    fingerprint,
    load_checkpoint,
    restore_engine,
    save_checkpoint,
)
from mlipcamp.science.md.engine import MDEngine, check_conditions, make_engine
from mlipcamp.science.md.files import TRAJ_NAME, Recorder
from mlipcamp.science.md.settings import MolecularDynamics
from mlipcamp.science.md.stability import StabilityWatch

THERMALIZATION_DIR = "thermalization"  # the NVT stage's own files and checkpoint, inside the run's directory


@dataclass
class MDRunResult:
    """Outcome of ``run_md``. Steps count from the start of equilibration; wall time (s) and
    speed cover the steps run in this call only (NaN when it ran none)."""

    n_steps_done: int
    production_start_step: int
    wall_time_s: float
    steps_per_s: float
    ns_per_day: float
    resumed_from_step: int
    stopped_reason: str | None
    stopped_step: int | None
    log_path: Path
    traj_path: Path
    checkpoint_path: Path


def run_md(
    atoms: Atoms,
    calculator,
    md: MolecularDynamics,
    temperature_K: float,
    pressure_bar: float | None,
    out_dir: Path,
    progress: Callable[[int, int], None] | None = None,
) -> MDRunResult:
    """Run (or resume) MD of ``atoms`` (periodic, with ``arrays['mol_id']``; copied, not modified)
    at ``temperature_K`` and, for NPT, ``pressure_bar`` (None for NVT).

    A fresh run draws Maxwell–Boltzmann velocities with ``md.seed``; a run whose ``out_dir`` holds
    a checkpoint continues from it (refusing one written with other settings, conditions or
    starting structure) and a finished one returns at once. ``progress(done, total)`` is called
    after every chunk of steps.
    """
    check_conditions(md, temperature_K, pressure_bar)
    if not atoms.pbc.all():
        raise ValueError("run_md needs a fully periodic box (atoms.pbc all True)")
    if "mol_id" not in atoms.arrays:
        raise ValueError("run_md needs atoms.arrays['mol_id'] (molecule index of every atom)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if md.thermalization_steps:
        thermalized = _thermalize(atoms, calculator, md, temperature_K, out_dir / THERMALIZATION_DIR, progress)
        if isinstance(thermalized, MDRunResult):  # stopped by the stability watch
            return thermalized
        atoms, offset = thermalized, md.thermalization_steps
        progress = (lambda done, total: outer(offset + done, offset + total)) if (outer := progress) else None
    traj_path, checkpoint_path = out_dir / TRAJ_NAME, out_dir / CHECKPOINT_NAME
    prints = fingerprint(md, temperature_K, pressure_bar, atoms)
    checkpoint = load_checkpoint(checkpoint_path, prints) if checkpoint_path.exists() else None

    md_atoms = atoms.copy()
    md_atoms.calc = calculator
    if checkpoint is None:
        first_step, stopped = 0, None
        # Engines take the momenta at construction: set them first.
        thermalize_momenta(md_atoms, temperature_K, rng=np.random.default_rng(md.seed))
        Stationary(md_atoms)
    else:
        first_step, stopped = checkpoint.step, checkpoint.stopped
        md_atoms.set_positions(checkpoint.positions)
        md_atoms.set_momenta(checkpoint.momenta)
        md_atoms.set_cell(checkpoint.cell)
    engine = None
    if stopped is None and first_step < md.total_steps:
        engine = make_engine(md_atoms, md, temperature_K, pressure_bar)
        if checkpoint is not None:
            restore_engine(engine, checkpoint, checkpoint_path)

    step, wall = first_step, 0.0
    resume = (checkpoint.log_bytes, checkpoint.n_frames) if checkpoint is not None else None
    with Recorder(md_atoms, md, out_dir, resume) as recorder:
        if engine is not None:
            watch = StabilityWatch(md.stability, temperature_K, check_density=md.ensemble == "npt", start=atoms)
            start = time.perf_counter()
            step, stopped = _advance(engine, md, recorder, watch, checkpoint_path, prints, first_step, progress)
            wall = time.perf_counter() - start
        recorder.save_trajectory(traj_path)

    steps_per_s = (step - first_step) / wall if step > first_step else float("nan")
    return MDRunResult(
        n_steps_done=step,
        production_start_step=md.equilibration_steps,
        wall_time_s=wall,
        steps_per_s=steps_per_s,
        ns_per_day=steps_per_s * md.timestep * 1e-6 * 86400.0,
        resumed_from_step=first_step,
        stopped_reason=stopped[0] if stopped else None,
        stopped_step=stopped[1] if stopped else None,
        log_path=recorder.log_path,
        traj_path=traj_path,
        checkpoint_path=checkpoint_path,
    )


def _thermalize(
    atoms: Atoms,
    calculator,
    md: MolecularDynamics,
    temperature_K: float,
    out_dir: Path,
    progress: Callable[[int, int], None] | None,
) -> Atoms | MDRunResult:
    """Run (or resume) the Langevin NVT stage of ``md.thermalization_steps`` in ``out_dir``; the box
    it ends with (``atoms`` with new positions), or its result if the stability watch stopped it."""
    stage = md.model_copy(
        update={
            "ensemble": "nvt",
            "thermalization_steps": 0,
            "equilibration_steps": 0,
            "n_steps": md.thermalization_steps,
        }
    )
    total = md.thermalization_steps + md.total_steps
    result = run_md(
        atoms, calculator, stage, temperature_K, None, out_dir, progress and (lambda d, _: progress(d, total))
    )
    if result.stopped_reason is not None:
        return result
    final = load_checkpoint(result.checkpoint_path, fingerprint(stage, temperature_K, None, atoms))
    thermalized = atoms.copy()
    thermalized.set_positions(final.positions)
    return thermalized


def _advance(
    engine: MDEngine,
    md: MolecularDynamics,
    recorder: Recorder,
    watch: StabilityWatch,
    checkpoint_path: Path,
    prints: Mapping[str, str],
    step: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[int, tuple[str, int] | None]:
    """Integrate from ``step`` to the end or the first stability failure, recording and
    checkpointing on the way; the last step reached and the failure (reason, step) if any."""

    def record(step: int) -> str | None:
        observables = recorder.record(step)
        return watch.problem(engine.atoms, observables) if observables is not None else None

    total = md.total_steps
    problem = record(step) if step == 0 else None
    while problem is None and step < total:
        intervals = (md.log_interval, md.trajectory_interval, md.checkpoint_interval)
        stop = min(total, *((step // n + 1) * n for n in intervals))
        engine.step(stop - step)
        step = stop
        problem = record(step)
        if problem is None and step < total and step % md.checkpoint_interval == 0:
            save_checkpoint(checkpoint_path, step, engine, prints, recorder.sync(), None)
        if progress is not None:
            progress(step, total)
    stopped = (problem, step) if problem else None
    save_checkpoint(checkpoint_path, step, engine, prints, recorder.sync(), stopped)
    return step, stopped
