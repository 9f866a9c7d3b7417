"""GPU check: the figures a lent GPU is for, in one run (``benchmarks/gpu_check.sh`` runs this).

    .venv/bin/python benchmarks/gpu_check.py [--smoke] [--out gpu_check.json] [--device auto]

1. data: EC clusters of 1-3 molecules cut from a packed box and labelled with GFN2-xTB in parallel
   processes (200; ``--smoke``: 16), and an EC box of about 1000 atoms (``--smoke``: 60) for MD;
2. training: seconds per epoch of the project's training step (``train_mace``) on those clusters,
   float64 against float32 and cuEquivariance off against on (skipped, and said so, where the
   cuequivariance packages or a CUDA device are missing);
3. MD: steps/s of a plain ASE NPT loop and of the project's ``run_md`` (stability watch, log,
   trajectory, checkpoints) with the float64-trained model evaluated in float64 and in float32;
4. sharing: aggregate ``run_md`` steps/s of 1, 2, 4 and 8 processes on the one device
   (``md.runs_per_gpu``; ``--smoke``: 1 and 2);
5. forked child: whether torch computes right on the device in a child forked from a fork server
   that imported torch and never touched CUDA, as `mlipcamp run` starts its local Dask workers on
   machines without GPUs (``flows/local_cluster.fork_workers_from_a_server``); a yes on a GPU lets
   GPU machines fork theirs too (``flows/runner.local_cluster`` spawns them until then).

Everything is made here (no downloads). Ratios are against the first figure of their section, all
measured in this run. The figures go to ``--out`` as JSON and to stdout as they come. ``--smoke``
is the same code on a tiny problem, for CI on a CPU: it checks that the script runs, not speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import md_throughput

EC = md_throughput.EC
FULL = {"clusters": 200, "epochs": 6, "box_molecules": 100, "md_steps": 200, "repeats": 2, "sharing": [1, 2, 4, 8]}
SMOKE = {"clusters": 16, "epochs": 1, "box_molecules": 6, "md_steps": 10, "repeats": 1, "sharing": [1, 2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run for CI on a CPU (under a minute)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="where the figures go (JSON)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()
    size = SMOKE if args.smoke else FULL

    from mlipcamp.science.devices import resolve_device

    device = resolve_device(args.device)
    work = Path(tempfile.mkdtemp(prefix="mlipcamp-gpu-check-"))
    figures: dict = {"device": _device_name(device), "mode": "smoke" if args.smoke else "full", "size": size}
    start = time.perf_counter()

    train_xyz, valid_xyz, e0s, box = make_data(size, work / "data")
    figures["data"] = {"clusters": size["clusters"], "box_atoms": len(box), "seconds": _since(start)}
    _say(f"data: {size['clusters']} labelled EC clusters, a box of {len(box)} atoms ({_since(start):.0f} s)")

    figures["training"], model = training_figures(train_xyz, valid_xyz, e0s, size, device, work / "training")
    figures["md"] = md_figures(box, model, device, size, work / "md")
    figures["sharing"] = sharing_figures(model, device, size, work / "sharing")
    figures["forked child"] = forked_child_figures(device)
    figures["seconds"] = _since(start)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    _say(f"done in {figures['seconds']:.0f} s; figures in {args.out}")


def make_data(size: dict, directory: Path):
    """Training and validation files of GFN2-xTB-labelled rattled EC clusters, their E0s (eV, least
    squares) and the MD box."""
    import numpy as np

    from mlipcamp.science.datasets import write_extxyz
    from mlipcamp.science.structures import build_box, cut_clusters
    from mlipcamp.science.training.mace import fit_e0s

    directory.mkdir(parents=True)
    rng = np.random.default_rng(7)
    clusters = cut_clusters(build_box([(EC, 32)], 1.32, seed=1), (1, 3), size["clusters"], rng)
    for cluster in clusters:
        cluster.positions += rng.normal(scale=0.08, size=cluster.positions.shape)  # Å, about thermal at 313 K
    with ProcessPoolExecutor(max_workers=min(len(clusters), os.cpu_count() or 1)) as pool:
        labels = list(pool.map(_label, clusters))
    kept = [(c, r) for c, r in zip(clusters, labels, strict=True) if r.ok]
    n_train = int(0.85 * len(kept))
    files = [
        write_extxyz(
            [c for c, _ in part],
            [r.energy_eV for _, r in part],
            [r.forces_eV_ang for _, r in part],
            path=directory / f"{name}.xyz",
        )
        for name, part in (("train", kept[:n_train]), ("valid", kept[n_train:]))
    ]
    e0s = fit_e0s([c.numbers for c, _ in kept], [r.energy_eV for _, r in kept])
    return files[0], files[1], e0s, build_box([(EC, size["box_molecules"])], 1.32, seed=2)


def _label(cluster):
    """One GFN2-xTB label, in a pool process with one thread."""
    from threadpoolctl import threadpool_limits

    from mlipcamp.science.qm import compute_label, get_level

    with threadpool_limits(limits=1):
        return compute_label(cluster, get_level("gfn2-xtb"))


def training_figures(train_xyz: Path, valid_xyz: Path, e0s: dict, size: dict, device: str, directory: Path):
    """Seconds per epoch per (dtype, cuEquivariance) and the float64 model (trained first: the baseline)."""
    from mlipcamp.science.training.mace import TrainingError, train_mace
    from mlipcamp.science.training.settings import MaceHyperparameters

    figures, model = {}, None
    for dtype in ("float64", "float32"):
        for cueq in (False, True):
            name = f"{dtype}, cuEquivariance {'on' if cueq else 'off'}"
            if cueq and device != "cuda":
                figures[name] = {"skipped": "cuEquivariance needs a CUDA device"}
                _say(f"training {name}: skipped (no CUDA device)")
                continue
            settings = MaceHyperparameters(
                num_channels=16,
                max_L=0,
                r_max=4.0,
                max_num_epochs=size["epochs"],
                default_dtype=dtype,
                enable_cueq=cueq,
            )
            try:
                result = train_mace(train_xyz, valid_xyz, settings, 1, e0s, directory / name.replace(", ", "-"), device)
            except TrainingError as exc:
                figures[name] = {"skipped": str(exc).splitlines()[0]}
                _say(f"training {name}: skipped ({figures[name]['skipped']})")
                continue
            model = model or result.model_path
            figures[name] = {"seconds_per_epoch": result.seconds_per_epoch, "train_time_s": result.train_time_s}
    _ratios(figures, "seconds_per_epoch", "training s/epoch", "ratio to float64 off")
    if model is None:
        raise SystemExit("gpu_check: no training ran, so there is no model for MD")
    return figures, model


def md_figures(box, model: Path, device: str, size: dict, directory: Path) -> dict:
    """steps/s of the ASE loop and of run_md, the model evaluated in float64 and float32."""
    from mlipcamp.science.mace_calculator import mace_calculator

    settings = md_throughput._settings(size["box_molecules"], size["md_steps"])
    speeds: dict[str, list[float]] = {}
    for i in range(size["repeats"]):
        for dtype in ("float64", "float32") if i % 2 == 0 else ("float32", "float64"):
            calculator = mace_calculator(model, device, dtype)  # anew: it sets torch's default dtype
            md_throughput.plain_loop(box, calculator, settings, 5)  # warm-up
            ase = md_throughput.plain_loop(box, calculator, settings, size["md_steps"])
            run = md_throughput.project_run(box, calculator, settings, directory / f"{dtype}-{i}")
            speeds.setdefault(f"ASE loop, {dtype}", []).append(ase)
            speeds.setdefault(f"run_md, {dtype}", []).append(run)
    order = ["ASE loop, float64", "run_md, float64", "ASE loop, float32", "run_md, float32"]
    figures = {name: {"steps_per_s": statistics.median(speeds[name])} for name in order}
    _ratios(figures, "steps_per_s", f"MD, {len(box)} atoms, steps/s", "ratio to ASE loop float64")
    return figures


def sharing_figures(model: Path, device: str, size: dict, directory: Path) -> dict:
    """Aggregate run_md steps/s of n processes on the one device, n from ``size['sharing']``."""
    args = argparse.Namespace(
        molecules=size["box_molecules"], device=device, dtype="float64", threads=1, steps=size["md_steps"]
    )
    figures = {}
    for n in size["sharing"]:
        speeds = md_throughput.concurrent_runs(n, model, args, directory / str(n))
        figures[f"{n} run(s)"] = {"steps_per_s": sum(speeds), "each": speeds}
    _ratios(figures, "steps_per_s", "MD runs sharing the device, aggregate steps/s", "ratio to 1 run")
    return figures


def forked_child_figures(device: str) -> dict:
    """A 256×256 matrix product of ones on ``device`` in a child of a fork server whose preload is torch
    (the server of this process, if one runs already: it never touches CUDA either)."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch"])
    start = time.perf_counter()
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        figure = pool.submit(_ones_product_sum, device).result(timeout=300) | {"seconds": _since(start)}
    _say(
        f"forked child: torch on {figure['device']}: {'right' if figure['ok'] else 'WRONG'} ({figure['seconds']:.1f} s)"
    )
    return figure


def _ones_product_sum(device: str) -> dict:
    import torch

    ones = torch.ones(256, 256, device=device)
    return {"device": str(ones.device), "ok": float((ones @ ones).sum()) == 256.0**3}


def _ratios(figures: dict, key: str, title: str, label: str) -> None:
    """Add each measured figure's ratio to the first measured one, and print the section."""
    measured = [f for f in figures.values() if key in f]
    base = measured[0][key] if measured and measured[0][key] else None
    _say(title)
    for name, figure in figures.items():
        if key in figure and base:
            figure["ratio"] = figure[key] / base
            _say(f"  {name:34s} {figure[key]:10.3f}   {label}: {figure['ratio']:.2f}")
        elif key in figure:
            _say(f"  {name:34s} {figure[key]}")
        else:
            _say(f"  {name:34s} skipped: {figure['skipped']}")


def _device_name(device: str) -> str:
    import platform

    import torch

    return torch.cuda.get_device_name() if device == "cuda" else f"cpu ({platform.processor() or 'unknown'})"


def _since(start: float) -> float:
    return time.perf_counter() - start


def _say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    main()
