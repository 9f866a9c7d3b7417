"""Prefect wrappers against a real database: failures are recorded with their reason, re-runs reuse labels."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from sqlalchemy import select

from mlipcamp.db.engine import init_db, session_scope, sqlite_url
from mlipcamp.db.models import Label
from mlipcamp.db.queries import labels_at_level
from mlipcamp.db.records import structure_row
from mlipcamp.tasks.workspace import Workspace


@pytest.fixture(scope="module")
def prefect_harness(tmp_path_factory):
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.mark.slow
def test_failed_label_is_recorded_and_the_rest_land(tmp_path, prefect_harness):
    from prefect import flow

    from mlipcamp.tasks.label import label_batch

    url = sqlite_url(tmp_path / "db.sqlite")
    init_db(url)
    ws = Workspace(workdir=str(tmp_path), db_url=url, campaign_id=1)
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    fused = Atoms("OH2", positions=[[0, 0, 0], [0.0, 0, 0], [-0.24, 0.93, 0]])  # two atoms on one spot
    methane = Atoms(
        "CH4",
        positions=[[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]],
    )
    with session_scope(url) as session:
        ids = [structure_row(session, ws.store, a, "cluster", {}).id for a in (water, fused, methane)]

    @flow
    def label_twice() -> list[tuple[str, dict]]:
        futures = [label_batch.submit(ws, ids, "gfn2-xtb", 1, 1)]
        futures[0].wait()
        futures.append(label_batch.submit(ws, ids, "gfn2-xtb", 1, 1))
        results = [future.result() for future in futures]  # then each future's final state
        return [(future.state.name, result) for future, result in zip(futures, results, strict=True)]

    first, second = label_twice()
    assert first == ("LabelsFailed", {"ok": 2, "failed": 1, "reused": 0})  # the state the UI shows
    assert second == ("Completed", {"ok": 0, "failed": 0, "reused": 3})
    with session_scope(url) as session:
        labels = {label.structure_id: label for label in session.scalars(select(Label))}
        failed = labels[ids[1]]
        assert failed.status == "failed" and "close" in failed.error.lower() and failed.attempts == 2
        assert labels[ids[0]].status == labels[ids[2]].status == "ok"
        forces = ws.store.get_arrays(labels[ids[0]].arrays_file)["forces_eV_ang"]
    assert forces.shape == (3, 3) and np.isfinite(forces).all()
    assert abs(forces.sum(axis=0)).max() < 1e-6  # no net force on an isolated molecule


CRASHING_LEVEL = "ase:crashing_calculator:LennardJonesUnlessXenon"


@contextmanager
def workers_from_a_fork_server() -> Iterator[None]:
    """Workers forked from a server that imported the tasks, as `mlipcamp run` starts them: a worker
    that xenon killed is back in a second or two, not 11. The fork server keeps the environment it
    started with, so one that another test started is stopped first, and this one after."""
    import multiprocessing.forkserver

    from mlipcamp.flows.local_cluster import fork_workers_from_a_server

    server = multiprocessing.forkserver._forkserver
    server._stop()
    try:
        with fork_workers_from_a_server():
            yield
    finally:
        server._stop()


def _label_on_one_worker(
    tmp_path, monkeypatch, molecules: list[Atoms], allowed_failures: int
) -> tuple[dict, list[int], dict]:
    """Label with the campaign's fan-out on a one-worker Dask cluster: (counts, structure ids, labels by id).

    One worker: when xenon kills it, Dask blames every task it holds, innocent ones included.
    """
    import dask
    from prefect import flow
    from prefect.settings import get_current_settings
    from prefect_dask import DaskTaskRunner

    from mlipcamp.flows.campaign_flow import _label_all
    from mlipcamp.flows.clusters import runner_arguments
    from mlipcamp.settings.campaign import Labelling, load_campaign
    from mlipcamp.settings.execution import Execution, LabellingExecution

    monkeypatch.setenv("PREFECT_API_URL", get_current_settings().api.url)  # the Dask workers report here too
    url = sqlite_url(tmp_path / "db.sqlite")
    init_db(url)
    ws = Workspace(workdir=str(tmp_path), db_url=url, campaign_id=1)
    with session_scope(url) as session:
        ids = [structure_row(session, ws.store, a, "cluster", {}).id for a in molecules]
    demo = load_campaign(Path(__file__).parents[1] / "configs" / "demo.yaml")
    labelling = Labelling(levels_of_theory=[CRASHING_LEVEL], retries=0)
    execution = Execution(n_workers=1, labelling=LabellingExecution(batch_size=len(molecules)))
    config = demo.model_copy(update={"labelling": labelling, "execution": execution})

    @flow
    def label_everything() -> dict:
        return _label_all(ws, config, {CRASHING_LEVEL: {i: len(a) for i, a in zip(ids, molecules, strict=True)}})

    runner = DaskTaskRunner(**runner_arguments(execution, None))
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}), workers_from_a_fork_server():
        counts = label_everything.with_options(task_runner=runner)()
    with session_scope(url) as session:
        labels = {label.structure_id: label for label in session.scalars(select(Label))}
        session.expunge_all()
    return counts, ids, labels


@pytest.mark.slow
def test_a_structure_that_kills_its_worker_is_recorded_failed_and_the_rest_land(tmp_path, prefect_harness, monkeypatch):
    molecules = [Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 3.0 + 0.1 * i]]) for i in range(4)]
    molecules.insert(2, Atoms("XeAr", positions=[[0, 0, 0], [0, 0, 4.0]]))
    counts, ids, labels = _label_on_one_worker(tmp_path, monkeypatch, molecules, allowed_failures=1)
    assert counts["ok"] == 4 and counts["failed"] == 1
    lost = labels[ids[2]]
    assert lost.status == "failed" and "KilledWorker" in lost.error and lost.host == "lost"
    assert all(labels[i].status == "ok" for i in ids if i != ids[2])


@pytest.mark.slow
def test_a_level_that_kills_every_worker_stops_being_rerun_alone(tmp_path, prefect_harness, monkeypatch):
    from mlipcamp.flows.campaign_flow import LOST_IN_A_ROW_TO_STOP

    molecules = [Atoms("XeAr", positions=[[0, 0, 0], [0, 0, 4.0 + 0.1 * i]]) for i in range(LOST_IN_A_ROW_TO_STOP + 2)]
    counts, ids, labels = _label_on_one_worker(tmp_path, monkeypatch, molecules, allowed_failures=0)
    assert counts == {"ok": 0, "failed": len(ids), "reused": 0}
    errors = [labels[i].error for i in ids]
    assert all(labels[i].status == "failed" for i in ids)
    assert sum("KilledWorker" in e for e in errors) == LOST_IN_A_ROW_TO_STOP  # rerun alone, lost again
    assert sum("not run alone" in e for e in errors) == 2


def test_only_structures_without_a_final_label_are_dealt_out_for_labelling(tmp_path):
    """A good label, or a failure out of retries, is final at its level; the sampling MD's own
    labels of periodic snapshots are not balanced into batches as if they were work."""
    from mlipcamp.db.models import SampleMember, SampleSet
    from mlipcamp.science.qm import LabelResult, get_level
    from mlipcamp.tasks.label import level_row_id, record_labels, structures_to_label

    url = sqlite_url(tmp_path / "db.sqlite")
    init_db(url)
    ws = Workspace(workdir=str(tmp_path), db_url=url, campaign_id=1)
    argon = [Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 3.0 + 0.1 * i]]) for i in range(4)]
    crystal = Atoms("Ar4", scaled_positions=np.eye(4, 3) / 2, cell=np.eye(3) * 5.3, pbc=True)
    good = LabelResult(True, -1.0, np.zeros((2, 3)), None, None, 0.1, "here")
    bad = LabelResult(False, None, None, None, "SCF did not converge", 0.1, "here")
    with session_scope(url) as session:
        ids = [structure_row(session, ws.store, a, "cluster", {}).id for a in argon]
        periodic = structure_row(session, ws.store, crystal, "periodic", {}).id
        sample_set = SampleSet(key="k", liquid="Ar", potential="lj", settings={}, wall_time_s=0.0)
        session.add(sample_set)
        session.flush()
        session.add_all(SampleMember(sample_set_id=sample_set.id, structure_id=i) for i in [*ids, periodic])
        level_id = level_row_id(session, get_level("gfn2-xtb"))
        # ids[0] good, ids[1] failed twice (final with 1 retry), ids[2] failed once (rerun), ids[3] never
        record_labels(session, ws, level_id, ids[:3], [good, bad, bad], [1, 2, 1])
        sample_set_id = sample_set.id

    work = structures_to_label.fn(ws, [sample_set_id], ["cluster", "periodic"], ["gfn2-xtb", "pbe-d3bj/def2-svp"], 1)
    assert work.todo == {
        "gfn2-xtb": {ids[2]: 2, ids[3]: 2, periodic: 4},
        "pbe-d3bj/def2-svp": {**dict.fromkeys(ids, 2), periodic: 4},
    }
    assert work.n_structures == 5 and work.n_final == 2
    assert structures_to_label.fn(ws, [sample_set_id], ["periodic"], ["gfn2-xtb"], 1).todo == {
        "gfn2-xtb": {periodic: 4}
    }


def test_a_batch_of_labels_is_written_at_once_and_a_label_stored_meanwhile_is_not_doubled(tmp_path, monkeypatch):
    """record_labels replaces a failed label and adds new ones; when another campaign stored one of
    the batch's labels after the batch looked (the unique constraint fires), it goes row by row."""
    import mlipcamp.db.records
    from mlipcamp.science.qm import LabelResult, get_level
    from mlipcamp.tasks.label import level_row_id, record_label, record_labels

    url = sqlite_url(tmp_path / "db.sqlite")
    init_db(url)
    ws = Workspace(workdir=str(tmp_path), db_url=url, campaign_id=1)
    molecules = [Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.70 + 0.01 * i]]) for i in range(3)]
    ok = [LabelResult(True, -31.0 - i, np.full((2, 3), 0.1 * i), None, None, 0.5, "here") for i in range(3)]
    failed = LabelResult(False, None, None, None, "SCF did not converge", 0.2, "there")
    with session_scope(url) as session:
        ids = [structure_row(session, ws.store, m, "molecule", {}).id for m in molecules]
        level_id = level_row_id(session, get_level("gfn2-xtb"))
        record_label(session, ws, ids[0], level_id, failed, 1)
    with session_scope(url) as session:
        record_labels(session, ws, level_id, ids[:2], ok[:2], [2, 1])

    with session_scope(url) as session:
        record_label(session, ws, ids[2], level_id, failed, 1)  # "the other campaign"
        session.flush()
        with monkeypatch.context() as patch:  # the batch looked before the other campaign wrote
            patch.setattr(mlipcamp.db.records, "labels_at_level", lambda *args: {})
            record_labels(session, ws, level_id, ids[1:], ok[1:], [1, 2])

    with session_scope(url) as session:
        rows = sorted(session.execute(select(Label.structure_id, Label.status, Label.energy_ev, Label.attempts)))
        assert rows == [(ids[0], "ok", -31.0, 2), (ids[1], "ok", -32.0, 1), (ids[2], "ok", -33.0, 2)]
        stored = labels_at_level(session, ids, level_id)
        np.testing.assert_array_equal(
            ws.store.get_arrays(stored[ids[2]].arrays_file)["forces_eV_ang"], ok[2].forces_eV_ang
        )
