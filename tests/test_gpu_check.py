"""benchmarks/gpu_check.sh --smoke: the GPU check's code runs on the CPU and writes every figure it
promises, so that the one run a lent GPU gets does not fail on a rotten script."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_check.sh"


def test_gpu_check_smoke_writes_every_figure(tmp_path):
    out = tmp_path / "gpu_check.json"
    done = subprocess.run(
        [str(SCRIPT), "--smoke", "--device", "cpu", "--out", str(out)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["mode"] == "smoke" and figures["device"].startswith("cpu")
    training = figures["training"]
    assert training["float64, cuEquivariance off"]["ratio"] == 1.0
    assert training["float32, cuEquivariance off"]["seconds_per_epoch"] > 0
    assert "CUDA" in training["float64, cuEquivariance on"]["skipped"]  # said, not silently left out
    md = figures["md"]
    assert set(md) == {"ASE loop, float64", "run_md, float64", "ASE loop, float32", "run_md, float32"}
    assert all(figure["steps_per_s"] > 0 and figure["ratio"] > 0 for figure in md.values())
    sharing = figures["sharing"]
    assert list(sharing) == ["1 run(s)", "2 run(s)"] and len(sharing["2 run(s)"]["each"]) == 2
    assert figures["forked child"]["ok"] is True and figures["forked child"]["device"] == "cpu"
    assert "MD runs sharing the device" in done.stdout and "training s/epoch" in done.stdout
