"""select, train and evaluate: datasets from labels, one MACE model per seed, errors per split."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from prefect import get_run_logger, task
from sqlalchemy import select

from mlipcamp.db.engine import session_scope
from mlipcamp.db.models import Dataset, DatasetMember, Label, Model, SampleMember, Structure
from mlipcamp.db.records import find_by_key, get_or_create, level_row, link_to_campaign, record_artifact
from mlipcamp.settings.campaign import MaceHyperparameters
from mlipcamp.science.datasets import select_subset, split_by_hash, write_extxyz
from mlipcamp.science.evaluation import decomposition_errors, decomposition_plot, error_metrics, parity_plot, predict
from mlipcamp.hashing import hash_json, sha256_file
from mlipcamp.science.qm import get_level
from mlipcamp.report.tables import format_value
from mlipcamp.science.selection import farthest_point_subset, structure_fingerprint
from mlipcamp.science.training import MaceSettings, TrainingError, fit_e0s, resolve_device, train_mace
from mlipcamp.tasks.workspace import Workspace

SPLITS = ("train", "valid", "test")


@task(retries=1)
def assemble_dataset(
    ws: Workspace, sample_set_ids: list[int], level_name: str, data_kind: str, valid_fraction: float,
    test_fraction: float, size: int | None, replica: int, selection: str = "random",
) -> int:
    """Id of the dataset of good labels of one kind at one level: test and validation sets fixed by
    structure hash, the training set all the rest (size None) or a subset of it chosen at random or
    by farthest-point sampling (``selection``), reproducible from ``replica``."""
    level = get_level(level_name)
    with session_scope(ws.db_url) as session:
        level_id = level_row(session, level).id
        rows = session.execute(
            select(Label.id, Structure.hash, Structure.file)
            .join(Structure, Structure.id == Label.structure_id)
            .join(SampleMember, SampleMember.structure_id == Structure.id)
            .where(
                SampleMember.sample_set_id.in_(sample_set_ids),
                Structure.kind == data_kind,
                Label.level_of_theory_id == level_id,
                Label.status == "ok",
            )
            .distinct()
            .order_by(Structure.hash)
        ).all()
        if len(rows) < 3:
            raise ValueError(f"only {len(rows)} good {data_kind} labels at {level.name}: too few to train on")
        hashes = [h for _, h, _ in rows]
        selection = "all" if size is None else selection
        key = hash_json(
            {"step": "dataset/3", "level": level.hash, "kind": data_kind, "structures": hashes,
             "valid_fraction": valid_fraction, "test_fraction": test_fraction, "size": size, "replica": replica,
             "selection": selection}
        )
        if (dataset := find_by_key(session, Dataset, key)) is not None:
            return dataset.id
        splits = split_by_hash(hashes, valid_fraction, test_fraction)
        pool = [i for i, split in enumerate(splits) if split == "train"]
        if selection == "fps":
            fingerprints = np.array([structure_fingerprint(ws.store.get_atoms(rows[i][2])) for i in pool])
            picked = farthest_point_subset(fingerprints, size, replica)
        else:
            picked = select_subset(len(pool), size, replica)
        chosen = {pool[i] for i in picked}
        members = [(rows[i][0], split) for i, split in enumerate(splits) if split != "train" or i in chosen]
        dataset = get_or_create(
            session,
            Dataset,
            {"key": key},
            level_of_theory_id=level_id,
            data_kind=data_kind,
            size=len(chosen),
            subset_replica=replica,
            selection=selection,
            n_train=len(chosen),
            n_valid=splits.count("valid"),
            n_test=splits.count("test"),
        )
        session.add_all(DatasetMember(dataset_id=dataset.id, label_id=label_id, split=split) for label_id, split in members)
        return dataset.id


@task(retries=1)
def train_model(
    ws: Workspace, dataset_id: int, seed: int, hyper: MaceHyperparameters, device: str, n_threads: int, name: str,
    purpose: str = "grid", base: int | str | None = None,
) -> int:
    """Id of the MACE model trained on a dataset with a seed (a failed training is recorded, not raised).

    ``base`` fine-tunes a base model: the id of one trained here, or a MACE ``.model`` file. The purpose
    (grid, base, finetune, scan) is part of the model's identity, so a scan setting that equals a grid
    model is trained and timed in its own right.
    """
    import mace

    logger = get_run_logger()
    settings = MaceSettings(
        num_channels=hyper.num_channels, max_L=hyper.max_L, num_interactions=hyper.num_interactions,
        correlation=hyper.correlation, r_max_ang=hyper.r_max, batch_size=hyper.batch_size,
        max_epochs=hyper.max_epochs, lr=hyper.lr, energy_weight=hyper.energy_weight,
        forces_weight=hyper.forces_weight, default_dtype=hyper.default_dtype, enable_cueq=hyper.enable_cueq,
        stage_two=hyper.stage_two,
    )
    with session_scope(ws.db_url) as session:
        dataset = session.get(Dataset, dataset_id)
        base_id, base_path, base_sha, base_problem = _base_model(session, ws, base)
        key = hash_json(
            {"step": "train/2", "dataset": dataset.key, "seed": seed, "hyper": hyper.model_dump(mode="json"),
             "mace": mace.__version__, "base_model": base_sha, "purpose": purpose}
        )
        if (model := find_by_key(session, Model, key)) is not None and model.status == "ok":
            link_to_campaign(session, ws.campaign_id, "model", model.id)
            return model.id
        members = _dataset_members(session, ws, dataset_id)

    fields: dict = {"status": "failed", "error": base_problem}
    if base_problem is None:
        fields = _train(ws, key, members, settings, seed, device, n_threads, base_path, name, logger)
    with session_scope(ws.db_url) as session:
        model = get_or_create(
            session, Model, {"key": key}, name=name, dataset_id=dataset_id, seed=seed, purpose=purpose,
            base_model_id=base_id, base_model_sha256=base_sha, hyperparameters=hyper.model_dump(mode="json"),
            status=fields["status"],
        )
        for field, value in fields.items():
            setattr(model, field, value)
        link_to_campaign(session, ws.campaign_id, "model", model.id)
        return model.id


def _base_model(session, ws: Workspace, base: int | str | None) -> tuple[int | None, Path | None, str | None, str | None]:
    """(own base model id, file, sha256, why it cannot be used) of a fine-tuning run's base."""
    if base is None:
        return None, None, None, None
    if isinstance(base, str):
        return None, Path(base), sha256_file(base), None
    row = session.get(Model, base)
    if row.status != "ok":
        return row.id, None, None, f"base model {row.name} failed: {row.error}"
    return row.id, ws.store.path(row.file), row.file_sha256, None


def _train(ws: Workspace, key: str, members, settings: MaceSettings, seed: int, device: str, n_threads: int,
           base_path: Path | None, name: str, logger) -> dict:
    """Train in a scratch directory; the model row's fields, status ok or failed with the reason."""
    work_dir = ws.scratch("train", key[:16])
    files = {}
    for split in ("train", "valid"):
        atoms, energies, forces = members[split]
        files[split] = write_extxyz(atoms, work_dir / f"{split}.extxyz", energies, forces)
    train_atoms, train_energies, _ = members["train"]
    if settings.batch_size > len(train_atoms):
        logger.warning("%s: batch size %d > %d training structures; using %d", name, settings.batch_size,
                       len(train_atoms), len(train_atoms))
        settings = dataclasses.replace(settings, batch_size=len(train_atoms))
    e0s = fit_e0s([a.numbers for a in train_atoms], train_energies)
    try:
        result = train_mace(files["train"], files["valid"], settings, seed, e0s, work_dir, device=device,
                            n_threads=n_threads, base_model=base_path)
    except TrainingError as exc:
        logger.error("training %s failed: %s", name, exc)
        return {"status": "failed", "error": str(exc)}
    file, file_sha = ws.store.put_file(result.model_path, ".model")
    logger.info("trained %s on %s in %.0f s (%s s/epoch, peak memory %s MiB)", name, result.device,
                result.train_time_s, format_value(result.seconds_per_epoch), format_value(result.peak_memory_mb))
    return {
        "status": "ok", "error": None, "device": result.device, "mace_version": result.mace_version,
        "e0s_ev": {str(z): e for z, e in result.e0s.items()}, "train_time_s": result.train_time_s,
        "seconds_per_epoch": result.seconds_per_epoch, "epochs": result.epochs,
        "peak_memory_mb": result.peak_memory_mb, "file": file, "file_sha256": file_sha,
    }


@task(retries=1)
def evaluate_model(ws: Workspace, model_id: int, device: str, test_sets: Sequence[tuple[str, int, str]] = ()) -> int:
    """Fill in a model's RMSE/MAE of energy per atom and forces on train/valid/test and on each imported
    test set ``(name, sample set id, level name)``; parity and force-decomposition plots of the test set."""
    with session_scope(ws.db_url) as session:
        model = session.get(Model, model_id)
        evaluated = set((model.metrics or {}).get("external", {}))
        if model.status != "ok" or (model.rmse_e_test_mev_per_atom is not None and evaluated >= {t[0] for t in test_sets}):
            return model_id
        name, model_path, dtype = model.name, ws.store.path(model.file), model.hyperparameters["default_dtype"]
        members = _dataset_members(session, ws, model.dataset_id)
        external = {test: _labelled_members(session, ws, sample_set_id, level) for test, sample_set_id, level in test_sets}
        training_hashes = set(_dataset_hashes(session, model.dataset_id, "train"))

    device = resolve_device(device)
    metrics: dict[str, dict] = {}
    for split, (atoms, energies, forces) in members.items():
        pred_e, pred_f = predict(model_path, atoms, device=device, default_dtype=dtype)
        n_atoms = [len(a) for a in atoms]
        metrics[split] = error_metrics(energies, pred_e, n_atoms, forces, pred_f)
        if split == "test":
            plot = parity_plot(energies, pred_e, n_atoms, forces, pred_f, ws.plot_path(name, "parity"), f"{name}: test set")
            metrics[split]["force_decomposition"] = decomposition_errors(atoms, forces, pred_f)
            bars = decomposition_plot(metrics[split]["force_decomposition"], ws.plot_path(name, "force_decomposition"),
                                      f"{name}: test-set force errors")
    metrics["external"] = {}
    for (test, _, level), (atoms, energies, forces, hashes) in zip(test_sets, external.values(), strict=True):
        pred_e, pred_f = predict(model_path, atoms, device=device, default_dtype=dtype)
        metrics["external"][test] = error_metrics(energies, pred_e, [len(a) for a in atoms], forces, pred_f) | {
            "level_of_theory": level, "n_structures": len(atoms), "n_in_training": len(training_hashes & set(hashes))}

    with session_scope(ws.db_url) as session:
        model = session.get(Model, model_id)
        for split in SPLITS:
            setattr(model, f"rmse_e_{split}_mev_per_atom", metrics[split]["rmse_e_mev_per_atom"])
            setattr(model, f"rmse_f_{split}_mev_per_ang", metrics[split]["rmse_f_mev_per_ang"])
        model.metrics = metrics
        record_artifact(session, f"model:{model_id}", "parity", "plot", plot)
        record_artifact(session, f"model:{model_id}", "force_decomposition", "plot", bars)
    return model_id


def _dataset_members(session, ws: Workspace, dataset_id: int) -> dict[str, tuple[list, list[float], list[np.ndarray]]]:
    """(structures, energies eV, forces eV/Å) per split of a dataset, in a stable order."""
    rows = session.execute(
        select(DatasetMember.split, Structure.file, Label.energy_ev, Label.arrays_file)
        .join(Label, Label.id == DatasetMember.label_id)
        .join(Structure, Structure.id == Label.structure_id)
        .where(DatasetMember.dataset_id == dataset_id)
        .order_by(Structure.hash)
    ).all()
    members: dict[str, tuple[list, list[float], list[np.ndarray]]] = {s: ([], [], []) for s in SPLITS}
    for split, structure_file, energy, arrays_file in rows:
        atoms, energies, forces = members[split]
        atoms.append(ws.store.get_atoms(structure_file))
        energies.append(energy)
        forces.append(ws.store.get_arrays(arrays_file)["forces_eV_ang"])
    return members



def _dataset_hashes(session, dataset_id: int, split: str) -> list[str]:
    """Structure hashes of one split of a dataset."""
    return list(session.scalars(
        select(Structure.hash)
        .join(Label, Label.structure_id == Structure.id)
        .join(DatasetMember, DatasetMember.label_id == Label.id)
        .where(DatasetMember.dataset_id == dataset_id, DatasetMember.split == split)
    ))


def _labelled_members(session, ws: Workspace, sample_set_id: int, level_name: str) -> tuple[list, list[float], list, list[str]]:
    """(structures, energies eV, forces eV/Å, structure hashes) of a sample set's good labels at one level."""
    level_id = level_row(session, get_level(level_name)).id
    rows = session.execute(
        select(Structure.file, Structure.hash, Label.energy_ev, Label.arrays_file)
        .join(Label, Label.structure_id == Structure.id)
        .join(SampleMember, SampleMember.structure_id == Structure.id)
        .where(SampleMember.sample_set_id == sample_set_id, Label.level_of_theory_id == level_id, Label.status == "ok")
        .order_by(Structure.hash)
    ).all()
    if not rows:
        raise ValueError(f"sample set {sample_set_id} has no good labels at {level_name}")
    return (
        [ws.store.get_atoms(file) for file, *_ in rows],
        [energy for _, _, energy, _ in rows],
        [ws.store.get_arrays(arrays)["forces_eV_ang"] for *_, arrays in rows],
        [digest for _, digest, *_ in rows],
    )
