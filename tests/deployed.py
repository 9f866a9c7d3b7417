"""One small imported campaign deployed on a real Prefect server and run twice by a process worker:
`test_deployment.py` checks it as a scheduled deployment, `test_ui.py` renders its flow run's
artifacts. One campaign serves both (a run costs minutes on the CI machine)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from real_services import PREFECT, start_prefect_server, stop
from test_end_to_end import mlipcamp, row_counts, small_md
from test_imported_campaign import imported_files, imported_only

from mlipcamp.db.engine import sqlite_url

DEPLOYMENT = "mlipcamp-campaign-from-file/nightly"


def far_cron() -> str:
    """A daily cron at the hour twelve hours from now (UTC): its runs never fall due during the tests,
    whose worker would otherwise take a scheduled run as well as the triggered one."""
    return f"0 {(datetime.now(UTC).hour + 12) % 24} * * *"


@dataclass(frozen=True)
class DeployedCampaign:
    env: dict[str, str]  # points at the server
    config: Path
    workdir: Path
    deploy_stdout: str
    cron: str  # the deployment's schedule
    counts: list[dict[str, int]]  # rows per table after each of the two runs
    files: dict[str, Path]  # the imported datasets


def prefect(*args: str, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([*PREFECT, *args], capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def small_campaign(root: Path, files: dict[str, Path], name: str, **stability) -> Path:
    """The imported-data demo cut to one seed, 2 epochs and 40 MD steps: two models, two MD runs."""
    data = imported_only(root, files)
    data["name"] = name
    data["training"].update(seeds=[1], valid_fraction=0.2, test_fraction=0.2)
    data["training"]["mace"].update(max_num_epochs=2, num_channels=8, batch_size=4)
    data["md"].update(small_md())
    data["md"]["stability"] |= stability
    data["analysis"].update(rdf_r_max="4 Å", diffusion_blocks=2)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.fixture(scope="session")
def deployed_campaign(tmp_path_factory) -> Iterator[DeployedCampaign]:
    """`mlipcamp deploy` of the campaign "nightly" (daily cron, process pool "camp"), then twice a
    triggered run taken by `prefect worker start --run-once`; the server runs until the session ends."""
    root = tmp_path_factory.mktemp("deployed")
    server, env = start_prefect_server(root)
    try:
        files = imported_files(root)
        config, workdir, cron = small_campaign(root, files, "nightly"), root / "work", far_cron()
        deployed = mlipcamp("deploy", str(config), "--cron", cron, "--pool", "camp", "--workdir", str(workdir), env=env)
        assert deployed.returncode == 0, deployed.stderr
        url = sqlite_url(workdir / "mlipcamp.sqlite")
        counts = []
        for _ in range(2):  # triggered now rather than on schedule; the worker takes it and exits when it is done
            prefect("deployment", "run", DEPLOYMENT, env=env)
            prefect("worker", "start", "--pool", "camp", "--run-once", env=env)
            counts.append(row_counts(url))
        yield DeployedCampaign(env, config, workdir, deployed.stdout, cron, counts, files)
    finally:
        stop(server)
