"""Where a step ran: the machine, and the batch job it ran in."""

from __future__ import annotations

import os
import socket


def where() -> str:
    """This machine's name, with the batch job it runs in, e.g. ``node17 (SLURM job 4242)``."""
    host = socket.gethostname()
    for variable, scheduler in (("SLURM_JOB_ID", "SLURM"), ("PBS_JOBID", "PBS")):
        if job := os.environ.get(variable):
            return f"{host} ({scheduler} job {job})"
    return host
