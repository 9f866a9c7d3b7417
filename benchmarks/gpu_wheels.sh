#!/usr/bin/env bash
# The packages benchmarks/gpu_check.sh needs that a lent GPU machine's image lacks (it has torch,
# numpy, scipy, h5py, pandas, matplotlib, pyyaml, tqdm, psutil …; nothing can be installed there
# from a registry), as wheels for its Python 3.12 on x86-64, at the versions of this project's
# .venv. Run here after `make setup`; then carry .gpu_wheels (git ignores it) with the run:
#
#   benchmarks/gpu_wheels.sh && du -sh .gpu_wheels     # must stay under the 64 MiB a run carries
set -euo pipefail
cd "$(dirname "$0")/.."
python_version=${GPU_PYTHON_VERSION:-3.12}  # the GPU machine's Python (3.11 here only to try the list out)
abi=cp${python_version/./}
packages=(
    mace-torch e3nn ase configargparse gitpython gitdb smmap lmdb matscipy orjson prettytable wcwidth
    python-hostlist torch-ema tblite cffi pycparser rdkit packmol pint flexcache flexparser
    pydantic pydantic-core annotated-types typing-inspection platformdirs opt-einsum opt-einsum-fx torchmetrics lightning-utilities
)
pins=()
for package in "${packages[@]}"; do
    pins+=("$package==$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$package'))")")
done
platforms=()
for tag in manylinux_2_17 manylinux_2_24 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34 manylinux_2_35; do
    platforms+=(--platform "${tag}_x86_64")
done
rm -rf .gpu_wheels
for pin in "${pins[@]}"; do
    if ! .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" --implementation cp \
        --platform manylinux2014_x86_64 "${platforms[@]}" -d .gpu_wheels "$pin" 2>/dev/null; then
        # no wheel on the registry (python-hostlist ships a source archive only): build one, pure Python only
        .venv/bin/python -m pip wheel -q --no-deps -w .gpu_wheels "$pin" 2>/dev/null
    fi
done
if ls .gpu_wheels | grep -v -e '-py3-none-any.whl$' -e '-py2.py3-none-any.whl$' -e "$abi" -e 'abi3' -e '-none-manylinux'; then
    echo "gpu_wheels: the wheels above are not for Python $python_version" >&2
    exit 1
fi
ls .gpu_wheels
