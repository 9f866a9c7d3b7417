"""Processes of a run: children that die with their parent, and signals that stop the run cleanly."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import psutil

PR_SET_PDEATHSIG = 1  # linux/prctl.h
GRACE_S = 10.0  # an interrupted run that has not unwound by then is stopped hard

_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess`` that makes the child ``tie_to_parent``; None off Linux."""
    if _prctl is None:
        return None
    parent = os.getpid()
    return lambda: tie_to_parent(parent)


def tie_to_parent(parent: int | None = None) -> None:
    """Have this process killed (SIGKILL) when the thread that started it ends (Linux
    ``PR_SET_PDEATHSIG``), and exit at once if its parent is already gone: its parent is no longer
    ``parent``, or, not given (a fork server's child), it was handed to init. Nothing off Linux."""
    if _prctl is None:
        return
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent if parent is not None else os.getppid() == 1:
        os._exit(1)


@contextmanager
def interrupts_stop_the_run(stopped_message: str, grace_s: float = GRACE_S) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread once, so that the run
    unwinds and stops what it started; later signals are ignored. A KeyboardInterrupt can land
    inside library code that then never finishes unwinding: if the process still runs
    ``grace_s`` seconds after the signal, every descendant is killed, ``stopped_message`` printed
    to stderr and the process exits with 130."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    stopping = threading.Event()

    def deadline() -> None:
        time.sleep(grace_s)
        for child in psutil.Process().children(recursive=True):
            with suppress(psutil.Error):
                child.kill()
        sys.stderr.write(f"{stopped_message}\n")
        sys.stderr.flush()
        os._exit(130)

    def handler(signum: int, frame: object) -> None:
        if stopping.is_set():
            return
        stopping.set()
        threading.Thread(target=deadline, name="mlipcamp-stop-deadline", daemon=True).start()
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
