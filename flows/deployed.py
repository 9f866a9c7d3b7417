"""Entry point for Prefect deployments: a campaign named by its file, resumed on every scheduled run."""

from __future__ import annotations

from prefect import flow

from mlipcamp.flows.runner import open_campaign, run


@flow(name="mlipcamp-campaign-from-file", flow_run_name="{config_path}")
def campaign_from_file(config_path: str, workdir: str | None = None) -> str:
    """Run or resume the campaign in ``config_path`` (work directory default runs/NAME); return the report path."""
    campaign, ws = open_campaign(config_path, workdir, create=True)
    return run(campaign, ws)
