"""MACE training through mace-torch's own ``run_train``, in a child process (mace_runner)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np

from mlipcamp.science.datasets import ENERGY_KEY, FORCES_KEY, STRESS_KEY
from mlipcamp.science.devices import resolve_device
from mlipcamp.science.training.mace_runner import run_training
from mlipcamp.science.training.settings import MaceHyperparameters, mace_arguments

MODEL_NAME = "mace"  # run_train --name: the model lands at <work_dir>/mace.model
LOG_NAME = "train.log"  # stdout + stderr of the training process, in work_dir
_LOG_TAIL_LINES = 30
_NON_FINITE = re.compile(r"=\s*[-+]?(nan|inf)\b", re.IGNORECASE)  # e.g. "loss=     nan" in epoch lines
# "2026-11-21 09:15:35.649 INFO: Epoch 0: head: Default, loss=7.26589808, RMSE_E_per_atom= ..."
_EPOCH_LINE = re.compile(r"^(\S+ \S+) INFO: Epoch (\d+): .*?loss=\s*([^,\s]+)")
_START_LINE = re.compile(r"^(\S+ \S+) INFO: Started training")
_STAGE_TWO_LINE = "Changing loss based on Stage Two Weights"  # MACE switches to the stage-two loss here
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
EXPLOSION_FACTOR = 1000.0  # a validation loss this many times above the best before it is a diverged run
STATS_NAME = "stats.json"  # peak memory written by mace_runner, in work_dir


class TrainingError(RuntimeError):
    """A MACE training run failed; the message says why."""


@dataclass
class TrainResult:
    """Where a trained model and its log lie, and how it was made.

    Times in s, E0s in eV, memory in MiB: ``peak_memory_mb`` is the training process's peak
    resident memory on CPU and torch's peak allocated CUDA memory on a GPU.
    """

    model_path: Path
    log_path: Path
    train_time_s: float
    seconds_per_epoch: float | None
    epochs: int
    peak_memory_mb: float | None
    device: str
    e0s: dict[int, float]
    mace_version: str


@dataclass(frozen=True)
class EpochRecord:
    """One validation line of a MACE log: epoch number, wall-clock time, validation loss, loss stage (1 or 2)."""

    epoch: int
    time: datetime
    valid_loss: float
    stage: int = 1


def read_epochs(log_lines: Sequence[str]) -> tuple[datetime | None, list[EpochRecord]]:
    """Start of training and the per-epoch validation records in a MACE ``run_train`` log."""
    start, records, stage = None, [], 1
    for line in log_lines:
        if match := _START_LINE.match(line):
            start = datetime.strptime(match.group(1), _TIME_FORMAT)
        elif _STAGE_TWO_LINE in line:
            stage = 2
        elif match := _EPOCH_LINE.match(line):
            time_, epoch, loss = match.groups()
            records.append(EpochRecord(int(epoch), datetime.strptime(time_, _TIME_FORMAT), float(loss), stage))
    return start, records


def divergence(records: Sequence[EpochRecord]) -> str | None:
    """Why a training diverged (a non-finite validation loss, or one EXPLOSION_FACTOR times the best
    before it in the same loss stage), or None."""
    best = None
    for record in records:
        if not np.isfinite(record.valid_loss):
            return f"validation loss {record.valid_loss} at epoch {record.epoch}"
        if best is not None and best.stage != record.stage:
            best = None  # stage two weighs the loss differently: compare within a stage
        if best is not None and record.valid_loss > EXPLOSION_FACTOR * best.valid_loss:
            return (
                f"validation loss exploded from {best.valid_loss:.4g} (epoch {best.epoch}) to "
                f"{record.valid_loss:.4g} (epoch {record.epoch})"
            )
        if best is None or record.valid_loss < best.valid_loss:
            best = record
    return None


def seconds_per_epoch(start: datetime | None, records: Sequence[EpochRecord]) -> float | None:
    """Mean wall time (s) of an epoch, training and validation included, from a MACE log."""
    if start is None or not records:
        return None
    return (records[-1].time - start).total_seconds() / len(records)


def fit_e0s(numbers: Sequence[np.ndarray], energies_eV: Sequence[float]) -> dict[int, float]:
    """Per-element reference energies (eV) fitted by least squares to total energies (eV).

    Solves counts @ E0 = E for the element counts of each structure; when compositions do not fix
    every element (e.g. clusters of a single molecule type) the minimum-norm solution is returned.
    """
    if len(numbers) != len(energies_eV) or len(numbers) == 0:
        raise ValueError(f"need equally many (>0) compositions and energies, got {len(numbers)} and {len(energies_eV)}")
    elements = sorted({int(z) for zs in numbers for z in zs})
    counts = np.array([[np.count_nonzero(np.asarray(zs) == z) for z in elements] for zs in numbers], dtype=float)
    e0, *_ = np.linalg.lstsq(counts, np.asarray(energies_eV, dtype=float), rcond=None)
    return {z: float(e) for z, e in zip(elements, e0, strict=True)}


def training_environment(environ: Mapping[str, str], n_threads: int) -> dict[str, str]:
    """Environment of the training process: ``environ`` with OMP/MKL threads set to ``n_threads``
    and without MALLOC_TRIM_THRESHOLD_. Dask workers set that to 64 KiB, and any explicit value
    turns off glibc's adaptive mmap threshold, so torch's tensors are mmapped and unmapped on every
    allocation: training took 4.27 instead of 1.84 s/epoch (study B, 16 channels, CPU)."""
    env = {key: value for key, value in environ.items() if key != "MALLOC_TRIM_THRESHOLD_"}
    return env | {"OMP_NUM_THREADS": str(n_threads), "MKL_NUM_THREADS": str(n_threads)}


def train_mace(
    train_xyz: Path,
    valid_xyz: Path,
    settings: MaceHyperparameters,
    seed: int,
    e0s: dict[int, float],
    work_dir: Path,
    device: str = "auto",
    n_threads: int = 1,
    base_model: Path | None = None,
) -> TrainResult:
    """Train a MACE model with mace-torch's ``run_train`` in a child process and return its ``.model`` file.

    With ``base_model`` (a local MACE ``.model`` file) the run fine-tunes it: its architecture and
    cutoff replace those of ``settings``, and multi-head replay is off (its data would be downloaded).

    E0s are in eV per element. The child (mace_runner.run_training) runs in ``work_dir`` with OMP/MKL threads set to
    ``n_threads`` (torch takes its thread count from them); its stdout and stderr go to
    ``work_dir/train.log``. MACE's checkpoints from an earlier run in ``work_dir`` are removed first,
    because MACE would otherwise reload the latest of them as the final model. The saved model is
    the checkpoint with the lowest validation loss, stored for CPU loading. Raises TrainingError on
    a non-zero exit, a NaN/inf in the log, or a missing model file.
    """
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    if not e0s or not np.isfinite(list(e0s.values())).all():
        raise ValueError(f"e0s must give a finite reference energy (eV) for every element, got {e0s}")
    device = resolve_device(device)
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoints_dir = work_dir / "checkpoints"
    shutil.rmtree(checkpoints_dir, ignore_errors=True)
    for stale in work_dir.glob(f"{MODEL_NAME}*.model"):
        stale.unlink()
    model_path = work_dir / f"{MODEL_NAME}{'_stagetwo' if settings.stage_two else ''}.model"  # stage two saves its own
    e0s_arg = "{" + ", ".join(f"{int(z)}: {float(e)!r}" for z, e in sorted(e0s.items())) + "}"
    if base_model is not None and not Path(base_model).is_file():
        raise ValueError(f"base model {base_model} not found")
    if settings.enable_cueq and importlib.util.find_spec("cuequivariance_torch") is None:
        raise TrainingError("enable_cueq needs cuEquivariance: pip install 'mlipcamp[cueq]' on a CUDA machine")
    stats_path = work_dir / STATS_NAME
    stats_path.unlink(missing_ok=True)
    arguments = [
        f"--name={MODEL_NAME}",
        f"--train_file={Path(train_xyz).resolve()}",
        f"--valid_file={Path(valid_xyz).resolve()}",
        f"--E0s={e0s_arg}",
        *mace_arguments(settings),
        f"--seed={seed}",
        f"--device={device}",
        f"--energy_key={ENERGY_KEY}",
        f"--forces_key={FORCES_KEY}",
        f"--stress_key={STRESS_KEY}",
        f"--work_dir={work_dir}",
        f"--checkpoints_dir={checkpoints_dir}",
        "--plot=False",
        "--save_cpu",
    ]
    if base_model is not None:
        arguments += [f"--foundation_model={Path(base_model).resolve()}", "--multiheads_finetuning=False"]
    log_path = work_dir / LOG_NAME
    log_path.write_text("mace_run_train " + " ".join(arguments) + "\n")
    start = time.perf_counter()
    returncode = run_training(
        arguments, work_dir, log_path, stats_path, training_environment(os.environ, n_threads), device
    )
    train_time_s = time.perf_counter() - start
    lines = log_path.read_text(errors="replace").splitlines()[1:]
    tail = "\n".join(lines[-_LOG_TAIL_LINES:])
    if returncode < 0:
        raise TrainingError(f"mace run_train was stopped by {signal.Signals(-returncode).name} (log {log_path})")
    if returncode != 0:
        raise TrainingError(f"mace run_train exited with code {returncode} (log {log_path}):\n{tail}")
    non_finite = [line for line in lines if _NON_FINITE.search(line)]
    if non_finite:
        first = "\n".join(non_finite[:5])
        raise TrainingError(f"training diverged, non-finite values in the log {log_path}:\n{first}")
    start, records = read_epochs(lines)
    if reason := divergence(records):
        raise TrainingError(f"training diverged: {reason} (log {log_path})")
    if not model_path.is_file():
        raise TrainingError(f"mace run_train finished but wrote no model at {model_path}:\n{tail}")
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    return TrainResult(
        model_path=model_path,
        log_path=log_path,
        train_time_s=train_time_s,
        seconds_per_epoch=seconds_per_epoch(start, records),
        epochs=len(records),
        peak_memory_mb=stats.get("peak_cuda_mb") if device == "cuda" else stats.get("peak_rss_mb"),
        device=device,
        e0s={int(z): float(e) for z, e in e0s.items()},
        mace_version=version("mace-torch"),
    )
