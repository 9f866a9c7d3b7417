"""simulate: NPT MD of a liquid box with a trained model."""

from __future__ import annotations

import platform

from prefect import get_run_logger, task

from db.engine import session_scope
from db.models import LiquidBox, MDRun, Model
from db.records import find_by_key, get_or_create, link_to_campaign
from tasks.campaign import Liquid, MolecularDynamics
from tasks.hashing import hash_json
from tasks.md import NPTSettings, run_npt
from tasks.training import resolve_device
from tasks.workspace import Workspace


@task(retries=1)
def simulate_liquid(ws: Workspace, model_id: int, liquid: Liquid, box_id: int, md: MolecularDynamics, name: str) -> int | None:
    """Id of the NPT run of ``liquid`` with model ``model_id``; None when the model failed to train."""
    import torch
    from mace.calculators import MACECalculator

    logger = get_run_logger()
    settings = NPTSettings(
        temperature_K=liquid.temperature, pressure_bar=liquid.pressure, n_steps=md.n_steps,
        timestep_fs=md.timestep, tdamp_fs=md.thermostat_damping, pdamp_fs=md.barostat_damping,
        log_interval=md.log_interval, traj_interval=md.trajectory_interval, seed=md.seed,
    )
    with session_scope(ws.db_url) as session:
        model, box = session.get(Model, model_id), session.get(LiquidBox, box_id)
        if model.status != "ok":
            logger.warning("no MD for %s: its model failed to train", name)
            return None
        key = hash_json({"step": "simulate/1", "model": model.file_sha256, "box": box.key, "settings": settings.__dict__})
        if (run := find_by_key(session, MDRun, key)) is not None and run.status == "ok":
            link_to_campaign(session, ws.campaign_id, "md_run", run.id)
            return run.id
        atoms = ws.store.get_atoms(box.structure.file)
        model_path, dtype, box_structure_id = ws.store.path(model.file), model.hyperparameters["default_dtype"], box.structure_id

    device = resolve_device(md.device)
    torch.set_num_threads(md.n_threads)
    calculator = MACECalculator(model_paths=str(model_path), device=device, default_dtype=dtype)
    out_dir = ws.scratch("md", key[:16])
    fields: dict = {"status": "failed", "error": None, "device": f"{device} ({platform.node()})"}
    try:
        result = run_npt(
            atoms, calculator, settings, out_dir,
            progress=lambda done, total: logger.info("%s: step %d/%d", name, done, total),
        )
        log_file, _ = ws.store.put_file(result.log_path, ".csv")
        traj_file, traj_sha = ws.store.put_file(result.traj_path, ".npz")
        fields |= {
            "status": "ok", "n_steps_done": result.n_steps_done, "wall_time_s": result.wall_time_s,
            "steps_per_s": result.steps_per_s, "ns_per_day": result.ns_per_day,
            "log_file": log_file, "trajectory_file": traj_file, "trajectory_sha256": traj_sha,
        }
        logger.info("%s: %d steps, %.1f steps/s, %.3f ns/day", name, result.n_steps_done, result.steps_per_s, result.ns_per_day)
    except (RuntimeError, ValueError, FloatingPointError) as exc:
        fields["error"] = f"{type(exc).__name__}: {exc}"
        logger.error("%s failed: %s", name, fields["error"])

    with session_scope(ws.db_url) as session:
        run = get_or_create(
            session, MDRun, {"key": key}, name=name, model_id=model_id, liquid=liquid.name,
            box_structure_id=box_structure_id, ensemble=md.ensemble, temperature_k=liquid.temperature,
            pressure_bar=liquid.pressure, timestep_fs=md.timestep, n_steps_target=md.n_steps,
            status=fields["status"], settings=settings.__dict__,
        )
        for field, value in fields.items():
            setattr(run, field, value)
        link_to_campaign(session, ws.campaign_id, "md_run", run.id)
        return run.id
