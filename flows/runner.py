"""Runs the campaign flow: Prefect API (the user's, or one temporary server shared with the
Dask workers) and the Dask cluster that executes the tasks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.campaign import Campaign
from tasks.workspace import Workspace


def prefect_environment(workdir: Path, verbose: bool) -> None:
    """Settings read by Prefect at import time: keep its state under the work directory unless set."""
    os.environ.setdefault("PREFECT_HOME", str(workdir / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


@contextmanager
def prefect_api() -> Iterator[str]:
    """The Prefect API URL in use; starts one temporary server when PREFECT_API_URL is unset.

    Exporting its URL means every Dask worker reports to the same server instead of
    starting a server of its own.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if url := os.environ.get("PREFECT_API_URL"):
        yield url
        return
    server = SubprocessASGIServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)  # send the last logs while the server still listens
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


def run(config: Campaign, ws: Workspace) -> str:
    """Run the campaign on a local Dask cluster; return the report path."""
    from prefect_dask import DaskTaskRunner

    from flows.campaign import run_campaign

    execution = config.execution
    runner = DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": execution.n_workers,
            "threads_per_worker": execution.threads_per_worker,
            "processes": True,
            "dashboard_address": None,
        },
    )
    return run_campaign.with_options(task_runner=runner)(config, ws)
