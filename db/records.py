"""Get-or-create helpers that keep rows unique under concurrent writers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from ase import Atoms
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mlipcamp.db.engine import is_read_only, sqlite_file
from mlipcamp.db.models import (
    Artifact,
    Base,
    CampaignMember,
    CampaignRow,
    FileStoreRow,
    Label,
    LevelOfTheoryRow,
    RankingStabilityRow,
    SensitivityComponent,
    Structure,
)
from mlipcamp.db.queries import labels_at_level
from mlipcamp.db.store import FileStore
from mlipcamp.hashing import hash_atoms, sha256_file

RowT = TypeVar("RowT", bound=Base)


def get_or_create(session: Session, model: type[RowT], unique: dict[str, Any], **fields: Any) -> RowT:
    """The row matching ``unique``, created with ``fields`` if absent (safe when another writer races us)."""
    query = select(model).filter_by(**unique)
    row = session.scalars(query).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = model(**unique, **fields)
            session.add(row)
        return row
    except IntegrityError:
        return session.scalars(query).one()


def write_labels(session: Session, level_id: int, fields: dict[int, dict[str, Any]]) -> None:
    """Set the labels of these structures (id → column values) at a level, creating those absent, in
    one flush; row by row only when another writer stored one of them meanwhile (the database's
    one-label-per-structure-and-level constraint says so)."""
    try:
        with session.begin_nested():
            existing = labels_at_level(session, list(fields), level_id)
            for structure_id, values in fields.items():
                label = existing.get(structure_id)
                if label is None:
                    label = Label(structure_id=structure_id, level_of_theory_id=level_id)
                    session.add(label)
                _set(label, values)
    except IntegrityError:
        for structure_id, values in fields.items():
            unique = {"structure_id": structure_id, "level_of_theory_id": level_id}
            _set(get_or_create(session, Label, unique, status="failed", wall_time_s=0.0, host=""), values)


def _set(row: Base, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)


class StoreMismatch(ValueError):
    """A campaign names a file store other than the one its database records."""


def database_store(session: Session, url: str, default: Path, asked: Path | None = None) -> Path:
    """The file store of the database at ``url``, absolute: the one it records, else ``asked`` or
    ``default``, then recorded (not in a read-only database). Files of every campaign that shares
    the database go there, so a row's file is found from any work directory.

    A store inside a SQLite file's directory is recorded relative to it, so the directory can be
    moved or archived whole.
    """
    base = sqlite_file(url)
    base = base.parent if base is not None else None
    row = session.get(FileStoreRow, 1)
    if row is None:
        root = (asked or default).resolve()
        if is_read_only(url):
            return root
        recorded = os.path.relpath(root, base) if base is not None and root.is_relative_to(base) else str(root)
        row = get_or_create(session, FileStoreRow, {"id": 1}, root=recorded)
    root = Path(row.root) if base is None or Path(row.root).is_absolute() else (base / row.root).resolve()
    if asked is not None and asked.resolve() != root:
        raise StoreMismatch(f"store_dir: the database keeps its files in {root}, not in {asked}")
    return root


def level_row(session: Session, level_hash: str, **fields: Any) -> LevelOfTheoryRow:
    """The row of a level of theory, unique by its content hash; ``fields``: name, code, method…"""
    return get_or_create(session, LevelOfTheoryRow, {"hash": level_hash}, **fields)


def structure_row(session: Session, store: FileStore, atoms: Atoms, kind: str, source: dict[str, Any]) -> Structure:
    """The structure row of ``atoms`` (deduplicated by content hash), its file written to the store."""
    digest = hash_atoms(atoms)
    existing = session.scalars(select(Structure).filter_by(hash=digest)).first()
    if existing is not None:
        return existing
    file, file_sha = store.put_atoms(atoms)
    n_molecules = int(atoms.info.get("n_molecules", len(set(atoms.arrays.get("mol_id", [0])))))
    return get_or_create(
        session,
        Structure,
        {"hash": digest},
        kind=kind,
        formula=atoms.get_chemical_formula(),
        n_atoms=len(atoms),
        n_molecules=n_molecules,
        pbc=bool(atoms.pbc.all()),
        file=file,
        file_sha256=file_sha,
        source=source,
    )


def link_to_campaign(session: Session, campaign_id: int, table: str, row_id: int) -> None:
    """Record that a campaign produced or reused a row."""
    get_or_create(session, CampaignMember, {"campaign_id": campaign_id, "table": table, "row_id": row_id})


def find_by_key(session: Session, model: type[RowT], key: str) -> RowT | None:
    return session.scalars(select(model).filter_by(key=key)).first()


def record_artifact(session: Session, owner: str, name: str, kind: str, path: str | Path) -> None:
    """List a file a person looks at (plot, report) under its owner, e.g. ``md_run:3``."""
    row = get_or_create(
        session, Artifact, {"owner": owner, "name": name}, kind=kind, path=str(path), sha256=sha256_file(path)
    )
    row.path, row.sha256 = str(path), sha256_file(path)


def register_campaign(
    session: Session, name: str, config: dict[str, Any], config_hash: str, create: bool
) -> int | None:
    """The campaign's row id (its config stored when ``create``); None if absent and not created.

    When ``create`` finds the campaign with another configuration, its membership is cleared: the
    run links every row of the new plan again (reused or new), so tables and reports list the
    current plan only, not models or MD runs of an earlier version of the file. The rows stay.
    """
    row = session.scalars(select(CampaignRow).filter_by(name=name)).first()
    if row is None and not create:
        return None
    if row is None:
        row = CampaignRow(name=name, config={}, config_hash="")
        session.add(row)
    if create and row.config_hash != config_hash:
        if row.id is not None:
            session.execute(delete(CampaignMember).where(CampaignMember.campaign_id == row.id))
        row.config, row.config_hash = config, config_hash
    session.flush()
    return row.id


def replace_sensitivity(
    session: Session, campaign_id: int, input_key: str, components: list[dict], rankings: list[dict]
) -> None:
    """Store the compare stage of a campaign, replacing what an earlier table gave."""
    for model in (SensitivityComponent, RankingStabilityRow):
        session.execute(delete(model).where(model.campaign_id == campaign_id))
    columns = {c.key for c in SensitivityComponent.__table__.columns} - {"id", "created_at"}
    session.add_all(
        SensitivityComponent(
            campaign_id=campaign_id, input_key=input_key, **{k: v for k, v in c.items() if k in columns}
        )
        for c in components
    )
    session.add_all(RankingStabilityRow(campaign_id=campaign_id, input_key=input_key, **r) for r in rankings)
