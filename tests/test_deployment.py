"""Scheduled deployments on a real Prefect server: `mlipcamp deploy` makes a campaign a cron-scheduled
deployment on a process work pool; a worker runs a triggered run to completion, and a second run
resumes the campaign with nothing recomputed."""

from __future__ import annotations

import pytest
from deployed import DEPLOYMENT, prefect
from test_end_to_end import mlipcamp

pytestmark = pytest.mark.slow


def flow_runs(env: dict) -> list[tuple[str, str]]:
    """(deployment name, state) of every flow run of a deployment, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs() if r.deployment_id is not None]
        names = {r.deployment_id: client.read_deployment(r.deployment_id).name for r in runs}
        return [(names[r.deployment_id], r.state.type.value) for r in sorted(runs, key=lambda r: r.created)]


def test_deployed_campaign_runs_on_a_worker_and_resumes_on_its_next_run(deployed_campaign):
    env, config, workdir, counts = (
        deployed_campaign.env,
        deployed_campaign.config,
        deployed_campaign.workdir,
        deployed_campaign.counts,
    )
    assert f"deployment {DEPLOYMENT}" in deployed_campaign.deploy_stdout
    bad = mlipcamp("deploy", str(config), "--cron", "every night", "--pool", "camp", env=env)
    assert bad.returncode == 2 and "--cron: 'every night' is not a cron expression" in bad.stderr
    wide = env | {"COLUMNS": "1000"}  # rich folds long values (the config's path) at the terminal's width
    inspected = prefect("deployment", "inspect", DEPLOYMENT, env=wide).stdout
    assert deployed_campaign.cron in inspected and str(config) in inspected and "camp" in inspected

    runs = flow_runs(env)
    assert [run for run in runs if run[1] != "SCHEDULED"] == [("nightly", "COMPLETED"), ("nightly", "COMPLETED")]
    assert ("nightly", "SCHEDULED") in runs  # the next runs, from the cron schedule
    assert counts[0]["model"] == 2 and counts[0]["md_run"] == 2 and counts[1] == counts[0]  # nothing recomputed
    assert (workdir / "report.md").exists()
