"""Run mace-torch's ``run_train`` in this process and record its peak memory.

Usage: ``python -m tasks.mace_runner STATS.json [run_train arguments]``. After training, STATS.json
holds ``peak_rss_mb`` (resident memory of this process, MiB) and ``peak_cuda_mb`` (peak CUDA memory
allocated by torch, MiB; null without a GPU).
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
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux reports KiB
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
    }
    stats_path.write_text(json.dumps(stats))


if __name__ == "__main__":
    main()
