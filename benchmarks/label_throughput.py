"""Labelling throughput: GFN2-xTB clusters through the Prefect flow on 2 Dask workers, against a
plain serial loop over the same structures in this process.

    .venv/bin/python benchmarks/label_throughput.py [--clusters 120] [--batch-size 20] [--workers 2]

Prints structures/s of both and their ratio (flow / serial); the flow figure includes Prefect task
orchestration, Dask transfer, the file store and database writes, but not the start of the cluster
and its workers' first imports (a warm-up task per worker runs before the clock starts).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=50)  # the campaign default (labelling.batch_size)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mlipcamp-bench-"))
    os.environ.setdefault("PREFECT_HOME", str(workdir / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")

    import numpy as np
    from threadpoolctl import threadpool_limits

    from mlipcamp.db.engine import init_db, session_scope, sqlite_url
    from mlipcamp.db.records import structure_row
    from mlipcamp.flows.runner import prefect_api
    from mlipcamp.hashing import hash_atoms
    from mlipcamp.science.qm import compute_label, get_level
    from mlipcamp.science.structures import build_box, cut_clusters
    from mlipcamp.tasks.workspace import Workspace

    box = build_box([("C1COC(=O)O1", 64)], 1.32, seed=1)
    drawn = cut_clusters(box, (1, 5), 2 * args.clusters, np.random.default_rng(1))
    clusters = list({hash_atoms(c): c for c in drawn}.values())[: args.clusters]  # unique, as the database keeps them
    level = get_level("gfn2-xtb")
    url = sqlite_url(workdir / "bench.sqlite")
    init_db(url)
    ws = Workspace(workdir=str(workdir), db_url=url, campaign_id=1)
    with session_scope(url) as session:
        ids = sorted({structure_row(session, ws.store, c, "cluster", {}).id for c in clusters})
    n_atoms = sum(len(c) for c in clusters)
    print(f"{len(ids)} unique EC clusters of 1-5 molecules ({n_atoms / len(clusters):.0f} atoms on average)")

    compute_label(clusters[0], level)  # load the library once, as the workers do
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        serial = [compute_label(c, level) for c in clusters]
    serial_s = time.perf_counter() - start
    assert all(r.ok for r in serial)

    with prefect_api():
        flow_s = _flow_seconds(ws, ids, args.batch_size, args.workers)
    assert len(ids) == len(clusters)
    serial_rate, flow_rate = len(clusters) / serial_s, len(ids) / flow_s
    print(f"serial loop, 1 thread : {serial_s:7.1f} s  {serial_rate:6.1f} structures/s")
    print(
        f"flow, {args.workers} Dask workers : {flow_s:7.1f} s  {flow_rate:6.1f} structures/s "
        f"(batches of {args.batch_size})"
    )
    print(f"ratio flow/serial     : {flow_rate / serial_rate:.2f}")


def _flow_seconds(ws, ids: list[int], batch_size: int, workers: int) -> float:
    """Wall time of labelling ``ids`` in batches through Prefect tasks on a LocalCluster (started before timing)."""
    from prefect import flow, task
    from prefect.futures import wait
    from prefect_dask import DaskTaskRunner

    from mlipcamp.tasks.label import label_batch

    timings: dict[str, float] = {}

    @task
    def warm_up() -> None:
        """Import the labelling stack and load tblite once per worker, as a long campaign has long done."""
        from mlipcamp.science.qm import compute_label, get_level
        from mlipcamp.science.structures import molecule_from_smiles

        compute_label(molecule_from_smiles("O"), get_level("gfn2-xtb"))
        time.sleep(1.0)  # hold the worker so the next warm-up lands on another one

    @flow(name="benchmark-labelling")
    def label_all() -> None:
        wait([warm_up.submit() for _ in range(workers)])
        start = time.perf_counter()
        batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
        wait([label_batch.submit(ws, batch, "gfn2-xtb", 1, 0) for batch in batches])
        timings["flow"] = time.perf_counter() - start

    runner = DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "dashboard_address": None})
    label_all.with_options(task_runner=runner)()
    return timings["flow"]


if __name__ == "__main__":
    main()
