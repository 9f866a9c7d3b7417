"""select and train: datasets from labels, one MACE model per dataset, seed and hyperparameters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from ase import Atoms
from prefect import get_run_logger, task
from prefect.states import State

from mlipcamp.db.engine import Session, session_scope
from mlipcamp.db.models import Dataset, DatasetMember, Model
from mlipcamp.db.queries import LabelRow, dataset_labels, good_labels_of_sample_sets, training_atoms
from mlipcamp.db.records import find_by_key, get_or_create, link_to_campaign
from mlipcamp.db.step_lock import step_lock
from mlipcamp.db.store import FileStore
from mlipcamp.hashing import sha256_file
from mlipcamp.science.datasets import write_extxyz
from mlipcamp.science.provenance import where
from mlipcamp.science.qm import get_level
from mlipcamp.science.selection import dataset_members
from mlipcamp.science.training.mace import TrainingError, fit_e0s, train_mace
from mlipcamp.science.training.settings import MaceHyperparameters
from mlipcamp.settings.execution import TrainingExecution
from mlipcamp.tables import format_value
from mlipcamp.tasks.artifacts import flagged
from mlipcamp.tasks.keys import step_key
from mlipcamp.tasks.label import level_row_id
from mlipcamp.tasks.workspace import Workspace

SPLITS = ("train", "valid", "test")


class LabelledData(NamedTuple):
    """Labelled structures: energies (eV), forces (eV/Å), Voigt stresses (eV/Å³; None for a cluster)."""

    atoms: list[Atoms]
    energies_eV: list[float]
    forces_eV_ang: list[np.ndarray]
    stresses_eV_ang3: list[np.ndarray | None]


@task(retries=1)
def assemble_dataset(
    ws: Workspace,
    sample_set_ids: list[int],
    level_name: str,
    data_kind: str,
    valid_fraction: float,
    test_fraction: float,
    size: int | None,
    replica: int,
    selection: str = "random",
) -> int:
    """Id of the dataset of good labels of one kind at one level: test and validation sets fixed by
    structure hash, the training set all the rest (size None) or a subset of it chosen at random or
    by farthest-point sampling (``selection``), reproducible from ``replica``."""
    level = get_level(level_name)
    with session_scope(ws.db_url) as session:
        level_id = level_row_id(session, level)
        rows = good_labels_of_sample_sets(session, sample_set_ids, level_id, data_kind)
        if len(rows) < 3:
            raise ValueError(f"only {len(rows)} good {data_kind} labels at {level.name}: too few to train on")
        hashes = [row.structure_hash for row in rows]
        selection = "all" if size is None else selection
        key = step_key(
            "dataset",
            level=level.hash,
            kind=data_kind,
            structures=hashes,
            valid_fraction=valid_fraction,
            test_fraction=test_fraction,
            size=size,
            replica=replica,
            selection=selection,
        )
        if (dataset := find_by_key(session, Dataset, key)) is not None:
            return dataset.id
        splits = dataset_members(
            hashes,
            valid_fraction,
            test_fraction,
            size,
            replica,
            selection,
            lambda i: ws.store.get_atoms(rows[i].structure_file),
        )
        dataset = get_or_create(
            session,
            Dataset,
            {"key": key},
            level_of_theory_id=level_id,
            data_kind=data_kind,
            size=splits.count("train"),
            subset_replica=replica,
            selection=selection,
            n_train=splits.count("train"),
            n_valid=splits.count("valid"),
            n_test=splits.count("test"),
        )
        session.add_all(
            DatasetMember(dataset_id=dataset.id, label_id=row.label_id, split=split)
            for row, split in zip(rows, splits, strict=True)
            if split is not None
        )
        return dataset.id


@task
def training_size(ws: Workspace, dataset_id: int) -> int:
    """Atoms in a dataset's training split: times the epochs, how long its training runs."""
    with session_scope(ws.db_url) as session:
        return training_atoms(session, dataset_id)


@task(retries=1)
def train_model(
    ws: Workspace,
    dataset_id: int,
    seed: int,
    hyper: MaceHyperparameters,
    execution: TrainingExecution,
    name: str,
    purpose: str = "grid",
    base: int | str | None = None,
    e0s: dict[int, float] | None = None,
) -> int | State[int]:
    """Id of the MACE model trained on a dataset with a seed (a failed training is recorded, not raised).

    ``e0s`` are the per-element reference energies (eV); None fits them by least squares to the
    training set. ``base`` fine-tunes a base model: the id of one trained here, or a MACE ``.model`` file. The purpose
    (grid, base, finetune, scan) is part of the model's identity, so a scan setting that equals a grid
    model is trained and timed in its own right.
    """
    import mace

    logger = get_run_logger()
    with session_scope(ws.db_url) as session:
        dataset = session.get(Dataset, dataset_id)
        base_id, base_path, base_sha, base_problem = _base_model(session, ws, base)
        key = step_key(
            "train",
            dataset=dataset.key,
            seed=seed,
            hyper=hyper.identity(),
            mace=mace.__version__,
            base_model=base_sha,
            purpose=purpose,
            e0s="least_squares" if e0s is None else {str(z): e for z, e in sorted(e0s.items())},
        )
    with step_lock(ws.db_url, key):  # campaigns sharing a database train a model once
        with session_scope(ws.db_url) as session:
            if (model := find_by_key(session, Model, key)) is not None and model.status == "ok":
                link_to_campaign(session, ws.campaign_id, "model", model.id)
                return model.id
            members = dataset_splits(session, ws.store, dataset_id)

        fields: dict = {"status": "failed", "error": base_problem}
        if base_problem is None:
            fields = _train(ws, key, members, hyper, seed, execution, base_path, name, logger, e0s)
        with session_scope(ws.db_url) as session:
            model = get_or_create(
                session,
                Model,
                {"key": key},
                name=name,
                dataset_id=dataset_id,
                seed=seed,
                purpose=purpose,
                base_model_id=base_id,
                base_model_sha256=base_sha,
                hyperparameters=hyper.identity(),
                status=fields["status"],
            )
            for field, value in fields.items():
                setattr(model, field, value)
            link_to_campaign(session, ws.campaign_id, "model", model.id)
            if model.status != "ok":
                return flagged(model.id, "TrainingFailed", f"{name}: {model.error}")
            return model.id


def _base_model(
    session: Session, ws: Workspace, base: int | str | None
) -> tuple[int | None, Path | None, str | None, str | None]:
    """(own base model id, file, sha256, why it cannot be used) of a fine-tuning run's base."""
    if base is None:
        return None, None, None, None
    if isinstance(base, str):
        return None, Path(base), sha256_file(base), None
    row = session.get(Model, base)
    if row.status != "ok":
        return row.id, None, None, f"base model {row.name} failed: {row.error}"
    return row.id, ws.store.path(row.file), row.file_sha256, None


def _train(
    ws: Workspace,
    key: str,
    members: dict[str, LabelledData],
    hyper: MaceHyperparameters,
    seed: int,
    execution: TrainingExecution,
    base_path: Path | None,
    name: str,
    logger,
    e0s: dict[int, float] | None,
) -> dict:
    """Train in a scratch directory (E0s fitted to the training set unless given); the model row's
    fields, status ok or failed with the reason."""
    train_atoms, train_energies = members["train"].atoms, members["train"].energies_eV
    if hyper.batch_size > len(train_atoms):
        logger.warning(
            "%s: batch size %d > %d training structures; using %d",
            name,
            hyper.batch_size,
            len(train_atoms),
            len(train_atoms),
        )
        hyper = hyper.model_copy(update={"batch_size": len(train_atoms)})
    if e0s is None:
        e0s = fit_e0s([a.numbers for a in train_atoms], train_energies)
    try:
        work_dir = ws.scratch("train", key[:16])
        files = {
            split: write_extxyz(*members[split], path=work_dir / f"{split}.extxyz") for split in ("train", "valid")
        }
        result = train_mace(
            files["train"],
            files["valid"],
            hyper,
            seed,
            e0s,
            work_dir,
            device=execution.device,
            n_threads=execution.n_threads,
            base_model=base_path,
        )
        file, file_sha = ws.store.put_file(result.model_path, ".model")
    except (TrainingError, OSError) as exc:  # OSError: a scratch or store file could not be written
        error = str(exc) if isinstance(exc, TrainingError) else f"{type(exc).__name__}: {exc}"
        logger.error("training %s failed: %s", name, error)
        return {"status": "failed", "error": error}
    logger.info(
        "trained %s on %s in %.0f s (%s s/epoch, peak memory %s MiB)",
        name,
        result.device,
        result.train_time_s,
        format_value(result.seconds_per_epoch),
        format_value(result.peak_memory_mb),
    )
    return {
        "status": "ok",
        "error": None,
        "device": f"{result.device} on {where()}",
        "mace_version": result.mace_version,
        "e0s_ev": {str(z): e for z, e in result.e0s.items()},
        "train_time_s": result.train_time_s,
        "seconds_per_epoch": result.seconds_per_epoch,
        "epochs": result.epochs,
        "peak_memory_mb": result.peak_memory_mb,
        "file": file,
        "file_sha256": file_sha,
    }


def load_labels(store: FileStore, rows: Sequence[LabelRow]) -> LabelledData:
    """Structures, energies (eV), forces (eV/Å) and stresses (eV/Å³) of labels, from the file store."""
    arrays = [store.get_arrays(row.arrays_file) for row in rows]
    return LabelledData(
        [store.get_atoms(row.structure_file) for row in rows],
        [row.energy_ev for row in rows],
        [a["forces_eV_ang"] for a in arrays],
        [a.get("stress_eV_ang3") for a in arrays],
    )


def dataset_splits(session: Session, store: FileStore, dataset_id: int) -> dict[str, LabelledData]:
    """The labelled structures of each split of a dataset, in structure-hash order."""
    members = dataset_labels(session, dataset_id)
    return {split: load_labels(store, [row for s, row in members if s == split]) for split in SPLITS}
