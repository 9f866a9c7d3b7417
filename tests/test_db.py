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
