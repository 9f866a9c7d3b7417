"""sample: MD of a liquid box at one temperature, cut into clusters and periodic snapshots."""

from __future__ import annotations

import time

import numpy as np
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from prefect import get_run_logger, task
from threadpoolctl import threadpool_limits

from mlipcamp.db.engine import session_scope
from mlipcamp.db.models import LiquidBox, SampleMember, SampleSet
from mlipcamp.db.queries import labels_at_level
from mlipcamp.db.records import find_by_key, link_to_campaign, structure_row
from mlipcamp.hashing import sha256_file
from mlipcamp.science.mace_calculator import mace_calculator
from mlipcamp.science.provenance import where
from mlipcamp.science.qm import LabelResult, get_level, make_calculator
from mlipcamp.science.structures import sample_liquid, training_structures
from mlipcamp.settings.campaign import Sampling
from mlipcamp.settings.execution import SamplingExecution
from mlipcamp.tasks.keys import step_key
from mlipcamp.tasks.label import level_row_id, record_label
from mlipcamp.tasks.progress import ThinnedProgress
from mlipcamp.tasks.workspace import Workspace


@task(retries=1)
def sample_structures(
    ws: Workspace, box_id: int, sampling: Sampling, execution: SamplingExecution, temperature_K: float, seed: int
) -> int:
    """Id of the SampleSet of clusters and snapshots sampled from box ``box_id`` at ``temperature_K``."""
    logger = get_run_logger()
    potential = _potential_identity(sampling.potential)
    # one temperature and seed each; unset volume factors (snapshots as sampled) keep earlier keys
    unset = {"volume_factors"} if sampling.volume_factors is None else set()
    settings = sampling.model_dump(mode="json", exclude={"temperatures", "seed", *unset})
    with session_scope(ws.db_url) as session:
        box = session.get(LiquidBox, box_id)
        key = step_key(
            "sample", box=box.key, potential=potential, settings=settings, temperature_K=temperature_K, seed=seed
        )
        if (row := find_by_key(session, SampleSet, key)) is not None:
            link_to_campaign(session, ws.campaign_id, "sample_set", row.id)
            return row.id
        liquid, box_structure_id = box.liquid, box.structure_id
        atoms = ws.store.get_atoms(box.structure.file)

    start = time.perf_counter()
    with threadpool_limits(limits=execution.n_threads):  # Dask workers start with OMP_NUM_THREADS=1
        snapshots = sample_liquid(
            atoms,
            sampling_calculator(sampling.potential, execution.n_threads),
            temperature_K=temperature_K,
            n_steps=sampling.n_steps,
            timestep_fs=sampling.timestep,
            interval=sampling.snapshot_interval,
            seed=seed,
            friction_per_fs=sampling.friction,
            progress=ThinnedProgress(
                lambda done, total: logger.info("sampling %s at %g K: step %d/%d", liquid, temperature_K, done, total)
            ),
        )
    structures = training_structures(
        snapshots,
        sampling.cluster_size,
        sampling.clusters_per_snapshot,
        seed,
        sampling.cluster_radius,
        sampling.periodic_snapshots,
        sampling.volume_factors or (1.0,),
    )
    wall_time = time.perf_counter() - start

    with session_scope(ws.db_url) as session:
        sample_set = SampleSet(
            key=key,
            liquid=liquid,
            box_structure_id=box_structure_id,
            potential=potential,
            temperature_k=temperature_K,
            n_steps=sampling.n_steps,
            timestep_fs=sampling.timestep,
            settings=settings | {"seed": seed},
            wall_time_s=wall_time,
        )
        session.add(sample_set)
        session.flush()
        member_ids: set[int] = set()
        level_id = (
            None if sampling.potential.endswith(".model") else level_row_id(session, get_level(sampling.potential))
        )
        n_free = 0
        for kind, structure in structures:
            source = {"sample_set": key, "liquid": liquid, "step": int(structure.info.get("sample_step", -1))}
            computed, structure.calc = structure.calc, None  # the store keeps the structure, not its results
            row = structure_row(session, ws.store, structure, kind, source)
            member_ids.add(row.id)
            if level_id is not None and computed is not None and not labels_at_level(session, [row.id], level_id):
                record_label(session, ws, row.id, level_id, _label_of(computed), 1)
                n_free += 1
        session.add_all(SampleMember(sample_set_id=sample_set.id, structure_id=i) for i in sorted(member_ids))
        link_to_campaign(session, ws.campaign_id, "sample_set", sample_set.id)
    logger.info(
        "sampled %s at %g K: %d snapshots -> %d structures (%d labelled by the sampling MD itself) in %.1f s",
        liquid,
        temperature_K,
        len(snapshots),
        len(member_ids),
        n_free,
        wall_time,
    )
    return sample_set.id


def _label_of(calc: SinglePointCalculator) -> LabelResult:
    """The sampling potential's results at a snapshot as a label (eV, eV/Å, eV/Å³; no wall time of
    its own): the MD computed them with the level's own calculator, and labelling would repeat them
    (to within the SCF convergence: the MD's SCF starts from the previous step's wavefunction)."""
    results = calc.results
    stress = results.get("stress")
    return LabelResult(
        True,
        float(results["energy"]),
        np.asarray(results["forces"], dtype=np.float64),
        None if stress is None else np.asarray(stress, dtype=np.float64),
        None,
        0.0,
        f"{where()} (sampling MD)",
    )


def sampling_calculator(potential: str, n_threads: int) -> Calculator:
    """The calculator driving the sampling MD: a level of theory, or a MACE model file."""
    if not potential.endswith(".model"):
        return make_calculator(get_level(potential))
    return mace_calculator(potential, device="auto", default_dtype="float64", n_threads=n_threads)


def _potential_identity(potential: str) -> str:
    """What keys the sampling: the level's hash, or the model file's sha256 (not its path)."""
    if potential.endswith(".model"):
        return f"mace:{sha256_file(potential)}"
    return f"{potential}:{get_level(potential).hash}"
