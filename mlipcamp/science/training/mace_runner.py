"""mace-torch's ``run_train`` in a child process, on the CPU forked from a server that imported it once.

Importing ``mace.cli.run_train`` takes 6–12 s on a CPU (torch, e3nn, torch._dynamo, scipy); the
training of a small model takes less. The process-wide fork server of ``multiprocessing`` (the
``forkserver`` start method) imports it once, when the first training asks (``start_server``);
each training is a child forked from it that runs ``run_train`` and exits. The server is
single-threaded and never runs a torch operation or touches CUDA, so its children start clean.
It exits when the process that started it does (multiprocessing's own rule), and a training is
killed when its server ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from mlipcamp.processes import tie_to_parent

TRAINING_PROCESS_NAME = "mlipcamp-train"  # what ps and top show for a training (at most 15 characters)
PRELOADED = ("mlipcamp.science.training.mace_preload", "mlipcamp.science.training.mace_runner")
PR_SET_NAME = 15  # linux/prctl.h

_lock = threading.Lock()


def start_server() -> None:
    """Start this process's fork server, importing mace-torch in it, unless it runs already.

    Without ``MALLOC_TRIM_THRESHOLD_`` in its environment: an explicit value turns off glibc's
    adaptive mmap threshold for good, and training then runs 2.3× slower (see
    ``training_environment`` in mace.py)."""
    with _lock:
        multiprocessing.forkserver.set_forkserver_preload(list(PRELOADED))
        trim = os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        try:
            multiprocessing.forkserver.ensure_running()
        finally:
            if trim is not None:
                os.environ["MALLOC_TRIM_THRESHOLD_"] = trim


def run_training(
    arguments: Sequence[str],
    work_dir: Path,
    log_path: Path,
    stats_path: Path,
    environment: Mapping[str, str],
    device: str = "cpu",
) -> int:
    """Run ``mace_run_train ARGUMENTS`` in ``work_dir`` in a child process; return its exit status.

    On the CPU the child is forked from the fork server, and dies with it. For a GPU it is a new
    interpreter (multiprocessing's ``spawn``) that dies with the calling thread: CUDA in a process
    forked from one that imported torch is not to be trusted, and a GPU training is long enough
    for the imports not to matter. The child appends its stdout and stderr to ``log_path``, takes
    ``environment`` as its own (torch's threads from its OMP_NUM_THREADS) and writes its peak
    memory to ``stats_path``: JSON with ``peak_rss_mb`` (MiB) and ``peak_cuda_mb`` (MiB of CUDA
    memory torch allocated; null without a GPU)."""
    if device == "cpu":
        start_server()
    child = multiprocessing.get_context("forkserver" if device == "cpu" else "spawn").Process(
        target=_train,
        args=(list(arguments), str(work_dir), str(log_path), str(stats_path), dict(environment)),
        name=TRAINING_PROCESS_NAME,
        daemon=True,  # ended when this process exits normally
    )
    with _lock, _children_allowed():
        child.start()
    child.join()
    return child.exitcode


@contextlib.contextmanager
def _children_allowed() -> Iterator[None]:
    """Let this process start a child even if it is a daemonic process, as Dask's workers are:
    multiprocessing refuses daemonic processes children lest they outlive them, and ours die with
    their server, which dies with this process."""
    config = multiprocessing.current_process()._config
    daemon = config.pop("daemon", None)
    try:
        yield
    finally:
        if daemon is not None:
            config["daemon"] = daemon


def _train(arguments: list[str], work_dir: str, log_path: str, stats_path: str, environment: dict[str, str]) -> None:
    """In the forked child: name it, tie it to the server, send its output to the log, train."""
    _name_and_tie_to_parent()
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for stream in (1, 2):
        os.dup2(log, stream)
    os.close(log)
    os.chdir(work_dir)
    os.environ.clear()
    os.environ.update(environment)
    # as in a new interpreter: a terminal's Ctrl-C ends the training at once, without a traceback,
    # and the locks a library makes with multiprocessing are not registered with the worker's
    # resource tracker, which would warn about them when the training is killed
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    multiprocessing.set_start_method("fork", force=True)

    import torch
    from mace.cli import run_train

    torch.set_num_threads(int(environment.get("OMP_NUM_THREADS", "1")))
    run_train.jit = _NoTorchScript  # see _NoTorchScript
    sys.argv = ["mace_run_train", *arguments]
    run_train.main()
    stats = {
        "peak_rss_mb": peak_rss_mb(),
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
    }
    Path(stats_path).write_text(json.dumps(stats))


class _NoTorchScript:
    """Stands in for e3nn's ``jit`` in run_train: mace-torch also saves TorchScript copies of the
    model (``*_compiled.model``, for LAMMPS) that mlipcamp never reads, at 1–1.5 s each; run_train
    skips them when compiling raises."""

    @staticmethod
    def compile(*args: object, **kwargs: object) -> None:
        raise NotImplementedError("mlipcamp keeps no TorchScript copy")


def _name_and_tie_to_parent() -> None:
    """Name this process TRAINING_PROCESS_NAME and have it killed when its parent ends. A child of
    the fork server also lets go of the pipe whose closing tells the server that the process that
    started it has ended: holding it, the child would keep the server, and so itself, alive."""
    if (alive := multiprocessing.forkserver._forkserver._forkserver_alive_fd) is not None:
        os.close(alive)
    tie_to_parent()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, TRAINING_PROCESS_NAME.encode(), 0, 0, 0)


def peak_rss_mb() -> float:
    """Peak resident memory (MiB) of this process since its program started.

    Linux: ``VmHWM`` of /proc/self/status. Not getrusage's ``ru_maxrss``, which keeps the peak of
    the address space left at exec: a process started by a large parent (a Dask worker) would
    report the parent's resident memory when that is higher. Elsewhere: ``ru_maxrss`` (bytes on
    macOS).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
