"""sample: MD of a liquid box, cut into clusters and periodic snapshots."""

from __future__ import annotations

import time

import numpy as np
from prefect import get_run_logger, task
from threadpoolctl import threadpool_limits

from db.engine import session_scope
from db.models import LiquidBox, SampleMember, SampleSet
from db.records import find_by_key, link_to_campaign, structure_row
from tasks.campaign import Sampling
from tasks.hashing import hash_json
from tasks.qm import get_level, make_calculator
from tasks.structures import cut_clusters, periodic_snapshot, sample_liquid
from tasks.workspace import Workspace


@task(retries=1)
def sample_structures(ws: Workspace, box_id: int, sampling: Sampling) -> int:
    """Id of the SampleSet holding the clusters and snapshots sampled from box ``box_id``."""
    logger = get_run_logger()
    with session_scope(ws.db_url) as session:
        box = session.get(LiquidBox, box_id)
        key = hash_json({"step": "sample/1", "box": box.key, "sampling": sampling.model_dump(mode="json")})
        if (row := find_by_key(session, SampleSet, key)) is not None:
            link_to_campaign(session, ws.campaign_id, "sample_set", row.id)
            return row.id
        liquid, box_structure_id = box.liquid, box.structure_id
        atoms = ws.store.get_atoms(box.structure.file)

    start = time.perf_counter()
    atoms.calc = make_calculator(get_level(sampling.potential))
    with threadpool_limits(limits=sampling.n_threads):  # Dask workers start with OMP_NUM_THREADS=1
        snapshots = sample_liquid(
            atoms,
            atoms.calc,
            temperature_K=sampling.temperature,
            n_steps=sampling.n_steps,
            timestep_fs=sampling.timestep,
            interval=sampling.snapshot_interval,
            seed=sampling.seed,
            friction_per_fs=sampling.friction,
            progress=lambda done, total: logger.info("sampling %s: step %d/%d", liquid, done, total),
        )
    rng = np.random.default_rng(sampling.seed)
    structures: list[tuple[str, object]] = []
    for snapshot in snapshots:
        for cluster in cut_clusters(snapshot, sampling.cluster_size, sampling.clusters_per_snapshot, rng):
            structures.append(("cluster", cluster))
        if sampling.periodic_snapshots:
            structures.append(("periodic", periodic_snapshot(snapshot)))
    wall_time = time.perf_counter() - start

    with session_scope(ws.db_url) as session:
        sample_set = SampleSet(
            key=key,
            liquid=liquid,
            box_structure_id=box_structure_id,
            potential=sampling.potential,
            temperature_k=sampling.temperature,
            n_steps=sampling.n_steps,
            timestep_fs=sampling.timestep,
            settings=sampling.model_dump(mode="json"),
            wall_time_s=wall_time,
        )
        session.add(sample_set)
        session.flush()
        member_ids: set[int] = set()
        for kind, structure in structures:
            source = {"sample_set": key, "liquid": liquid, "step": int(structure.info.get("sample_step", -1))}
            row = structure_row(session, ws.store, structure, kind, source)
            member_ids.add(row.id)
        session.add_all(SampleMember(sample_set_id=sample_set.id, structure_id=i) for i in sorted(member_ids))
        link_to_campaign(session, ws.campaign_id, "sample_set", sample_set.id)
        logger.info("sampled %s: %d snapshots -> %d structures in %.1f s", liquid, len(snapshots), len(member_ids), wall_time)
        return sample_set.id

