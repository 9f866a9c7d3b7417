"""Scheduled deployments on a real Prefect server: `mlipcamp deploy` makes a campaign a cron-scheduled
deployment on a process work pool; a worker runs a triggered run to completion, and a second run
resumes the campaign with nothing recomputed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from real_services import PREFECT, prefect_server  # noqa: F401 (a fixture)
from test_end_to_end import mlipcamp, row_counts
from test_imported_campaign import files, imported_only  # noqa: F401 (files is a fixture)

from mlipcamp.db.engine import sqlite_url

pytestmark = pytest.mark.slow


def prefect(*args: str, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([*PREFECT, *args], capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def flow_runs(env: dict) -> list[tuple[str, str]]:
    """(deployment name, state) of every flow run of a deployment, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs() if r.deployment_id is not None]
        names = {r.deployment_id: client.read_deployment(r.deployment_id).name for r in runs}
        return [(names[r.deployment_id], r.state.type.value) for r in sorted(runs, key=lambda r: r.created)]


def test_deployed_campaign_runs_on_a_worker_and_resumes_on_its_next_run(tmp_path, files, prefect_server):  # noqa: F811
    env = prefect_server
    data = imported_only(tmp_path, files)
    data["name"] = "nightly"
    data["training"].update(seeds=[1], valid_fraction=0.2)
    data["training"]["mace"].update(max_num_epochs=2, num_channels=8, batch_size=4)
    data["md"].update(n_molecules=6, n_steps=40, log_interval=1, trajectory_interval=1)
    data["md"]["stability"] = {"check_connectivity": False}
    data["analysis"].update(rdf_r_max="4 Å", diffusion_blocks=2)
    config, workdir = tmp_path / "nightly.yaml", tmp_path / "work"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))

    bad = mlipcamp("deploy", str(config), "--cron", "every night", "--pool", "camp", env=env)
    assert bad.returncode == 2 and "--cron: 'every night' is not a cron expression" in bad.stderr
    deployed = mlipcamp(
        "deploy", str(config), "--cron", "0 3 * * *", "--pool", "camp", "--workdir", str(workdir), env=env
    )
    assert deployed.returncode == 0, deployed.stderr
    assert "deployment mlipcamp-campaign-from-file/nightly" in deployed.stdout
    wide = env | {"COLUMNS": "1000"}  # rich folds long values (the config's path) at the terminal's width
    inspected = prefect("deployment", "inspect", "mlipcamp-campaign-from-file/nightly", env=wide).stdout
    assert "0 3 * * *" in inspected and str(config) in inspected and "camp" in inspected

    url = sqlite_url(workdir / "mlipcamp.sqlite")
    counts = []
    for _ in range(2):  # triggered now rather than at 03:00; the worker takes it and exits when it is done
        prefect("deployment", "run", "mlipcamp-campaign-from-file/nightly", env=env)
        prefect("worker", "start", "--pool", "camp", "--run-once", env=env)
        counts.append(row_counts(url))
    runs = flow_runs(env)
    assert [run for run in runs if run[1] != "SCHEDULED"] == [("nightly", "COMPLETED"), ("nightly", "COMPLETED")]
    assert ("nightly", "SCHEDULED") in runs  # the next 03:00 runs, from the cron schedule
    assert counts[0]["model"] == 2 and counts[0]["md_run"] == 2 and counts[1] == counts[0]  # nothing recomputed
    assert Path(workdir / "report.md").exists()
