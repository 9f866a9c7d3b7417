"""The simulate and analyse steps with a real MACE model, database and Prefect: a crashed MD
task resumes from its checkpoint on Prefect's retry and ends where an uninterrupted run ends;
an unstable run is stored with its reason and not analysed; analysis sees production only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from random_mace import save_random_mace
from sqlalchemy import select

from mlipcamp.db.engine import init_db, session_scope, sqlite_url
from mlipcamp.db.models import CampaignRow, Dataset, LiquidBox, MDRun, Model, Observable
from mlipcamp.db.records import level_row, link_to_campaign, structure_row
from mlipcamp.science.analysis.settings import Analysis
from mlipcamp.science.md import MolecularDynamics, read_trajectory
from mlipcamp.science.qm.levels import get_level
from mlipcamp.science.structures import build_box
from mlipcamp.settings.campaign import Liquid
from mlipcamp.settings.execution import MDExecution
from mlipcamp.tasks.workspace import Workspace

pytestmark = pytest.mark.slow

WATER = Liquid.model_validate(
    {"name": "water", "components": [{"smiles": "O"}], "temperature": "300 K", "density": "1.0 g/cm^3"}
)
# 20 equilibration + 40 production steps, every step logged and stored, a checkpoint every 10
MD = {
    "n_molecules": 16,
    "equilibration_steps": 20,
    "n_steps": 40,
    "log_interval": 1,
    "trajectory_interval": 1,
    "checkpoint_interval": 10,
    "stability": {"check_connectivity": False},
}  # random forces do not hold molecules


@pytest.fixture(scope="module")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def box_and_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("inputs")
    return build_box(WATER.counts(16), WATER.density, seed=1), save_random_mace(directory / "random.model", [1, 8])


def workspace(directory: Path, box, model_path: Path) -> tuple[Workspace, int, int]:
    """A fresh database holding one 'trained' model and one MD box: (workspace, model id, box id)."""
    url = sqlite_url(directory / "db.sqlite")
    init_db(url)
    ws = Workspace(workdir=str(directory), db_url=url, campaign_id=1)
    with session_scope(url) as session:
        session.add(CampaignRow(id=1, name="test", config={}, config_hash="0" * 64))
        level = get_level("gfn2-xtb")
        level = level_row(session, level.hash, **level.model_dump())
        dataset = Dataset(
            key="d" * 64,
            level_of_theory_id=level.id,
            data_kind="cluster",
            size=1,
            subset_replica=0,
            selection="random",
            n_train=1,
            n_valid=0,
            n_test=0,
        )
        session.add(dataset)
        session.flush()
        file, sha = ws.store.put_file(model_path, ".model")
        model = Model(
            key="m" * 64,
            name="random",
            dataset_id=dataset.id,
            seed=0,
            purpose="grid",
            status="ok",
            hyperparameters={"default_dtype": "float64"},
            file=file,
            file_sha256=sha,
        )
        structure = structure_row(session, ws.store, box, "box", {})
        liquid_box = LiquidBox(
            key="b" * 64,
            liquid="water",
            purpose="md",
            n_molecules=16,
            density_g_cm3=1.0,
            composition=[["O", 16]],
            structure_id=structure.id,
        )
        session.add_all([model, liquid_box])
        session.flush()
        link_to_campaign(session, 1, "model", model.id)
        return ws, model.id, liquid_box.id


def counting_calculator(monkeypatch, crash_at: int | None = None) -> list[int]:
    """Make the MACECalculator of the simulate step (built by mace_calculator) count its calculations (into the returned list) and
    raise once, on calculation ``crash_at``, as a GPU fault or a killed job would."""
    import mace.calculators
    from mace.calculators.mace import MACECalculator  # the original, even when already replaced

    calls = []

    class Counting(MACECalculator):
        def calculate(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == crash_at:
                raise RuntimeError("simulated device fault")
            super().calculate(*args, **kwargs)

    monkeypatch.setattr(mace.calculators, "MACECalculator", Counting)
    return calls


def in_flow(task, *args, with_state: bool = False):
    """Submit a Prefect task in a flow of its own, as the campaign does; its result (with its final
    state's name and message first when ``with_state``)."""
    from prefect import flow

    def run():
        future = task.submit(*args)
        value = future.result()
        return (future.state.name, future.state.message, value) if with_state else value

    return flow(name="test-step")(run)()


def simulate(ws: Workspace, model_id: int, box_id: int, md: MolecularDynamics) -> int:
    from mlipcamp.tasks.simulate import simulate_liquid

    return in_flow(simulate_liquid, ws, model_id, WATER, box_id, md, MDExecution(device="cpu"), "water-random")


def test_crashed_md_task_resumes_on_retry_and_matches_uninterrupted_run(
    tmp_path, prefect_harness, box_and_model, monkeypatch
):
    from mlipcamp.tasks.analyse import analyse_run

    md = MolecularDynamics(**MD)
    whole_ws, model_id, box_id = workspace(tmp_path / "whole", *box_and_model)
    whole_calls = counting_calculator(monkeypatch)
    whole_id = simulate(whole_ws, model_id, box_id, md)

    cut_ws, model_id, box_id = workspace(tmp_path / "cut", *box_and_model)
    cut_calls = counting_calculator(monkeypatch, crash_at=45)  # in production, 5 steps past the checkpoint at 40
    cut_id = simulate(cut_ws, model_id, box_id, md)

    # the retry recomputed only the few steps after the last checkpoint, not the whole run
    assert 0 < len(cut_calls) - len(whole_calls) <= md.checkpoint_interval
    with session_scope(whole_ws.db_url) as session:
        whole = session.get(MDRun, whole_id)
        whole_log, whole_traj = (
            whole_ws.store.path(whole.log_file).read_text(),
            whole_ws.store.path(whole.trajectory_file),
        )
    with session_scope(cut_ws.db_url) as session:
        cut = session.get(MDRun, cut_id)
        assert cut.status == "ok" and cut.error is None and cut.n_steps_done == whole.n_steps_done == 60
        cut_log, cut_traj = cut_ws.store.path(cut.log_file).read_text(), cut_ws.store.path(cut.trajectory_file)
    assert cut_log == whole_log
    a, b = read_trajectory(whole_traj), read_trajectory(cut_traj)
    for key in a:
        np.testing.assert_array_equal(b[key], a[key], err_msg=key)
    np.testing.assert_array_equal(b["steps"], np.arange(61))  # no frame missing or repeated

    # 3 blocks need 48 frames: production has 41, and equilibration frames must not make up the rest
    with pytest.raises(ValueError, match="production part holds 41 trajectory frames; diffusion needs at least 48"):
        in_flow(analyse_run, cut_ws, cut_id, Analysis(diffusion_blocks=3, rdf_r_max="3.0 Å"), None)
    in_flow(analyse_run, cut_ws, cut_id, Analysis(diffusion_blocks=2, rdf_r_max="3.0 Å"), None)
    with session_scope(cut_ws.db_url) as session:
        observables = {o.name: o for o in session.scalars(select(Observable).where(Observable.md_run_id == cut_id))}
    density, diffusion = observables["density_g_cm3"], observables["diffusion_cm2_s"]
    assert density.method["n_samples"] + density.method["equilibration_index"] == 41  # production rows 20..60 only
    assert diffusion.method["analysed_from_ps"] >= 0.020  # no equilibration frame (steps < 20) in the MSD


def test_unstable_run_is_stored_with_its_reason_and_not_analysed(tmp_path, prefect_harness, box_and_model, monkeypatch):
    from mlipcamp.db.queries import results_rows
    from mlipcamp.tasks.analyse import analyse_run
    from mlipcamp.tasks.keys import step_key
    from mlipcamp.tasks.report import write_report
    from mlipcamp.tasks.simulate import simulate_liquid

    md = MolecularDynamics(**(MD | {"stability": {"max_force": 1e-6, "check_connectivity": False}}))
    ws, model_id, box_id = workspace(tmp_path, *box_and_model)
    state, message, run_id = in_flow(
        simulate_liquid, ws, model_id, WATER, box_id, md, MDExecution(device="cpu"), "water-random", with_state=True
    )
    assert state == "Unstable" and "stopped by the stability watch at step 0: force " in message  # seen in the UI
    with session_scope(ws.db_url) as session:
        run = session.get(MDRun, run_id)
        session.expunge(run)
        assert run.status == "unstable" and run.n_steps_done == 0
        assert run.error.startswith("step 0: force ") and "exceeds 1e-06 eV/Å" in run.error
        assert run.settings == md.identity() | {"temperature_K": 300.0, "pressure_bar": 1.0}
        assert run.key == step_key(
            "simulate",
            model=session.get(Model, model_id).file_sha256,
            box="b" * 64,
            md=md.identity(),
            temperature_K=300.0,
            pressure_bar=1.0,
        )
    # execution settings are no part of the key: the stored run is found again, and nothing is computed
    calls = counting_calculator(monkeypatch)
    assert (
        in_flow(simulate_liquid, ws, model_id, WATER, box_id, md, MDExecution(device="cpu", n_threads=2), "other")
        == run_id
    )
    assert calls == []
    assert in_flow(analyse_run, ws, run_id, Analysis(), None) == run_id
    with session_scope(ws.db_url) as session:
        assert session.scalars(select(Observable)).all() == []
        [row] = results_rows(session, 1, ["water"])
    assert row["md_status"] == "unstable" and row["md_error"] == run.error and row["density_g_cm3"] is None
    report = Path(in_flow(write_report, ws, "test", ["water"])).read_text()
    assert f"- **water** with **random** (unstable): {run.error}" in report


def test_md_dtype_evaluates_the_float64_model_in_float32_as_another_run(tmp_path, prefect_harness, box_and_model):
    """``md.dtype: float32`` is a run of its own (another key, another row) whose model runs in
    float32: its energies differ from the float64 run's in the 7th digit, not in the 3rd."""
    from mlipcamp.science.md import read_md_log

    ws, model_id, box_id = workspace(tmp_path, *box_and_model)
    runs = {dtype: simulate(ws, model_id, box_id, MolecularDynamics(**MD, dtype=dtype)) for dtype in ("float32", None)}
    with session_scope(ws.db_url) as session:
        rows = {dtype: session.get(MDRun, run_id) for dtype, run_id in runs.items()}
        assert rows["float32"].key != rows[None].key and rows["float32"].settings["dtype"] == "float32"
        epot = {dtype: read_md_log(ws.store.path(row.log_file))["epot_eV"][0] for dtype, row in rows.items()}
    assert epot["float32"] != epot[None]
    assert epot["float32"] == pytest.approx(epot[None], rel=1e-5)
