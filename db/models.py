"""The results database: every structure, label, model, MD run and observable.

Factors of the study (seed, level of theory, data kind, subset replica, dataset
size) are typed columns. Bulk arrays live in the file store; rows keep their
relative path and sha256. Each step row has a unique ``key`` (a hash of its
inputs), which is what makes every step of a campaign idempotent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

HASH = String(64)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class CampaignRow(Base):
    __tablename__ = "campaign"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    config: Mapped[dict[str, Any]]
    config_hash: Mapped[str] = mapped_column(HASH)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class CampaignMember(Base):
    """Rows a campaign produced or reused (boxes, sample sets, models, MD runs); shared rows link to many."""

    __tablename__ = "campaign_member"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    table: Mapped[str] = mapped_column(String(30), primary_key=True)
    row_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class LevelOfTheoryRow(Base):
    __tablename__ = "level_of_theory"
    id: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(HASH, unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    code: Mapped[str] = mapped_column(String(50))
    code_version: Mapped[str] = mapped_column(String(50))
    method: Mapped[str] = mapped_column(String(100))
    basis: Mapped[str | None] = mapped_column(String(100))
    dispersion: Mapped[str | None] = mapped_column(String(100))
    settings: Mapped[dict[str, Any]]


class LiquidBox(Base):
    """A packed liquid box built from a campaign's liquid (for sampling or production MD)."""

    __tablename__ = "liquid_box"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(HASH, unique=True)
    liquid: Mapped[str] = mapped_column(String(100), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # sampling | md
    n_molecules: Mapped[int] = mapped_column(Integer)
    density_g_cm3: Mapped[float] = mapped_column(Float)
    composition: Mapped[list[Any]]  # [[smiles, molecules], ...]
    structure_id: Mapped[int] = mapped_column(ForeignKey("structure.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    structure: Mapped[Structure] = relationship()


class SampleSet(Base):
    """One sampling MD of one liquid box and the structures cut from it, or one imported dataset file."""

    __tablename__ = "sample_set"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(HASH, unique=True)
    liquid: Mapped[str] = mapped_column(String(100), index=True)
    box_structure_id: Mapped[int | None] = mapped_column(ForeignKey("structure.id"))  # None for imported sets
    potential: Mapped[str] = mapped_column(String(200))
    temperature_k: Mapped[float | None] = mapped_column(Float)
    n_steps: Mapped[int | None] = mapped_column(Integer)
    timestep_fs: Mapped[float | None] = mapped_column(Float)
    settings: Mapped[dict[str, Any]]
    wall_time_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    members: Mapped[list[SampleMember]] = relationship(back_populates="sample_set")


class Structure(Base):
    __tablename__ = "structure"
    id: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(HASH, unique=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)  # molecule | box | cluster | periodic
    formula: Mapped[str] = mapped_column(String(200))
    n_atoms: Mapped[int] = mapped_column(Integer)
    n_molecules: Mapped[int] = mapped_column(Integer)
    pbc: Mapped[bool] = mapped_column(Boolean)
    file: Mapped[str] = mapped_column(String(300))
    file_sha256: Mapped[str] = mapped_column(HASH)
    source: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SampleMember(Base):
    __tablename__ = "sample_member"
    sample_set_id: Mapped[int] = mapped_column(ForeignKey("sample_set.id"), primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structure.id"), primary_key=True)
    sample_set: Mapped[SampleSet] = relationship(back_populates="members")
    structure: Mapped[Structure] = relationship()


class Label(Base):
    __tablename__ = "label"
    __table_args__ = (UniqueConstraint("structure_id", "level_of_theory_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structure.id"), index=True)
    level_of_theory_id: Mapped[int] = mapped_column(ForeignKey("level_of_theory.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)  # ok | failed
    energy_ev: Mapped[float | None] = mapped_column(Float)
    arrays_file: Mapped[str | None] = mapped_column(String(300))  # npz: forces eV/Å, stress eV/Å³
    arrays_sha256: Mapped[str | None] = mapped_column(HASH)
    error: Mapped[str | None] = mapped_column(Text)
    wall_time_s: Mapped[float] = mapped_column(Float)
    host: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    structure: Mapped[Structure] = relationship()
    level_of_theory: Mapped[LevelOfTheoryRow] = relationship()


class Dataset(Base):
    __tablename__ = "dataset"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(HASH, unique=True)
    level_of_theory_id: Mapped[int] = mapped_column(ForeignKey("level_of_theory.id"))
    data_kind: Mapped[str] = mapped_column(String(20), index=True)  # cluster | periodic
    size: Mapped[int] = mapped_column(Integer)  # training structures
    subset_replica: Mapped[int] = mapped_column(Integer)
    selection: Mapped[str] = mapped_column(String(50))
    n_train: Mapped[int] = mapped_column(Integer)
    n_valid: Mapped[int] = mapped_column(Integer)
    n_test: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    level_of_theory: Mapped[LevelOfTheoryRow] = relationship()


class DatasetMember(Base):
    __tablename__ = "dataset_member"
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"), primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("label.id"), primary_key=True)
    split: Mapped[str] = mapped_column(String(10))  # train | valid | test
    label: Mapped[Label] = relationship()


class Model(Base):
    __tablename__ = "model"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(HASH, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"), index=True)
    seed: Mapped[int] = mapped_column(Integer, index=True)
    purpose: Mapped[str] = mapped_column(String(10), index=True)  # grid | base | finetune | scan
    base_model_id: Mapped[int | None] = mapped_column(ForeignKey("model.id"))  # own base model of a fine-tuned one
    base_model_sha256: Mapped[str | None] = mapped_column(HASH)  # the base model file, own or the user's
    hyperparameters: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(10), index=True)  # ok | failed
    error: Mapped[str | None] = mapped_column(Text)
    device: Mapped[str | None] = mapped_column(String(200))  # e.g. "cuda on node17 (SLURM job 4242)"
    mace_version: Mapped[str | None] = mapped_column(String(50))
    e0s_ev: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    train_time_s: Mapped[float | None] = mapped_column(Float)
    seconds_per_epoch: Mapped[float | None] = mapped_column(Float)
    epochs: Mapped[int | None] = mapped_column(Integer)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)  # process RSS on CPU, torch CUDA peak on GPU (MiB)
    file: Mapped[str | None] = mapped_column(String(300))
    file_sha256: Mapped[str | None] = mapped_column(HASH)
    rmse_e_train_mev_per_atom: Mapped[float | None] = mapped_column(Float)
    rmse_e_valid_mev_per_atom: Mapped[float | None] = mapped_column(Float)
    rmse_e_test_mev_per_atom: Mapped[float | None] = mapped_column(Float)
    rmse_f_train_mev_per_ang: Mapped[float | None] = mapped_column(Float)
    rmse_f_valid_mev_per_ang: Mapped[float | None] = mapped_column(Float)
    rmse_f_test_mev_per_ang: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dataset: Mapped[Dataset] = relationship()


class MDRun(Base):
    __tablename__ = "md_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(HASH, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id"), index=True)
    liquid: Mapped[str] = mapped_column(String(100), index=True)
    box_structure_id: Mapped[int] = mapped_column(ForeignKey("structure.id"))
    ensemble: Mapped[str] = mapped_column(String(20))
    temperature_k: Mapped[float] = mapped_column(Float)
    pressure_bar: Mapped[float | None] = mapped_column(Float)
    timestep_fs: Mapped[float] = mapped_column(Float)
    n_steps_target: Mapped[int] = mapped_column(Integer)
    n_steps_done: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(
        String(10), index=True
    )  # ok | unstable (stopped by the stability watch) | failed
    error: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]]
    wall_time_s: Mapped[float | None] = mapped_column(Float)
    steps_per_s: Mapped[float | None] = mapped_column(Float)
    ns_per_day: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String(200))  # e.g. "cuda on node17 (SLURM job 4242)"
    log_file: Mapped[str | None] = mapped_column(String(300))
    trajectory_file: Mapped[str | None] = mapped_column(String(300))
    trajectory_sha256: Mapped[str | None] = mapped_column(HASH)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model: Mapped[Model] = relationship()


class Observable(Base):
    __tablename__ = "observable"
    __table_args__ = (UniqueConstraint("md_run_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    md_run_id: Mapped[int] = mapped_column(ForeignKey("md_run.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    value: Mapped[float] = mapped_column(Float)
    sem: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(30))
    method: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Artifact(Base):
    """A file a person looks at (plot, report), listed so the CLI and report find it."""

    __tablename__ = "artifact"
    __table_args__ = (UniqueConstraint("owner", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))  # e.g. "md_run:3", "model:2", "campaign:1"
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # plot | report
    path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(HASH)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SensitivityComponent(Base):
    """One factor's share of an observable's variance over a campaign's models (the compare stage);
    variances in the observable's unit squared, shares and their 95 % intervals as fractions."""

    __tablename__ = "sensitivity_component"
    __table_args__ = (UniqueConstraint("campaign_id", "liquid", "observable", "factor"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    input_key: Mapped[str] = mapped_column(HASH)  # hash of the table it was computed from
    liquid: Mapped[str] = mapped_column(String(100))
    observable: Mapped[str] = mapped_column(String(100))
    factor: Mapped[str] = mapped_column(String(50))  # a factor column, or "residual"
    variance: Mapped[float | None] = mapped_column(Float)
    variance_low: Mapped[float | None] = mapped_column(Float)
    variance_high: Mapped[float | None] = mapped_column(Float)
    share: Mapped[float | None] = mapped_column(Float)
    share_low: Mapped[float | None] = mapped_column(Float)
    share_high: Mapped[float | None] = mapped_column(Float)
    n_levels: Mapped[int | None] = mapped_column(Integer)
    n_models: Mapped[int] = mapped_column(Integer)
    n_excluded: Mapped[int] = mapped_column(Integer)
    resolved_above_md_noise: Mapped[bool | None] = mapped_column(Boolean)
    method: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RankingStabilityRow(Base):
    """How consistently seed/subset draws of one data kind rank the levels of theory by an observable."""

    __tablename__ = "ranking_stability"
    __table_args__ = (UniqueConstraint("campaign_id", "liquid", "observable", "data_kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    input_key: Mapped[str] = mapped_column(HASH)
    liquid: Mapped[str] = mapped_column(String(100))
    observable: Mapped[str] = mapped_column(String(100))
    data_kind: Mapped[str] = mapped_column(String(20))
    order: Mapped[list[Any]]  # levels of theory by their mean, ascending
    kendall_w: Mapped[float] = mapped_column(Float)
    agreeing_fraction: Mapped[float] = mapped_column(Float)
    n_draws: Mapped[int] = mapped_column(Integer)
    min_resolvable_difference: Mapped[float] = mapped_column(Float)  # observable's unit
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FileStoreRow(Base):
    """Where the files of this database live (one row): every campaign that shares the database uses
    this store, whatever its work directory. Relative to a SQLite file's directory, else absolute."""

    __tablename__ = "file_store"
    __table_args__ = (CheckConstraint("id = 1", name="one_file_store"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    root: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RunLease(Base):
    """The run of a campaign in progress: who holds it and when it last said it is alive.

    One row per running campaign; a second run of the campaign against the same database is
    refused while the lease is fresh (``mlipcamp.db.leases``).
    """

    __tablename__ = "run_lease"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    workdir: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
