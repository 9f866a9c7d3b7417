"""Labelling throughput: GFN2-xTB clusters through the Prefect flow on 2 Dask workers, against a
plain serial loop over the same structures in this process.

    .venv/bin/python benchmarks/label_throughput.py [--clusters 240] [--batch-size 50] [--workers 2] [--rounds 3]

Batches are dealt as the campaign deals them (flows/batching.py) and the workers get the campaign's
Dask settings. Warm figure: rounds of the serial loop, of a plain process pool (as many processes
as workers, each running the serial loop over its batches: what this machine's cores give at best)
and of the flow, interleaved on one running cluster whose workers have loaded the labelling stack
(each flow round labels the structures again in a database of its own); the flow's time includes
Prefect task orchestration, Dask transfer, the file store and database writes. Prints the median of
each and the ratios flow / serial and flow / pool; a shared machine drifts by tens of per cent over
a minute, which interleaving cancels. Cold figure: a new cluster from the flow's start (worker
start, imports, library load) to the last label. Last, Prefect's own cost per task: tasks that do
nothing, on the same warm cluster, as wall seconds per task and worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=50)  # the campaign default (labelling.batch_size)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mlipcamp-bench-"))
    os.environ.setdefault("PREFECT_HOME", str(workdir / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")

    import numpy as np

    from mlipcamp.flows.batching import balanced_batches, qm_cost
    from mlipcamp.flows.runner import prefect_api
    from mlipcamp.hashing import hash_atoms
    from mlipcamp.science.structures import build_box, cut_clusters

    box = build_box([("C1COC(=O)O1", 64)], 1.32, seed=1)
    drawn = cut_clusters(box, (1, 5), 2 * args.clusters, np.random.default_rng(1))
    clusters = list({hash_atoms(c): c for c in drawn}.values())[: args.clusters]  # unique, as the database keeps them
    workspaces = [_workspace(workdir / f"round{i}.sqlite", clusters) for i in range(args.rounds + 1)]
    ids = workspaces[0][1]
    batches = balanced_batches(
        {i: qm_cost(len(c)) for i, c in zip(ids, clusters, strict=True)}, args.batch_size, args.workers
    )
    print(
        f"{len(clusters)} unique EC clusters of 1-5 molecules ({np.mean([len(c) for c in clusters]):.0f} atoms on average)"
    )
    print(f"{len(batches)} batches of {sorted(len(b) for b in batches)} structures (batch size {args.batch_size})")

    by_id = dict(zip(ids, clusters, strict=True))
    with prefect_api():
        rounds = [(ws, batches) for ws, _ in workspaces[1:]]
        shares = [[by_id[i] for i in batch] for batch in batches]
        serial_s, pool_s, warm_s, noop_s = _warm_rounds(clusters, shares, rounds, args.workers)
        cold_s = _cold_seconds(workspaces[0][0], batches, args.workers)
    serial, pool, warm = (statistics.median(s) for s in (serial_s, pool_s, warm_s))
    print(f"serial loop, 1 thread    : {_seconds(serial_s)}  {len(clusters) / serial:6.2f} structures/s")
    print(f"process pool, {args.workers} processes: {_seconds(pool_s)}  {len(clusters) / pool:6.2f} structures/s")
    print(f"flow, {args.workers} workers, warm   : {_seconds(warm_s)}  {len(clusters) / warm:6.2f} structures/s")
    print(f"flow, {args.workers} workers, cold   : {cold_s:6.1f} s once {len(clusters) / cold_s:13.2f} structures/s")
    print(f"ratio pool/serial        : {serial / pool:.2f} (what {args.workers} processes give on this machine)")
    print(f"ratio flow/serial        : warm {serial / warm:.2f}, cold {serial / cold_s:.2f}")
    print(f"ratio flow/pool          : warm {pool / warm:.2f} (medians)")
    print(
        f"Prefect's cost per task  : {noop_s * args.workers:.3f} s on a worker ({_NOOP_TASKS} tasks that do nothing"
        f" took {noop_s * _NOOP_TASKS:.1f} s on {args.workers} workers)"
    )


def _seconds(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} s median of {' '.join(f'{v:.1f}' for v in values)}"


def _workspace(path: Path, clusters: list):
    """A database of its own holding ``clusters``, unlabelled; with their ids."""
    from mlipcamp.db.engine import init_db, session_scope, sqlite_url
    from mlipcamp.db.records import structure_row
    from mlipcamp.tasks.workspace import Workspace

    url = sqlite_url(path)
    init_db(url)
    ws = Workspace(workdir=str(path.parent), db_url=url, campaign_id=1)
    with session_scope(url) as session:
        ids = [structure_row(session, ws.store, c, "cluster", {}).id for c in clusters]
    return ws, ids


def _serial_seconds(clusters: list) -> float:
    """Seconds of labelling ``clusters`` one after another in this process (the library loaded first)."""
    from threadpoolctl import threadpool_limits

    from mlipcamp.science.qm import compute_label, get_level

    level = get_level("gfn2-xtb")
    compute_label(clusters[0], level)  # the library loaded, as in the workers
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        assert all(compute_label(c, level).ok for c in clusters)
    return time.perf_counter() - start


def _pool_seconds(pool, shares: list[list]) -> float:
    start = time.perf_counter()
    list(pool.map(_serial_seconds, shares))
    return time.perf_counter() - start


def _warm_up() -> None:
    """Import the labelling stack and load tblite once per worker, as a long campaign has long done."""
    from mlipcamp.science.qm import compute_label, get_level
    from mlipcamp.science.structures import molecule_from_smiles

    compute_label(molecule_from_smiles("O"), get_level("gfn2-xtb"))
    time.sleep(1.0)  # hold the worker so the next warm-up lands on another one


_NOOP_TASKS = 60


def _nothing(i: int) -> int:
    return i


def _noop_seconds(n: int) -> float:
    """Seconds per task of ``n`` tasks that do nothing, from their submission to the last result."""
    from prefect import task
    from prefect.futures import wait

    start = time.perf_counter()
    wait([task(_nothing).submit(i) for i in range(n)])
    return (time.perf_counter() - start) / n


def _warm_up_workers(workers: int) -> None:
    from prefect import task
    from prefect.futures import wait

    wait([task(_warm_up).submit() for _ in range(workers)])


def _label_seconds(ws, batches: list[list[int]]) -> float:
    """Seconds of the labelling tasks of ``batches``, from their submission to the last result."""
    from prefect.futures import wait

    from mlipcamp.tasks.label import label_batch

    start = time.perf_counter()
    wait([label_batch.submit(ws, batch, "gfn2-xtb", 1, 0) for batch in batches])
    return time.perf_counter() - start


def _warm_rounds(clusters: list, shares: list[list], rounds: list, workers: int) -> tuple:
    """Seconds of the serial loop, of the process pool and of the labelling tasks, round after round
    (each round's flow runs on the same Dask cluster, whose workers stay warm); then seconds per task
    that does nothing, on that cluster."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import dask
    from distributed import LocalCluster
    from prefect import flow
    from prefect_dask import DaskTaskRunner

    from mlipcamp.flows.clusters import WORKER_DASK_CONFIG

    spawn = multiprocessing.get_context("spawn")  # tblite's OpenMP runtime does not survive a fork
    serial, pooled, labelled = [], [], []
    with (
        dask.config.set(WORKER_DASK_CONFIG),
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
        ProcessPoolExecutor(workers, mp_context=spawn) as pool,
    ):
        runner = DaskTaskRunner(address=cluster.scheduler_address)
        flow(name="benchmark-warm-up", task_runner=runner)(_warm_up_workers)(workers)
        _pool_seconds(pool, [clusters[:2]] * workers)
        label = flow(name="benchmark-labelling", task_runner=runner)(_label_seconds)
        for ws, batches in rounds:
            serial.append(_serial_seconds(clusters))
            pooled.append(_pool_seconds(pool, shares))
            labelled.append(label(ws, batches))
        noop = flow(name="benchmark-no-op", task_runner=runner)(_noop_seconds)(_NOOP_TASKS)
    return serial, pooled, labelled, noop


def _cold_seconds(ws, batches: list[list[int]], workers: int) -> float:
    """Seconds from a new flow's start on a new cluster to its last label."""
    import dask
    from prefect import flow
    from prefect_dask import DaskTaskRunner

    from mlipcamp.flows.clusters import WORKER_DASK_CONFIG

    runner = DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "dashboard_address": None})
    start = time.perf_counter()
    with dask.config.set(WORKER_DASK_CONFIG):
        flow(name="benchmark-labelling-cold", task_runner=runner)(_label_seconds)(ws, batches)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
