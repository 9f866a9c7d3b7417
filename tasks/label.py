"""label: QM energies and forces for batches of structures on Dask workers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prefect import get_run_logger, task
from prefect.states import State

from mlipcamp.db.engine import Session, session_scope
from mlipcamp.db.models import Label
from mlipcamp.db.queries import labels_at_level, structure_sizes, structures_by_id
from mlipcamp.db.records import level_row, write_labels
from mlipcamp.science.qm import LabelResult, LevelOfTheory, get_level, label_structures
from mlipcamp.tasks.artifacts import flagged
from mlipcamp.tasks.workspace import Workspace


@dataclass(frozen=True)
class LabelWork:
    """The labelling left to do: per level of theory, the atom counts (by id, in id order) of the
    structures without a final label there, out of ``n_structures`` candidates."""

    n_structures: int
    todo: dict[str, dict[int, int]]

    @property
    def n_final(self) -> int:
        """(structure, level) pairs labelled already (by the sampling MD or an earlier run)."""
        return self.n_structures * len(self.todo) - sum(len(sizes) for sizes in self.todo.values())


@task
def structures_to_label(
    ws: Workspace, sample_set_ids: list[int], data_kinds: Sequence[str], level_names: Sequence[str], retries: int
) -> LabelWork:
    """The structures of the trained data kinds in these sample sets still to label at each level:
    those with a final label there (``final_labels``) are left out, so that the batches are
    balanced over the work that remains (the sampling MD labels periodic snapshots itself)."""
    with session_scope(ws.db_url) as session:
        sizes = structure_sizes(session, sample_set_ids, list(data_kinds))
        todo = {}
        for name in level_names:
            final = final_labels(labels_at_level(session, list(sizes), level_row_id(session, get_level(name))), retries)
            todo[name] = {i: n for i, n in sizes.items() if i not in final}
    return LabelWork(len(sizes), todo)


def final_labels(labels: Mapping[int, Label], retries: int) -> set[int]:
    """Ids of the structures whose label is final: good, or failed after ``retries`` reruns."""
    return {i for i, label in labels.items() if label.status == "ok" or label.attempts > retries}


def level_row_id(session: Session, level: LevelOfTheory) -> int:
    """Row id of a level of theory (created on first use)."""
    return level_row(session, level.hash, **level.model_dump()).id


@task(retries=1)
def label_batch(
    ws: Workspace, structure_ids: list[int], level_name: str, n_threads: int, retries: int
) -> dict[str, int] | State[dict[str, int]]:
    """Label the structures that have no final label at this level; return counts ok / failed / reused."""
    logger = get_run_logger()
    level = get_level(level_name)
    with session_scope(ws.db_url) as session:
        level_id = level_row_id(session, level)
        labels = labels_at_level(session, structure_ids, level_id)
        final = final_labels(labels, retries)
        todo = [s for s in structures_by_id(session, structure_ids) if s.id not in final]
        atoms = [ws.store.get_atoms(s.file) for s in todo]
        previous_attempts = {s.id: labels[s.id].attempts if s.id in labels else 0 for s in todo}
    if not todo:
        return {"ok": 0, "failed": 0, "reused": len(structure_ids)}

    results = label_structures(atoms, level, n_threads=n_threads)
    attempts = [previous_attempts[s.id] + 1 for s in todo]
    for _ in range(retries):
        again = [i for i, r in enumerate(results) if not r.ok and attempts[i] <= retries]
        if not again:
            break
        for i, result in zip(
            again, label_structures([atoms[i] for i in again], level, n_threads=n_threads), strict=True
        ):
            results[i] = result
            attempts[i] += 1

    with session_scope(ws.db_url) as session:
        record_labels(session, ws, level_id, [s.id for s in todo], results, attempts)
    n_ok = sum(r.ok for r in results)
    for structure, result in zip(todo, results, strict=True):
        if not result.ok:
            logger.warning("label failed for structure %d (%s): %s", structure.id, structure.formula, result.error)
    logger.info(
        "%s: %d labelled, %d failed, %d reused", level.name, n_ok, len(results) - n_ok, len(structure_ids) - len(todo)
    )
    counts = {"ok": n_ok, "failed": len(results) - n_ok, "reused": len(structure_ids) - len(todo)}
    if counts["failed"]:
        first = next(r.error for r in results if not r.ok)
        return flagged(counts, "LabelsFailed", f"{counts['failed']} of {len(results)} labels failed; first: {first}")
    return counts


def record_labels(
    session: Session,
    ws: Workspace,
    level_id: int,
    structure_ids: Sequence[int],
    results: Sequence[LabelResult],
    attempts: Sequence[int],
) -> None:
    """Store a batch's outcomes at a level, replacing failed labels (forces and stress in the file store)."""
    fields = {
        structure_id: _label_fields(result, n_attempts, _store_arrays(ws, result))
        for structure_id, result, n_attempts in zip(structure_ids, results, attempts, strict=True)
    }
    write_labels(session, level_id, fields)


def record_label(
    session: Session, ws: Workspace, structure_id: int, level_id: int, result: LabelResult, attempts: int
) -> None:
    """Store a label's outcome for a structure at a level (replacing a failed one)."""
    record_labels(session, ws, level_id, [structure_id], [result], [attempts])


def _store_arrays(ws: Workspace, result: LabelResult) -> tuple[str | None, str | None]:
    """The label's forces (and stress) in the file store: (relative path, sha256); None for a failure."""
    if not result.ok:
        return None, None
    arrays = {"forces_eV_ang": result.forces_eV_ang}
    if result.stress_eV_ang3 is not None:
        arrays["stress_eV_ang3"] = result.stress_eV_ang3
    return ws.store.put_arrays(**arrays)


def _label_fields(result: LabelResult, attempts: int, file: tuple[str | None, str | None]) -> dict:
    return {
        "status": "ok" if result.ok else "failed",
        "energy_ev": result.energy_eV if result.ok else None,
        "arrays_file": file[0],
        "arrays_sha256": file[1],
        "error": result.error,
        "wall_time_s": result.wall_time_s,
        "host": result.host,
        "attempts": attempts,
    }


@task
def record_label_failure(ws: Workspace, structure_id: int, level_name: str, reason: str) -> State[None]:
    """Store a failed label for a structure whose labelling task itself was lost (e.g. its worker died)."""
    level = get_level(level_name)
    with session_scope(ws.db_url) as session:
        level_id = level_row_id(session, level)
        label = labels_at_level(session, [structure_id], level_id).get(structure_id)
        attempts = (label.attempts if label is not None else 0) + 1
        failure = LabelResult(False, None, None, None, reason, 0.0, "lost")
        record_label(session, ws, structure_id, level_id, failure, attempts)
    get_run_logger().warning("structure %d at %s recorded as failed: %s", structure_id, level.name, reason)
    return flagged(None, "LabelFailed", f"structure {structure_id} at {level.name}: {reason}")
