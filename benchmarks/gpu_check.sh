#!/usr/bin/env bash
# GPU check: training s/epoch (float64/float32, cuEquivariance off/on), MD steps/s of an EC box of
# about 1000 atoms (ASE loop against run_md, float64 and float32), 1/2/4/8 MD runs sharing the GPU and
# CUDA in a child of a fork server;
# figures printed and written to gpu_check.json (benchmarks/gpu_check.py says what each one is).
#
#   benchmarks/gpu_check.sh [--smoke] [--out FILE]     # full: under 8 min on one H100/H200
#
# Python: this project's .venv when there is one (`make setup`); otherwise python3 with torch
# (a GPU machine's own), plus the packages in .gpu_wheels/ (made here by benchmarks/gpu_wheels.sh,
# carried there) installed into a scratch directory. --smoke runs the same code on a tiny problem
# on the CPU in under a minute; CI runs it so that the script never rots.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
if [[ -x .venv/bin/python ]]; then
    python=.venv/bin/python
else
    python=python3
    if [[ -d .gpu_wheels ]]; then
        site=$(mktemp -d)
        "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .gpu_wheels/*.whl
        export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PATH="$site/bin:$PATH"  # packmol
    fi
fi
exec "$python" benchmarks/gpu_check.py "$@"
