"""The results database and the Prefect server on a real PostgreSQL (`.ci/services` starts it):
migrations, the constraints the code relies on, two campaigns writing to one database at once, and
no password anywhere the Prefect API shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml
from real_services import postgres, start_prefect_server, stop  # noqa: F401 (a fixture)
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from test_end_to_end import MLIPCAMP, mlipcamp, row_counts, small_md
from test_imported_campaign import files, imported_only  # noqa: F401 (a fixture)

from mlipcamp.db.engine import init_db, session_scope
from mlipcamp.db.models import Dataset, FileStoreRow, Label, LevelOfTheoryRow, MDRun, Model, Structure
from mlipcamp.db.records import StoreMismatch, database_store
from mlipcamp.db.step_lock import step_lock

pytestmark = pytest.mark.slow


def test_schema_is_migrated_and_its_uniqueness_is_the_database_s(postgres, tmp_path):  # noqa: F811
    url = postgres.new_database()
    init_db(url)
    init_db(url)  # a second open migrates nothing
    with session_scope(url) as session:
        head = session.scalar(text("SELECT version_num FROM alembic_version"))
        assert head == "0004"
        assert database_store(session, url, tmp_path / "first") == tmp_path / "first"
    with session_scope(url) as session:  # the store belongs to the database: a later campaign gets the first's
        assert database_store(session, url, tmp_path / "second") == tmp_path / "first"
        assert session.scalar(select(func.count()).select_from(FileStoreRow)) == 1
        with pytest.raises(StoreMismatch, match=f"store_dir: the database keeps its files in {tmp_path / 'first'}"):
            database_store(session, url, tmp_path / "default", asked=tmp_path / "second")
    with session_scope(url) as session:
        level = LevelOfTheoryRow(hash="h", name="x", code="c", code_version="1", method="m", settings={})
        structure = Structure(
            hash="s",
            kind="molecule",
            formula="H2",
            n_atoms=2,
            n_molecules=1,
            pbc=False,
            file="f",
            file_sha256="f",
            source={},
        )
        session.add_all([level, structure])
        session.flush()
        fields = {"status": "ok", "wall_time_s": 0.0, "host": "h"}
        session.add(Label(structure_id=structure.id, level_of_theory_id=level.id, **fields))
        session.flush()
        session.add(Label(structure_id=structure.id, level_of_theory_id=level.id, **fields))
        with pytest.raises(IntegrityError):  # one label per structure and level
            session.flush()
        session.rollback()


def test_a_step_is_taken_by_one_campaign_at_a_time_and_freed_by_a_killed_holder(postgres):  # noqa: F811
    url, key = postgres.new_database(), "9f" * 32
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, url, key], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert holder.stdout.readline().strip() == "held"
    entered = threading.Event()

    def take() -> None:
        with step_lock(url, key):
            entered.set()

    waiter = threading.Thread(target=take)
    waiter.start()
    assert not entered.wait(2.0)  # the step is another process's
    holder.kill()  # as a walltime or kill -9 would: its connection goes, and the lock with it
    assert entered.wait(30.0)
    waiter.join()
    with step_lock(url, "0a" * 32), step_lock(url, "0b" * 32):  # different steps do not wait for each other
        pass


HOLD_LOCK = """
import sys, time
from mlipcamp.db.step_lock import step_lock
with step_lock(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def campaign_file(tmp_path: Path, files: dict, name: str, seeds: list[int], database_url: str) -> Path:  # noqa: F811
    data = imported_only(tmp_path, files)
    data.update(name=name, database_url=database_url)
    data["training"].update(seeds=seeds, valid_fraction=0.2)
    data["training"]["mace"].update(max_num_epochs=2, num_channels=8, batch_size=4)
    data["md"].update(small_md())
    data["analysis"].update(rdf_r_max="4 Å", diffusion_blocks=2)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def run_together(runs: list[tuple[Path, Path]], env: dict) -> None:
    """`mlipcamp run` of each (config, work directory), all at once; each must finish."""
    processes = [
        subprocess.Popen(
            [*MLIPCAMP, "run", str(config), "--workdir", str(workdir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for config, workdir in runs
    ]
    outputs = [p.communicate(timeout=900)[0] for p in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]


def api(env: dict, path: str) -> str:
    """The JSON text of a Prefect API filter endpoint (everything it lists, up to 200 rows)."""
    request = urllib.request.Request(
        f"{env['PREFECT_API_URL']}/{path}/filter",
        data=json.dumps({"limit": 200}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


def test_two_campaigns_share_one_database_at_once_with_prefect_on_postgres_too(postgres, files, tmp_path):  # noqa: F811
    results_url = postgres.new_database()
    prefect_url = postgres.new_database().replace("+psycopg://mlipcamp@", f"+asyncpg://mlipcamp:{postgres.password}@")
    server, env = start_prefect_server(tmp_path, prefect_url)
    try:
        env |= {"PGPASSWORD": postgres.password}
        alpha = campaign_file(tmp_path, files, "alpha", [1, 2], results_url)
        beta = campaign_file(tmp_path, files, "beta", [2, 3], results_url)  # seed 2 is both campaigns' model
        runs = [(alpha, tmp_path / "alpha"), (beta, tmp_path / "beta")]
        run_together(runs, env)
        counts = row_counts(results_url)
        with session_scope(results_url) as session:
            models = session.execute(select(Dataset.data_kind, Model.seed, Model.status).join(Model.dataset)).all()
            md_runs = session.scalars(select(MDRun.status)).all()
            store = database_store(session, results_url, tmp_path / "nowhere")
            files_named = (
                session.scalars(select(Structure.file)).all()
                + session.scalars(select(Model.file).where(Model.file.is_not(None))).all()
            )
        # 2 data kinds × seeds {1, 2, 3}: seed 2's models are shared, trained once
        assert sorted(models) == [(kind, seed, "ok") for kind in ("cluster", "periodic") for seed in (1, 2, 3)]
        assert sorted(md_runs) == ["ok"] * 6
        assert store in {tmp_path / "alpha" / "store", tmp_path / "beta" / "store"}
        assert all((store / f).is_file() for f in files_named)  # every row's file, whichever campaign wrote it
        for name, workdir in (("alpha", tmp_path / "alpha"), ("beta", tmp_path / "beta")):
            listed = mlipcamp("models", str(tmp_path / f"{name}.yaml"), "--format", "csv", env=env)
            assert listed.returncode == 0 and len(listed.stdout.strip().splitlines()) == 1 + 4, listed.stdout
            assert (workdir / "report.md").is_file()

        run_together(runs, env)  # both again, at once: everything is found, nothing is added
        assert row_counts(results_url) == counts

        shown = "".join(api(env, path) for path in ("flow_runs", "task_runs", "logs", "artifacts"))
        assert "mlipcamp_test_" in shown  # the database URL is a parameter: this is where a password would show
        assert postgres.password not in shown
    finally:
        stop(server)
