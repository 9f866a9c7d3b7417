"""import: a user's labelled dataset file into the campaign's database."""

from __future__ import annotations

from prefect import get_run_logger, task

from mlipcamp.db.imports import import_labelled_file
from mlipcamp.settings.campaign import ImportedDataset
from mlipcamp.tasks.workspace import Workspace


@task(retries=1)
def import_dataset(ws: Workspace, dataset: ImportedDataset) -> int:
    """Id of the sample set holding the imported structures (re-importing the same file is a no-op)."""
    summary = import_labelled_file(
        ws.db_url, ws.store, dataset.path, dataset.level_of_theory, dataset.name, ws.campaign_id,
        energy_key=dataset.energy_key, forces_key=dataset.forces_key, stress_key=dataset.stress_key,
        energy_unit=dataset.energy_unit, length_unit=dataset.length_unit,
    )
    get_run_logger().info("imported %s: %d structures, %d new labels at %s", dataset.name, summary.n_structures,
                          summary.n_new_labels, summary.level_name)
    return summary.sample_set_id
