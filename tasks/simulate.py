"""simulate: MD of a liquid box with a trained model, restartable from its checkpoint."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.states import State

from mlipcamp.db.engine import session_scope
from mlipcamp.db.models import LiquidBox, MDRun, Model
from mlipcamp.db.records import find_by_key, get_or_create, link_to_campaign
from mlipcamp.db.step_lock import step_lock
from mlipcamp.science.devices import resolve_device
from mlipcamp.science.mace_calculator import mace_calculator
from mlipcamp.science.md import MolecularDynamics, run_md
from mlipcamp.science.provenance import where
from mlipcamp.settings.campaign import Liquid
from mlipcamp.settings.execution import MDExecution
from mlipcamp.tasks.artifacts import flagged
from mlipcamp.tasks.keys import step_key
from mlipcamp.tasks.progress import ThinnedProgress
from mlipcamp.tasks.workspace import Workspace


@task(retries=2)
def simulate_liquid(
    ws: Workspace, model_id: int, liquid: Liquid, box_id: int, md: MolecularDynamics, execution: MDExecution, name: str
) -> int | State[int | None]:
    """Id of the MD run of ``liquid`` with model ``model_id``; None when the model failed to train.

    The run checkpoints into a scratch directory named by its key, so a retry or a new job
    continues from the last checkpoint: an error is stored (status ``failed``) and raised again
    for Prefect to retry. A run stopped by the stability watch is stored as ``unstable`` with the
    reason and step, and is not analysed.
    """
    logger = get_run_logger()
    pressure_bar = liquid.pressure if md.ensemble == "npt" else None
    with session_scope(ws.db_url) as session:
        model, box = session.get(Model, model_id), session.get(LiquidBox, box_id)
        if model.status != "ok":
            logger.warning("no MD for %s: its model failed to train", name)
            return flagged(None, "Skipped", f"no MD: model {model.name} failed to train")
        key = step_key(
            "simulate",
            model=model.file_sha256,
            box=box.key,
            md=md.identity(),
            temperature_K=liquid.temperature,
            pressure_bar=pressure_bar,
        )
    with step_lock(ws.db_url, key):  # campaigns sharing a database run an MD once
        with session_scope(ws.db_url) as session:
            model, box = session.get(Model, model_id), session.get(LiquidBox, box_id)
            if (run := find_by_key(session, MDRun, key)) is not None and run.status in ("ok", "unstable"):
                link_to_campaign(session, ws.campaign_id, "md_run", run.id)
                return run.id if run.status == "ok" else flagged(run.id, "Unstable", f"{name}: {run.error}")
            atoms = ws.store.get_atoms(box.structure.file)
            model_path, dtype, box_structure_id = (
                ws.store.path(model.file),
                md.dtype or model.hyperparameters["default_dtype"],
                box.structure_id,
            )

        device = resolve_device(execution.device)
        calculator = mace_calculator(model_path, device, dtype, execution.n_threads)
        fields: dict = {"status": "failed", "error": None, "device": f"{device} on {where()}"}
        try:
            result = run_md(
                atoms,
                calculator,
                md,
                liquid.temperature,
                pressure_bar,
                ws.scratch("md", key[:16]),
                progress=ThinnedProgress(lambda done, total: logger.info("%s: step %d/%d", name, done, total)),
            )
            log_file, _ = ws.store.put_file(result.log_path, ".csv")
            traj_file, traj_sha = ws.store.put_file(result.traj_path, ".npz")
            fields |= {
                "status": "ok" if result.stopped_reason is None else "unstable",
                "error": None
                if result.stopped_reason is None
                else f"step {result.stopped_step}: {result.stopped_reason}",
                "n_steps_done": result.n_steps_done,
                "wall_time_s": result.wall_time_s,
                "steps_per_s": result.steps_per_s,
                "ns_per_day": result.ns_per_day,
                "log_file": log_file,
                "trajectory_file": traj_file,
                "trajectory_sha256": traj_sha,
            }
            if result.resumed_from_step:
                logger.info("%s: resumed from the checkpoint at step %d", name, result.resumed_from_step)
            if result.stopped_reason is not None:
                logger.error("%s stopped at step %d: %s", name, result.stopped_step, result.stopped_reason)
            logger.info(
                "%s: %d steps, %.1f steps/s, %.3f ns/day on %s",
                name,
                result.n_steps_done,
                result.steps_per_s,
                result.ns_per_day,
                device,
            )
        except Exception as exc:  # recorded below, then raised again: Prefect's retry resumes from the checkpoint
            fields["error"], failure = f"{type(exc).__name__}: {exc}", exc
            logger.error("%s failed: %s", name, fields["error"])
        else:
            failure = None

        with session_scope(ws.db_url) as session:
            run = get_or_create(
                session,
                MDRun,
                {"key": key},
                name=name,
                model_id=model_id,
                liquid=liquid.name,
                box_structure_id=box_structure_id,
                ensemble=md.ensemble,
                temperature_k=liquid.temperature,
                pressure_bar=pressure_bar,
                timestep_fs=md.timestep,
                n_steps_target=md.total_steps,
                status=fields["status"],
                settings=md.identity() | {"temperature_K": liquid.temperature, "pressure_bar": pressure_bar},
            )
            for field, value in fields.items():
                setattr(run, field, value)
            link_to_campaign(session, ws.campaign_id, "md_run", run.id)
            run_id = run.id
        if failure is not None:
            raise failure
        if fields["status"] == "unstable":
            return flagged(run_id, "Unstable", f"{name}: stopped by the stability watch at {fields['error']}")
        return run_id
