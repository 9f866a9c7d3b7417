"""Results database: Alembic owns the schema, rows stay unique under repeated writes, files are content-addressed."""

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from ase import Atoms
from sqlalchemy import func, inspect, select

from mlipcamp.db.engine import DatabaseError, get_engine, init_db, session_scope, sqlite_url
from mlipcamp.db.models import Base, LevelOfTheoryRow, Structure
from mlipcamp.db.records import level_row, structure_row
from mlipcamp.db.store import FileStore
from mlipcamp.hashing import hash_atoms
from mlipcamp.science.qm import get_level


@pytest.fixture
def db_url(tmp_path):
    url = sqlite_url(tmp_path / "results.sqlite")
    init_db(url)
    return url


def test_migrations_match_models(db_url):
    with get_engine(db_url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert set(inspect(get_engine(db_url)).get_table_names()) >= {"structure", "label", "model", "md_run", "observable"}


def test_init_is_idempotent(db_url):
    init_db(db_url)  # a second upgrade is a no-op


def test_unreachable_database_is_a_clear_error(tmp_path):
    with pytest.raises(DatabaseError, match="cannot be opened") as info:
        init_db("postgresql+psycopg://user:secret@127.0.0.1:1/none")
    assert "secret" not in str(info.value)


def test_rows_are_deduplicated(db_url, tmp_path):
    store = FileStore(tmp_path / "store")
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    with session_scope(db_url) as session:
        first = structure_row(session, store, water, "molecule", {})
        again = structure_row(session, store, water.copy(), "molecule", {})
        level = get_level("gfn2-xtb")
        level_row(session, level.hash, **level.model_dump())
        level_row(session, level.hash, **level.model_dump())
    assert first.id == again.id and first.hash == hash_atoms(water)
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Structure)) == 1
        assert session.scalar(select(func.count()).select_from(LevelOfTheoryRow)) == 1
        stored = store.get_atoms(session.scalars(select(Structure)).one().file)
    assert np.allclose(stored.positions, water.positions) and stored.get_chemical_formula() == "H2O"


def test_hash_ignores_rounding_noise_but_not_motion():
    a = Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]])
    b = a.copy()
    b.positions[1, 0] += 1e-9
    c = a.copy()
    c.positions[1, 0] += 1e-3
    assert hash_atoms(a) == hash_atoms(b) != hash_atoms(c)


def test_campaign_membership_follows_the_current_campaign_file(tmp_path):
    """Rows linked under an earlier version of a campaign file leave its tables when the file changes."""
    from pathlib import Path

    import yaml

    from mlipcamp.db.models import CampaignMember
    from mlipcamp.db.queries import campaign_row_ids
    from mlipcamp.db.records import link_to_campaign
    from mlipcamp.flows.runner import open_campaign

    demo = yaml.safe_load((Path(__file__).parents[1] / "configs" / "demo.yaml").read_text())
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(demo))
    _, ws = open_campaign(config, tmp_path / "run", create=True)
    with session_scope(ws.db_url) as session:
        link_to_campaign(session, ws.campaign_id, "model", 7)
    _, again = open_campaign(config, tmp_path / "run", create=True)  # same file: a resumed run
    with session_scope(ws.db_url) as session:
        assert again.campaign_id == ws.campaign_id and campaign_row_ids(session, ws.campaign_id, "model") == [7]
    demo["md"]["n_steps"] = 2000
    config.write_text(yaml.safe_dump(demo))
    _, changed = open_campaign(config, tmp_path / "run", create=True)
    with session_scope(ws.db_url) as session:
        assert changed.campaign_id == ws.campaign_id
        assert session.scalars(select(CampaignMember)).all() == []  # the run links its plan anew
    open_campaign(config, tmp_path / "run")  # reading commands (status, results) change nothing


def test_training_atoms_sums_the_training_split_only(db_url, tmp_path):
    """The size the flow schedules a training by: atoms of the train split, not valid or test."""
    from mlipcamp.db.models import Dataset, DatasetMember, Label
    from mlipcamp.db.queries import training_atoms

    store = FileStore(tmp_path / "store")
    with session_scope(db_url) as session:
        level = get_level("gfn2-xtb")
        level_id = level_row(session, level.hash, **level.model_dump()).id
        dataset = Dataset(
            key="d" * 64, level_of_theory_id=level_id, data_kind="cluster", size=3, subset_replica=0,
            selection="all", n_train=2, n_valid=1, n_test=1,
        )  # fmt: skip
        empty = Dataset(
            key="e" * 64, level_of_theory_id=level_id, data_kind="cluster", size=0, subset_replica=0,
            selection="all", n_train=0, n_valid=0, n_test=0,
        )  # fmt: skip
        session.add_all([dataset, empty])
        for n_atoms, split in [(3, "train"), (12, "train"), (30, "valid"), (60, "test")]:
            atoms = Atoms(f"H{n_atoms}", positions=np.arange(3 * n_atoms).reshape(-1, 3))
            structure = structure_row(session, store, atoms, "cluster", {})
            label = Label(structure_id=structure.id, level_of_theory_id=level_id, status="ok", wall_time_s=0, host="h")
            session.add(label)
            session.flush()
            session.add(DatasetMember(dataset_id=dataset.id, label_id=label.id, split=split))
        session.flush()
        assert training_atoms(session, dataset.id) == 15
        assert training_atoms(session, empty.id) == 0
