"""Read-side queries used by flows, the CLI and the report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlipcamp.db.models import (
    Artifact,
    CampaignMember,
    Dataset,
    DatasetMember,
    Label,
    LevelOfTheoryRow,
    MDRun,
    Model,
    Observable,
    RankingStabilityRow,
    SampleMember,
    SampleSet,
    SensitivityComponent,
    Structure,
)


def structure_sizes(session: Session, sample_set_ids: list[int], kinds: list[str]) -> dict[int, int]:
    """Atom counts of the structures of the given kinds in these sample sets, by id, in id order."""
    query = (
        select(Structure.id, Structure.n_atoms)
        .join(SampleMember, SampleMember.structure_id == Structure.id)
        .where(SampleMember.sample_set_id.in_(sample_set_ids), Structure.kind.in_(kinds))
        .distinct()
        .order_by(Structure.id)
    )
    return dict(session.execute(query).tuples().all())


def structures_of_sample_sets(session: Session, sample_set_ids: list[int], kinds: list[str]) -> list[int]:
    """Ids of the structures of the given kinds in these sample sets, in id order."""
    return list(structure_sizes(session, sample_set_ids, kinds))


def campaign_row_ids(session: Session, campaign_id: int, table: str) -> list[int]:
    """Ids of the rows of ``table`` that a campaign produced or reused."""
    query = (
        select(CampaignMember.row_id)
        .where(CampaignMember.campaign_id == campaign_id, CampaignMember.table == table)
        .order_by(CampaignMember.row_id)
    )
    return list(session.scalars(query))


RESULT_COLUMNS = (
    "model",
    "liquid",
    "purpose",
    "seed",
    "level_of_theory",
    "data_kind",
    "dataset_size",
    "subset_replica",
    "rmse_e_test_mev_per_atom",
    "rmse_f_test_mev_per_ang",
    "md_status",
    "density_g_cm3",
    "density_sem_g_cm3",
    "density_converged",
    "diffusion_cm2_s",
    "diffusion_sem_cm2_s",
    "diffusion_note",
    "ns_per_day",
)
DIFFUSION_UNCONVERGED = "density not converged: not a liquid's D"
TEST_SET_PREFIX = "test_set_"  # columns of a model's errors on an imported test set


def test_set_errors(metrics: dict | None) -> dict[str, float | None]:
    """A model's RMSEs on each imported test set, as columns ``test_set_<name>_rmse_e_mev_per_atom``
    and ``test_set_<name>_rmse_f_mev_per_ang``."""
    external = (metrics or {}).get("external") or {}
    return {
        f"{TEST_SET_PREFIX}{name}_rmse_{q}_{unit}": errors.get(f"rmse_{q}_{unit}")
        for name, errors in sorted(external.items())
        for q, unit in (("e", "mev_per_atom"), ("f", "mev_per_ang"))
    }


def results_rows(session: Session, campaign_id: int, liquids: list[str]) -> list[dict]:
    """One row per model of the campaign and liquid: factors, test errors and the MD observables with SEMs."""
    model_ids = campaign_row_ids(session, campaign_id, "model")
    run_ids = campaign_row_ids(session, campaign_id, "md_run")
    runs = {(r.model_id, r.liquid): r for r in session.scalars(select(MDRun).where(MDRun.id.in_(run_ids)))}
    observables: dict[tuple[int, str], Observable] = {
        (o.md_run_id, o.name): o for o in session.scalars(select(Observable).where(Observable.md_run_id.in_(run_ids)))
    }
    rows = []
    query = (
        select(Model, Dataset, LevelOfTheoryRow)
        .join(Dataset, Dataset.id == Model.dataset_id)
        .join(LevelOfTheoryRow, LevelOfTheoryRow.id == Dataset.level_of_theory_id)
        .where(Model.id.in_(model_ids), Model.purpose != "scan")
        .order_by(
            LevelOfTheoryRow.name, Dataset.data_kind, Model.purpose, Dataset.size, Dataset.subset_replica, Model.seed
        )
    )
    for model, dataset, level in session.execute(query).all():
        for liquid in liquids:
            run = runs.get((model.id, liquid))
            density = observables.get((run.id, "density_g_cm3")) if run else None
            diffusion = observables.get((run.id, "diffusion_cm2_s")) if run else None
            rows.append(
                {
                    "model": model.name,
                    "liquid": liquid,
                    "purpose": model.purpose,
                    "seed": model.seed,
                    "level_of_theory": level.name,
                    "data_kind": dataset.data_kind,
                    "dataset_size": dataset.size,
                    "subset_replica": dataset.subset_replica,
                    "rmse_e_test_mev_per_atom": model.rmse_e_test_mev_per_atom,
                    "rmse_f_test_mev_per_ang": model.rmse_f_test_mev_per_ang,
                    "md_status": (run.status if run else ("no model" if model.status != "ok" else "pending")),
                    "md_error": run.error if run else None,  # why a run is unstable or failed
                    "density_g_cm3": density.value if density else None,
                    "density_sem_g_cm3": density.sem if density else None,
                    "density_converged": density.method.get("converged") if density else None,
                    "diffusion_cm2_s": diffusion.value if diffusion else None,
                    "diffusion_sem_cm2_s": diffusion.sem if diffusion else None,
                    "diffusion_note": DIFFUSION_UNCONVERGED
                    if density and not density.method.get("converged")
                    else None,
                    "ns_per_day": run.ns_per_day if run else None,
                    "test_set_errors": test_set_errors(model.metrics),
                    "observables": {
                        name: (o.value, o.sem) for (run_id, name), o in observables.items() if run and run_id == run.id
                    },  # every observable of the run: name -> (value, standard error)
                }
            )
    return rows


MODEL_COLUMNS = (
    "model",
    "purpose",
    "status",
    "level_of_theory",
    "data_kind",
    "selection",
    "dataset_size",
    "subset_replica",
    "seed",
    "device",
    "epochs",
    "train_time_s",
    "seconds_per_epoch",
    "peak_memory_mb",
    "rmse_e_train_mev_per_atom",
    "rmse_f_train_mev_per_ang",
    "rmse_e_valid_mev_per_atom",
    "rmse_f_valid_mev_per_ang",
    "rmse_e_test_mev_per_atom",
    "rmse_f_test_mev_per_ang",
)


def model_rows(session: Session, campaign_id: int) -> list[dict]:
    """One row per model of the campaign: factors, training cost, errors per split, hyperparameters, the
    force-decomposition and imported-test-set errors (dicts), and the failure reason."""
    query = (
        select(Model, Dataset, LevelOfTheoryRow)
        .join(Dataset, Dataset.id == Model.dataset_id)
        .join(LevelOfTheoryRow, LevelOfTheoryRow.id == Dataset.level_of_theory_id)
        .where(Model.id.in_(campaign_row_ids(session, campaign_id, "model")))
        .order_by(
            Model.purpose,
            LevelOfTheoryRow.name,
            Dataset.data_kind,
            Dataset.size,
            Dataset.subset_replica,
            Model.seed,
            Model.id,
        )
    )
    rows = []
    for model, dataset, level in session.execute(query).all():
        metrics = model.metrics or {}
        rows.append(
            {
                "model": model.name,
                "purpose": model.purpose,
                "status": model.status,
                "level_of_theory": level.name,
                "data_kind": dataset.data_kind,
                "selection": dataset.selection,
                "dataset_size": dataset.size,
                "subset_replica": dataset.subset_replica,
                "seed": model.seed,
                "device": model.device,
                "epochs": model.epochs,
                "train_time_s": model.train_time_s,
                "seconds_per_epoch": model.seconds_per_epoch,
                "peak_memory_mb": model.peak_memory_mb,
                **{
                    f"rmse_{q}_{split}_{unit}": getattr(model, f"rmse_{q}_{split}_{unit}")
                    for split in ("train", "valid", "test")
                    for q, unit in (("e", "mev_per_atom"), ("f", "mev_per_ang"))
                },
                **test_set_errors(metrics),
                "hyperparameters": model.hyperparameters,
                "force_decomposition": (metrics.get("test") or {}).get("force_decomposition"),
                "external": metrics.get("external", {}),
                "error": model.error,
            }
        )
    return rows


class StagePlan(NamedTuple):
    """What a campaign plans, as the status counts need it."""

    n_liquids: int
    n_boxes: int  # MD boxes, and sampling boxes when the campaign samples
    n_sample_sets: int
    levels: Sequence[str]
    data_kinds: Sequence[str]
    n_models: int


def campaign_status(session: Session, campaign_id: int, plan: StagePlan) -> list[dict]:
    """Per stage: planned, done, failed and pending counts (planned None where it is unknown yet)."""
    boxes = len(campaign_row_ids(session, campaign_id, "liquid_box"))
    sample_sets = list(
        session.scalars(
            select(SampleSet.id).where(
                SampleSet.id.in_(campaign_row_ids(session, campaign_id, "sample_set")),
                SampleSet.box_structure_id.is_not(None),
            )
        )
    )
    structure_ids = structures_of_sample_sets(session, sample_sets, list(plan.data_kinds)) if sample_sets else []
    label_counts = dict(
        session.execute(
            select(Label.status, func.count())
            .join(LevelOfTheoryRow, LevelOfTheoryRow.id == Label.level_of_theory_id)
            .where(Label.structure_id.in_(structure_ids), LevelOfTheoryRow.name.in_(plan.levels))
            .group_by(Label.status)
        ).all()
    )
    models = list(session.scalars(select(Model).where(Model.id.in_(campaign_row_ids(session, campaign_id, "model")))))
    runs = list(session.scalars(select(MDRun).where(MDRun.id.in_(campaign_row_ids(session, campaign_id, "md_run")))))
    ok_models = [m for m in models if m.status == "ok"]
    ok_runs = [r for r in runs if r.status == "ok"]
    analysed = set(
        session.scalars(
            select(Observable.md_run_id).where(
                Observable.md_run_id.in_([r.id for r in ok_runs]), Observable.name == "density_g_cm3"
            )
        )
    )
    label_planned = len(structure_ids) * len(plan.levels) if len(sample_sets) == plan.n_sample_sets else None
    rows = [
        ("build", plan.n_boxes, boxes, 0),
        ("sample", plan.n_sample_sets, len(sample_sets), 0),
        ("label", label_planned, label_counts.get("ok", 0), label_counts.get("failed", 0)),
        ("train", plan.n_models, len(ok_models), len(models) - len(ok_models)),
        ("evaluate", len(ok_models), sum(m.metrics is not None for m in ok_models), 0),
        (
            "simulate",
            sum(m.purpose != "scan" for m in ok_models) * plan.n_liquids,
            len(ok_runs),
            len(runs) - len(ok_runs),
        ),
        ("analyse", len(ok_runs), len(analysed), 0),
        ("compare", 1, int(_has_sensitivity(session, campaign_id)), 0),
    ]
    return [
        {
            "stage": stage,
            "planned": planned,
            "done": done,
            "failed": failed,
            "pending": None if planned is None else max(planned - done - failed, 0),
        }
        for stage, planned, done, failed in rows
    ]


def _has_sensitivity(session: Session, campaign_id: int) -> bool:
    query = select(SensitivityComponent.id).where(SensitivityComponent.campaign_id == campaign_id).limit(1)
    return session.scalar(query) is not None


class LabelRow(NamedTuple):
    """A good label with its structure: store files, energy (eV), content hash, periodicity."""

    label_id: int
    structure_hash: str
    structure_file: str
    energy_ev: float
    arrays_file: str
    pbc: bool


def _label_rows(query) -> list[LabelRow]:
    return [LabelRow(*row) for row in query]


def _label_columns():
    return select(Label.id, Structure.hash, Structure.file, Label.energy_ev, Label.arrays_file, Structure.pbc).join(
        Structure, Structure.id == Label.structure_id
    )


def labelled_structures(session: Session, level_name: str, kind: str | None = None) -> list[LabelRow]:
    """Every good label at a level (by stored name), of one kind if given, in structure-hash order."""
    query = (
        _label_columns()
        .join(LevelOfTheoryRow, LevelOfTheoryRow.id == Label.level_of_theory_id)
        .where(LevelOfTheoryRow.name == level_name, Label.status == "ok")
        .order_by(Structure.hash)
    )
    if kind is not None:
        query = query.where(Structure.kind == kind)
    return _label_rows(session.execute(query))


def good_labels_of_sample_sets(
    session: Session, sample_set_ids: Sequence[int], level_id: int, kind: str | None = None
) -> list[LabelRow]:
    """Good labels at a level of the structures (of one kind, if given) in these sample sets, in
    structure-hash order."""
    query = (
        _label_columns()
        .join(SampleMember, SampleMember.structure_id == Structure.id)
        .where(
            SampleMember.sample_set_id.in_(sample_set_ids), Label.level_of_theory_id == level_id, Label.status == "ok"
        )
        .distinct()
        .order_by(Structure.hash)
    )
    if kind is not None:
        query = query.where(Structure.kind == kind)
    return _label_rows(session.execute(query))


def dataset_labels(session: Session, dataset_id: int) -> list[tuple[str, LabelRow]]:
    """(split, label) of every member of a dataset, in structure-hash order."""
    query = (
        select(DatasetMember.split, *_label_columns().selected_columns)
        .join(Label, Label.id == DatasetMember.label_id)
        .join(Structure, Structure.id == Label.structure_id)
        .where(DatasetMember.dataset_id == dataset_id)
        .order_by(Structure.hash)
    )
    return [(split, LabelRow(*rest)) for split, *rest in session.execute(query)]


def training_atoms(session: Session, dataset_id: int) -> int:
    """Atoms in the training split of a dataset (summed over its structures)."""
    query = (
        select(func.coalesce(func.sum(Structure.n_atoms), 0))
        .join(Label, Label.structure_id == Structure.id)
        .join(DatasetMember, DatasetMember.label_id == Label.id)
        .where(DatasetMember.dataset_id == dataset_id, DatasetMember.split == "train")
    )
    return int(session.scalar(query))


def labels_at_level(session: Session, structure_ids: Sequence[int], level_id: int) -> dict[int, Label]:
    """The labels of these structures at a level, by structure id (absent: never labelled)."""
    query = select(Label).where(Label.level_of_theory_id == level_id, Label.structure_id.in_(structure_ids))
    return {label.structure_id: label for label in session.scalars(query)}


def structures_by_id(session: Session, structure_ids: Sequence[int]) -> list[Structure]:
    """The structure rows of these ids, in id order."""
    return list(session.scalars(select(Structure).where(Structure.id.in_(structure_ids)).order_by(Structure.id)))


def observable_names(session: Session, md_run_id: int) -> set[str]:
    """Names of the observables stored for an MD run."""
    return set(session.scalars(select(Observable.name).where(Observable.md_run_id == md_run_id)))


def stored_sensitivity(session: Session, campaign_id: int) -> list[dict]:
    """The campaign's variance components, ordered by liquid and observable (the residual last)."""
    query = select(SensitivityComponent).where(SensitivityComponent.campaign_id == campaign_id)
    rows = sorted(session.scalars(query), key=lambda c: (c.liquid, c.observable, c.factor == "residual", c.id))
    return [_plain(row, ("id", "campaign_id", "created_at")) for row in rows]


def stored_ranking(session: Session, campaign_id: int) -> list[dict]:
    """The campaign's ranking-stability rows, by liquid, observable and data kind."""
    query = (
        select(RankingStabilityRow)
        .where(RankingStabilityRow.campaign_id == campaign_id)
        .order_by(RankingStabilityRow.liquid, RankingStabilityRow.observable, RankingStabilityRow.data_kind)
    )
    return [_plain(row, ("id", "campaign_id", "created_at")) for row in session.scalars(query)]


def _plain(row: object, skip: Sequence[str]) -> dict:
    """An ORM row's columns as a dict."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


def recorded_plots(session: Session, owner: str) -> dict[str, str]:
    """The plot files recorded for ``owner`` (e.g. ``md_run:3``) by name, in the order they were made."""
    rows = session.scalars(select(Artifact).filter_by(owner=owner, kind="plot").order_by(Artifact.id))
    return {row.name: row.path for row in rows}
