"""Entry point for Prefect deployments: a campaign named by its file, resumed on every scheduled run."""

from __future__ import annotations

from prefect import flow

from mlipcamp.flows.disk_space import require_free_space
from mlipcamp.flows.run_lock import database_lease, workdir_lock
from mlipcamp.flows.runner import campaign_workdir, load_runnable, local_cluster, open_campaign, run


@flow(name="mlipcamp-campaign-from-file", flow_run_name="{config_path}")
def campaign_from_file(config_path: str, workdir: str | None = None) -> str:
    """Run or resume the campaign in ``config_path`` (work directory default runs/NAME); return the
    report path. Holds the run lock and lease as `mlipcamp run` does, so a scheduled run never
    overlaps a run started by hand."""
    path = campaign_workdir(load_runnable(config_path), workdir)
    require_free_space(path)
    with workdir_lock(path, path.name):
        campaign, ws = open_campaign(config_path, path, create=True)
        with database_lease(ws.db_url, ws.campaign_id, campaign.name, ws.workdir), local_cluster(campaign) as cluster:
            return run(campaign, ws, cluster)
