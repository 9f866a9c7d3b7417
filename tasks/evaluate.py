"""evaluate: a trained model's errors on its dataset's splits and on imported test sets, with plots."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task

from mlipcamp.db.engine import session_scope
from mlipcamp.db.models import Model
from mlipcamp.db.queries import dataset_labels, good_labels_of_sample_sets, recorded_plots
from mlipcamp.db.records import record_artifact
from mlipcamp.figures import decomposition_plot, parity_plot
from mlipcamp.science.evaluation import decomposition_errors, error_metrics, predict
from mlipcamp.science.qm import get_level
from mlipcamp.settings.execution import TrainingExecution
from mlipcamp.tasks.artifacts import publish_plots
from mlipcamp.tasks.label import level_row_id
from mlipcamp.tasks.train import SPLITS, dataset_splits, load_labels
from mlipcamp.tasks.workspace import Workspace


@task(retries=1)
def evaluate_model(
    ws: Workspace, model_id: int, execution: TrainingExecution, test_sets: Sequence[tuple[str, int, str]] = ()
) -> int:
    """Fill in a model's RMSE/MAE of energy per atom and forces on train/valid/test and on each imported
    test set ``(name, sample set id, level name)``; parity and force-decomposition plots of the test set."""
    with session_scope(ws.db_url) as session:
        model = session.get(Model, model_id)
        evaluated = set((model.metrics or {}).get("external", {}))
        if model.status != "ok":
            return model_id
        if model.metrics is not None and evaluated >= {t[0] for t in test_sets}:
            _publish(model.name, recorded_plots(session, f"model:{model_id}"))
            return model_id
        name, model_path, dtype = model.name, ws.store.path(model.file), model.hyperparameters["default_dtype"]
        members = dataset_splits(session, ws.store, model.dataset_id)
        training_hashes = {
            row.structure_hash for split, row in dataset_labels(session, model.dataset_id) if split == "train"
        }
        external = {}
        for test, sample_set_id, level in test_sets:
            rows = good_labels_of_sample_sets(session, [sample_set_id], level_row_id(session, get_level(level)))
            if not rows:
                raise ValueError(f"sample set {sample_set_id} has no good labels at {level}")
            external[test] = (load_labels(ws.store, rows), [row.structure_hash for row in rows])

    metrics: dict[str, dict | None] = {}
    plots = {}
    for split, (atoms, energies, forces, _) in members.items():
        if not atoms:  # no test split when the training data hold none out (training.test_fraction 0)
            metrics[split] = None
            continue
        pred_e, pred_f = predict(model_path, atoms, device=execution.device, default_dtype=dtype)
        n_atoms = [len(a) for a in atoms]
        metrics[split] = error_metrics(energies, pred_e, n_atoms, forces, pred_f)
        if split == "test":
            plots["parity"] = parity_plot(
                energies, pred_e, n_atoms, forces, pred_f, ws.plot_path(name, "parity"), f"{name}: test set"
            )
            metrics[split]["force_decomposition"] = decomposition_errors(atoms, forces, pred_f)
            plots["force_decomposition"] = decomposition_plot(
                metrics[split]["force_decomposition"],
                ws.plot_path(name, "force_decomposition"),
                f"{name}: test-set force errors",
            )
    metrics["external"] = {}
    for (test, _, level), ((atoms, energies, forces, _), hashes) in zip(test_sets, external.values(), strict=True):
        pred_e, pred_f = predict(model_path, atoms, device=execution.device, default_dtype=dtype)
        metrics["external"][test] = error_metrics(energies, pred_e, [len(a) for a in atoms], forces, pred_f) | {
            "level_of_theory": level,
            "n_structures": len(atoms),
            "n_in_training": len(training_hashes & set(hashes)),
        }

    with session_scope(ws.db_url) as session:
        model = session.get(Model, model_id)
        for split in SPLITS:
            errors = metrics[split] or {}
            setattr(model, f"rmse_e_{split}_mev_per_atom", errors.get("rmse_e_mev_per_atom"))
            setattr(model, f"rmse_f_{split}_mev_per_ang", errors.get("rmse_f_mev_per_ang"))
        model.metrics = metrics
        for plot_name, path in plots.items():
            record_artifact(session, f"model:{model_id}", plot_name, "plot", path)
    _publish(name, plots)
    return model_id


def _publish(name: str, plots: dict) -> None:
    """The model's test-set plots, shown on its task run and flow run in the Prefect UI."""
    if plots:
        publish_plots(f"{name}: test set", plots, f"{name}: parity and force-error decomposition on its test set")
