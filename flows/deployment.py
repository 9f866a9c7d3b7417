"""`mlipcamp deploy`: a campaign file as a scheduled Prefect deployment on a process work pool."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from mlipcamp.settings.campaign import CampaignError

DEPLOYED_FLOW = "mlipcamp-campaign-from-file"


def deploy_campaign(config_path: Path, workdir: Path, cron: str, pool: str, name: str) -> str:
    """Create or update the deployment ``name`` of ``flows/deployed.py`` on the Prefect server at
    PREFECT_API_URL, scheduled by ``cron`` (UTC) on work pool ``pool`` (a process pool, created if
    missing); return its full name. Its runs resume the campaign in ``workdir``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.exceptions import ObjectNotFound

    import mlipcamp.flows.deployed as deployed

    try:
        CronSchedule(cron=cron, timezone="UTC")
    except ValueError:
        raise CampaignError(
            f"--cron: {cron!r} is not a cron expression (e.g. '0 2 * * *': 02:00 UTC every day)"
        ) from None
    try:
        with get_client(sync_client=True) as client:
            try:
                client.read_work_pool(pool)
            except ObjectNotFound:
                client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    except (httpx.HTTPError, OSError) as exc:
        raise CampaignError(f"cannot reach the Prefect API at {os.environ.get('PREFECT_API_URL')}: {exc}") from None
    source = Path(deployed.__file__).resolve()
    flow = deployed.campaign_from_file.from_source(
        source=str(source.parent), entrypoint=f"{source.name}:campaign_from_file"
    )
    flow.deploy(
        name=name,
        work_pool_name=pool,
        cron=cron,
        parameters={"config_path": str(config_path), "workdir": str(workdir)},
        description=f"Resume campaign {name} from {config_path} in {workdir}.",
        print_next_steps=False,
    )
    return f"{DEPLOYED_FLOW}/{name}"
