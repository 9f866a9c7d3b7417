"""MD throughput: the project's MD (``mlipcamp.science.md.run_md`` as the simulate step runs it: NPT with the
stability watch, log, trajectory and checkpoint files) against a plain ASE loop (the same
integrator, MACE model, box and thread count, and nothing else), in this process.

    .venv/bin/python benchmarks/md_throughput.py [--model PATH] [--steps 400] [--repeats 3]
                                                 [--device auto] [--concurrent 1 2 4] [--dtypes]

Without ``--model`` it first trains the demo's MACE architecture (16 channels, max_L 0, r_max 4 Å)
on GFN2-xTB labels of rattled EC clusters cut from the benchmark box: about 3 min on 2 CPU cores.
Prints steps/s of both, each the median over ``--repeats`` rounds in alternating order, timed
around the whole call (run_md: from the copy of the box to the trajectory file), and their ratio.
With ``--concurrent`` it then starts 1, 2, 4 … processes running run_md at once on the same device
and prints their aggregate steps/s: several MD runs sharing one GPU (``md.runs_per_gpu``).
With ``--dtypes`` it times run_md with the (float64-trained) model evaluated in float64 and in float32
(``md.dtype``), alternating, and prints the float32/float64 speed ratio.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

EC = "C1COC(=O)O1"
TEMPERATURE_K, PRESSURE_BAR = 313.0, 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a MACE .model file; default: train a small one first")
    parser.add_argument("--molecules", type=int, default=16, help="EC molecules in the box (the demo's: 16)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (md.n_threads)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--concurrent", type=int, nargs="*", default=[], help="process counts sharing the device")
    parser.add_argument("--dtypes", action="store_true", help="also time run_md in float64 and float32 (md.dtype)")
    args = parser.parse_args()
    if args.model is not None and not args.model.is_file():
        parser.error(f"--model {args.model}: no such file")
    if min([args.steps, args.repeats, args.molecules, args.threads, *args.concurrent]) < 1:
        parser.error("--steps, --repeats, --molecules, --threads and --concurrent take positive numbers")

    from mlipcamp.science.devices import resolve_device
    from mlipcamp.science.mace_calculator import mace_calculator
    from mlipcamp.science.structures import build_box

    try:
        device = resolve_device(args.device)
    except RuntimeError as exc:
        parser.error(str(exc))
    workdir = Path(tempfile.mkdtemp(prefix="mlipcamp-md-bench-"))
    box = build_box([(EC, args.molecules)], 1.32, seed=1)
    model = args.model or train_small_model(box, workdir / "training", device)
    calculator = mace_calculator(model, device, args.dtype, args.threads)
    settings = _settings(args.molecules, args.steps)
    print(f"{len(box)} atoms (EC ×{args.molecules}), model {model}, {device}, {args.dtype}, {args.threads} thread(s)")
    print(
        f"NPT {TEMPERATURE_K:g} K, {args.steps} steps; run_md logs and checks every {settings.log_interval} steps, "
        f"stores a frame every {settings.trajectory_interval} and a checkpoint every {settings.checkpoint_interval}"
    )

    plain_loop(box, calculator, settings, 20)  # warm-up: first calls of the model, thread pools
    plain, task = [], []
    for i in range(args.repeats):
        rounds = [
            (plain, lambda: plain_loop(box, calculator, settings, args.steps)),
            (task, lambda out_dir=workdir / f"run{i}": project_run(box, calculator, settings, out_dir)),
        ]
        for results, run in rounds if i % 2 == 0 else rounds[::-1]:
            results.append(run())
    plain_speed = statistics.median(plain)
    task_speed = statistics.median(task)
    print(f"plain ASE loop : {plain_speed:8.2f} steps/s  ({', '.join(f'{s:.2f}' for s in plain)})")
    print(f"project run_md : {task_speed:8.2f} steps/s  ({', '.join(f'{s:.2f}' for s in task)})")
    print(f"ratio run_md / plain: {task_speed / plain_speed:.3f}  (target >= 0.95)")
    print(f"  = {task_speed * settings.timestep * 86400e-6:.3f} ns/day at {settings.timestep:g} fs")

    for n in args.concurrent:
        speeds = concurrent_runs(n, model, args, workdir / f"concurrent{n}")
        print(
            f"{n} concurrent run(s): aggregate {sum(speeds):8.2f} steps/s "
            f"(each {', '.join(f'{s:.2f}' for s in speeds)}; {sum(speeds) / task_speed:.2f}× one run)"
        )
    if args.dtypes:
        speeds = dtype_speeds(box, model, device, settings, args, workdir / "dtypes")
        for dtype, values in speeds.items():
            print(
                f"run_md {dtype}  : {statistics.median(values):8.2f} steps/s  ({', '.join(f'{s:.2f}' for s in values)})"
            )
        ratio = statistics.median(speeds["float32"]) / statistics.median(speeds["float64"])
        print(f"ratio float32 / float64: {ratio:.3f}")


def dtype_speeds(box, model: Path, device: str, settings, args: argparse.Namespace, directory: Path) -> dict:
    """run_md steps/s per evaluation precision, ``args.repeats`` rounds in alternating order. Each
    round builds its calculator anew (untimed): MACE's calculator sets torch's default dtype for
    the process, so two of different precision cannot take turns."""
    from mlipcamp.science.mace_calculator import mace_calculator

    speeds: dict[str, list[float]] = {"float64": [], "float32": []}
    for i in range(args.repeats):
        for dtype in list(speeds) if i % 2 == 0 else list(speeds)[::-1]:
            calculator = mace_calculator(model, device, dtype, args.threads)
            plain_loop(box, calculator, settings, 10)  # warm-up of this calculator
            speeds[dtype].append(project_run(box, calculator, settings, directory / f"{dtype}-{i}"))
    return speeds


def _settings(molecules: int, steps: int):
    """The md section of the run (production stability limits); at TEMPERATURE_K and PRESSURE_BAR."""
    from mlipcamp.science.md import MolecularDynamics

    return MolecularDynamics(
        n_molecules=molecules,
        ensemble="npt",
        n_steps=steps,
        timestep=1.0,
        thermostat_damping=100.0,
        barostat_damping=500.0,
        log_interval=10,
        trajectory_interval=10,
        checkpoint_interval=100,
        seed=1,
    )


def plain_loop(box, calculator, settings, steps: int) -> float:
    """Steps/s of ASE's IsotropicMTKNPT alone, built as run_md's NPT engine builds it, with run_md's
    starting velocities."""
    import numpy as np
    from ase import units
    from ase.md.nose_hoover_chain import IsotropicMTKNPT
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    start = time.perf_counter()
    atoms = box.copy()
    atoms.calc = calculator
    thermalize_momenta(atoms, TEMPERATURE_K, rng=np.random.default_rng(settings.seed))
    Stationary(atoms)
    dyn = IsotropicMTKNPT(
        atoms,
        timestep=settings.timestep * units.fs,
        temperature_K=TEMPERATURE_K,
        pressure_au=PRESSURE_BAR * units.bar,
        tdamp=settings.thermostat_damping * units.fs,
        pdamp=settings.barostat_damping * units.fs,
    )
    dyn.run(steps)
    return steps / (time.perf_counter() - start)


def project_run(box, calculator, settings, out_dir: Path) -> float:
    """Steps/s of run_md (production stability limits), timed around the whole call."""
    from mlipcamp.science.md import run_md

    start = time.perf_counter()
    result = run_md(box, calculator, settings, TEMPERATURE_K, PRESSURE_BAR, out_dir)
    elapsed = time.perf_counter() - start
    if result.stopped_reason:
        print(f"  note: the stability watch stopped run_md at step {result.stopped_step}: {result.stopped_reason}")
    return result.n_steps_done / elapsed


def concurrent_runs(n: int, model: Path, args: argparse.Namespace, directory: Path) -> list[float]:
    """Steps/s of each of ``n`` processes running run_md at the same time (started together)."""
    context = mp.get_context("spawn")
    barrier, queue = context.Barrier(n), context.Queue()
    processes = [
        context.Process(target=_worker, args=(model, args, directory / str(i), barrier, queue)) for i in range(n)
    ]
    for process in processes:
        process.start()
    speeds = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    return speeds


def _worker(model: Path, args: argparse.Namespace, out_dir: Path, barrier, queue) -> None:
    from mlipcamp.science.mace_calculator import mace_calculator
    from mlipcamp.science.structures import build_box

    box = build_box([(EC, args.molecules)], 1.32, seed=1)
    calculator = mace_calculator(model, args.device, args.dtype, args.threads)
    settings = _settings(args.molecules, args.steps)
    plain_loop(box, calculator, settings, 10)  # warm-up
    barrier.wait()
    queue.put(project_run(box, calculator, settings, out_dir))


def train_small_model(box, directory: Path, device: str) -> Path:
    """The demo's MACE architecture trained on GFN2-xTB labels of 150 rattled 1-3 molecule EC
    clusters cut from ``box`` (40 epochs, stage two); returns the model file."""
    import numpy as np

    from mlipcamp.science.datasets import write_extxyz
    from mlipcamp.science.qm import compute_label, get_level
    from mlipcamp.science.structures import cut_clusters
    from mlipcamp.science.training.mace import fit_e0s, train_mace
    from mlipcamp.science.training.settings import MaceHyperparameters

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    clusters = cut_clusters(box, (1, 3), 150, rng)
    for cluster in clusters:
        cluster.positions += rng.normal(scale=0.08, size=cluster.positions.shape)  # Å, about thermal at 313 K
    level = get_level("gfn2-xtb")
    start = time.perf_counter()
    labels = [compute_label(cluster, level) for cluster in clusters]
    print(f"labelled {len(clusters)} rattled EC clusters with GFN2-xTB in {time.perf_counter() - start:.0f} s")
    kept = [(c, r) for c, r in zip(clusters, labels, strict=True) if r.ok]
    train, valid = kept[:130], kept[130:]
    files = [
        write_extxyz(
            [c for c, _ in part],
            [r.energy_eV for _, r in part],
            [r.forces_eV_ang for _, r in part],
            path=directory / f"{name}.xyz",
        )
        for name, part in (("train", train), ("valid", valid))
    ]
    e0s = fit_e0s([c.numbers for c, _ in train], [r.energy_eV for _, r in train])
    settings = MaceHyperparameters(num_channels=16, max_L=0, r_max=4.0, max_num_epochs=40, stage_two=True)
    result = train_mace(files[0], files[1], settings, seed=1, e0s=e0s, work_dir=directory, device=device, n_threads=2)
    print(f"trained {result.epochs} epochs in {result.train_time_s:.0f} s")
    return result.model_path


if __name__ == "__main__":
    main()
