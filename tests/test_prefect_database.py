"""The temporary Prefect server of a new work directory starts from a saved, migrated database."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mlipcamp.flows import prefect_database


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT name, value FROM item ORDER BY name").fetchall()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_saved_template_seeds_a_new_database_and_nothing_else(tmp_path, cache):
    started = tmp_path / "first" / "prefect.db"
    started.parent.mkdir()
    with sqlite3.connect(started) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE item (name TEXT, value INTEGER)")
        db.executemany("INSERT INTO item VALUES (?, ?)", [("a", 1), ("b", 2)])

    prefect_database.save_template(started)
    template = prefect_database.template_path()
    assert template.parent == cache / "mlipcamp" and template.name.startswith("prefect-3.")
    assert rows(template) == [("a", 1), ("b", 2)]
    assert sorted(p.name for p in template.parent.iterdir()) == [template.name]  # one file, no -wal

    with sqlite3.connect(started) as db:  # a later server's database never replaces the template
        db.execute("INSERT INTO item VALUES ('c', 3)")
    prefect_database.save_template(started)
    assert rows(template) == [("a", 1), ("b", 2)]

    new = tmp_path / "second" / "prefect.db"
    assert prefect_database.seed(new)
    assert rows(new) == [("a", 1), ("b", 2)]
    assert not prefect_database.seed(started)  # an existing database is the campaign's own: left alone
    assert rows(started) == [("a", 1), ("b", 2), ("c", 3)]


def test_no_template_or_an_unwritable_cache_only_means_a_slower_start(tmp_path, cache):
    assert not prefect_database.seed(tmp_path / "prefect.db")
    assert not (tmp_path / "prefect.db").exists()
    cache.write_text("a file where the cache directory should be")
    with sqlite3.connect(tmp_path / "prefect.db") as db:
        db.execute("CREATE TABLE item (name TEXT, value INTEGER)")
    prefect_database.save_template(tmp_path / "prefect.db")  # no error
    assert cache.read_text().startswith("a file")


SERVER = """
import json, sys
from unittest import mock
from mlipcamp.flows import prefect_database, runner
seeded = []
seed = prefect_database.seed
with mock.patch.object(prefect_database, "seed", lambda path: seeded.append(seed(path)) or seeded[-1]):
    with runner.prefect_api():
        from prefect.client.orchestration import get_client
        with get_client(sync_client=True) as client:
            flow_id = client.create_flow_from_name("check")
            runs = client.read_flow_runs()
json.dump({"seeded": seeded, "flow": str(flow_id), "runs": len(runs)}, sys.stdout)
"""


@pytest.mark.slow
def test_a_server_started_from_the_template_is_migrated_and_answers(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "XDG_CACHE_HOME": str(tmp_path / "cache")
    }

    def server(home: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-c", SERVER],
            env=env | {"PREFECT_HOME": str(tmp_path / home)},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    first = server("first")
    assert first["seeded"] == [False] and first["runs"] == 0
    template = next((tmp_path / "cache" / "mlipcamp").glob("prefect-*.db"))
    with sqlite3.connect(template) as db:
        (head,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        assert db.execute("SELECT count(*) FROM flow").fetchone() == (0,)  # saved before any flow existed
    second = server("second")
    assert second["seeded"] == [True] and second["runs"] == 0
    with sqlite3.connect(tmp_path / "second" / "prefect.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)
        assert db.execute("SELECT name FROM flow").fetchall() == [("check",)]
