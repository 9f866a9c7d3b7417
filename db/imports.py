"""Import a user's labelled extxyz file: structures and labels under a declared level of theory."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from mlipcamp.db.engine import session_scope
from mlipcamp.db.models import Label, SampleMember, SampleSet
from mlipcamp.db.records import find_by_key, level_row, link_to_campaign, structure_row
from mlipcamp.science.datasets import read_labelled_extxyz
from mlipcamp.hashing import hash_json, sha256_file
from mlipcamp.science.qm.levels import declared_level
from mlipcamp.db.store import FileStore


@dataclass(frozen=True)
class ImportSummary:
    sample_set_id: int
    n_structures: int
    n_new_labels: int
    level_name: str


def import_labelled_file(
    db_url: str, store: FileStore, path: str | Path, level_spec: str, name: str, campaign_id: int | None = None,
    energy_key: str = "REF_energy", forces_key: str = "REF_forces", stress_key: str | None = "REF_stress",
    energy_unit: str = "eV", length_unit: str = "Å",
) -> ImportSummary:
    """Store every frame of ``path`` with its label at the declared level ``level_spec``; idempotent per file content."""
    path = Path(path)
    level = declared_level(level_spec)
    reading = {"energy_key": energy_key, "forces_key": forces_key, "stress_key": stress_key,
               "energy_unit": energy_unit, "length_unit": length_unit}
    key = hash_json({"step": "import/1", "file": sha256_file(path), "level": level.hash, "reading": reading})
    with session_scope(db_url) as session:
        if (existing := find_by_key(session, SampleSet, key)) is not None:
            if campaign_id is not None:
                link_to_campaign(session, campaign_id, "sample_set", existing.id)
            return ImportSummary(existing.id, len(existing.members), 0, level.name)
    start = time.perf_counter()
    frames = read_labelled_extxyz(path, **reading)
    with session_scope(db_url) as session:
        level_id = level_row(session, level).id
        sample_set = SampleSet(key=key, liquid=name, box_structure_id=None, potential=f"imported from {path.name}",
                               temperature_k=None, n_steps=None, timestep_fs=None,
                               settings=reading | {"file": str(path.resolve())}, wall_time_s=0.0)
        session.add(sample_set)
        session.flush()
        new_labels, member_ids = 0, set()
        for index, frame in enumerate(frames):
            kind = "periodic" if frame.kind == "periodic" else "cluster"  # a lone molecule is a 1-molecule cluster
            structure = structure_row(session, store, frame.atoms, kind, {"import": path.name, "frame": index})
            member_ids.add(structure.id)
            exists = session.scalars(select(Label.id).filter_by(structure_id=structure.id, level_of_theory_id=level_id)).first()
            if exists is None:
                arrays = {"forces_eV_ang": frame.forces_eV_ang}
                if frame.stress_eV_ang3 is not None:
                    arrays["stress_eV_ang3"] = frame.stress_eV_ang3
                arrays_file, arrays_sha = store.put_arrays(**arrays)
                session.add(Label(structure_id=structure.id, level_of_theory_id=level_id, status="ok",
                                  energy_ev=frame.energy_eV, arrays_file=arrays_file, arrays_sha256=arrays_sha,
                                  error=None, wall_time_s=0.0, host="imported", attempts=1))
                new_labels += 1
        session.add_all(SampleMember(sample_set_id=sample_set.id, structure_id=i) for i in sorted(member_ids))
        sample_set.wall_time_s = time.perf_counter() - start
        if campaign_id is not None:
            link_to_campaign(session, campaign_id, "sample_set", sample_set.id)
        return ImportSummary(sample_set.id, len(member_ids), new_labels, level.name)
