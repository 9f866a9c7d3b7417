"""Run mace-torch's ``run_train`` in this process and record its peak memory.

Usage: ``python -m mlipcamp.science.training.mace_runner STATS.json [run_train arguments]``. After training, STATS.json
holds ``peak_rss_mb`` (peak resident memory of this program, MiB) and ``peak_cuda_mb`` (peak CUDA
memory allocated by torch, MiB; null without a GPU).
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path


def main() -> None:
    stats_path, arguments = Path(sys.argv[1]), sys.argv[2:]
    import torch
    from mace.cli.run_train import main as run_train

    sys.argv = ["mace_run_train", *arguments]
    run_train()
    stats = {
        "peak_rss_mb": peak_rss_mb(),
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
    }
    stats_path.write_text(json.dumps(stats))


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


if __name__ == "__main__":
    main()
