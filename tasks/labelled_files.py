"""import and export: labelled extxyz files in and out of the results database (imports under a
declared level of theory)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task

from mlipcamp.db.engine import session_scope
from mlipcamp.db.models import Label, SampleMember, SampleSet
from mlipcamp.db.queries import labelled_structures, labels_at_level
from mlipcamp.db.records import find_by_key, level_row, link_to_campaign, structure_row
from mlipcamp.db.step_lock import step_lock
from mlipcamp.db.store import FileStore
from mlipcamp.hashing import sha256_file
from mlipcamp.science.datasets import LabelledStructure, read_labelled_extxyz
from mlipcamp.science.qm.levels import declared_level
from mlipcamp.settings.campaign import ImportedDataset
from mlipcamp.tasks.keys import step_key
from mlipcamp.tasks.workspace import Workspace


@dataclass(frozen=True)
class ImportSummary:
    """An imported file: its sample set, structures (isolated atoms not counted: they are the E0s
    the campaign settings read from the file, never training data), new labels, stored level name."""

    sample_set_id: int
    n_structures: int
    n_new_labels: int
    level_name: str


def import_labelled_file(
    db_url: str,
    store: FileStore,
    path: str | Path,
    level_spec: str,
    name: str,
    campaign_id: int | None = None,
    **reading: str | None,
) -> ImportSummary:
    """Store every frame of ``path`` but its isolated atoms with its label at the declared level
    ``level_spec``; idempotent per file content. ``reading``: keyword arguments of
    ``read_labelled_extxyz`` (keys, units, data kind)."""
    path = Path(path)
    level = declared_level(level_spec)
    reading = {"data_kind": None, **reading}
    key = step_key("import", file=sha256_file(path), level=level.hash, reading=reading)
    with step_lock(db_url, key):  # campaigns sharing a database import a file once
        with session_scope(db_url) as session:
            if (existing := find_by_key(session, SampleSet, key)) is not None:
                if campaign_id is not None:
                    link_to_campaign(session, campaign_id, "sample_set", existing.id)
                return ImportSummary(existing.id, len(existing.members), 0, level.name)
        start = time.perf_counter()
        frames = read_labelled_extxyz(path, **reading)
        with session_scope(db_url) as session:
            level_id = level_row(session, level.hash, **level.model_dump()).id
            sample_set = SampleSet(
                key=key,
                liquid=name,
                box_structure_id=None,
                potential=f"imported from {path.name}",
                temperature_k=None,
                n_steps=None,
                timestep_fs=None,
                settings=reading | {"file": str(path.resolve())},
                wall_time_s=0.0,
            )
            session.add(sample_set)
            session.flush()
            new_labels, member_ids = 0, set()
            for index, frame in enumerate(frames):
                if frame.kind == "isolated_atom":
                    continue
                kind = "periodic" if frame.kind == "periodic" else "cluster"  # a lone molecule is a 1-molecule cluster
                structure = structure_row(session, store, frame.atoms, kind, {"import": path.name, "frame": index})
                member_ids.add(structure.id)
                if structure.id not in labels_at_level(session, [structure.id], level_id):
                    arrays = {"forces_eV_ang": frame.forces_eV_ang}
                    if frame.stress_eV_ang3 is not None:
                        arrays["stress_eV_ang3"] = frame.stress_eV_ang3
                    arrays_file, arrays_sha = store.put_arrays(**arrays)
                    session.add(
                        Label(
                            structure_id=structure.id,
                            level_of_theory_id=level_id,
                            status="ok",
                            energy_ev=frame.energy_eV,
                            arrays_file=arrays_file,
                            arrays_sha256=arrays_sha,
                            error=None,
                            wall_time_s=0.0,
                            host="imported",
                            attempts=1,
                        )
                    )
                    new_labels += 1
            session.add_all(SampleMember(sample_set_id=sample_set.id, structure_id=i) for i in sorted(member_ids))
            sample_set.wall_time_s = time.perf_counter() - start
            if campaign_id is not None:
                link_to_campaign(session, campaign_id, "sample_set", sample_set.id)
            return ImportSummary(sample_set.id, len(member_ids), new_labels, level.name)


@task(retries=1)
def import_dataset(ws: Workspace, dataset: ImportedDataset) -> int:
    """Id of the sample set holding the imported structures (re-importing the same file is a no-op)."""
    summary = import_labelled_file(
        ws.db_url,
        ws.store,
        dataset.path,
        dataset.level_of_theory,
        dataset.name,
        ws.campaign_id,
        **dataset.reading,
    )
    get_run_logger().info(
        "imported %s: %d structures, %d new labels at %s",
        dataset.name,
        summary.n_structures,
        summary.n_new_labels,
        summary.level_name,
    )
    return summary.sample_set_id


def stored_labels(db_url: str, store: FileStore, level_name: str, kind: str | None = None) -> list[LabelledStructure]:
    """Every good label at a level (stored name, e.g. ``declared:pbe-d3bj/def2-svp``), of one kind if
    given, in structure-hash order."""
    with session_scope(db_url) as session:
        rows = labelled_structures(session, level_name, kind)
    labelled = []
    for row in rows:
        arrays = store.get_arrays(row.arrays_file)
        labelled.append(
            LabelledStructure(
                atoms=store.get_atoms(row.structure_file),
                energy_eV=row.energy_ev,
                forces_eV_ang=arrays["forces_eV_ang"],
                stress_eV_ang3=arrays.get("stress_eV_ang3"),
                kind="periodic" if row.pbc else "cluster",
            )
        )
    return labelled
