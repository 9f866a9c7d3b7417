"""Runs the campaign flow: Prefect API (the user's, or one temporary server shared with the
Dask workers) and the Dask cluster that executes the tasks."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlipcamp.db.engine import database_url_problem, init_db, redact, session_scope, sqlite_read_url, sqlite_url
from mlipcamp.db.records import StoreMismatch, database_store, register_campaign
from mlipcamp.flows import prefect_database
from mlipcamp.flows.temporary_server import TemporaryServer
from mlipcamp.settings.campaign import Campaign, CampaignError, load_campaign
from mlipcamp.tasks.workspace import Workspace


class ClusterNotStarted(RuntimeError):
    """The campaign's local Dask cluster did not start; the message says why."""


class CampaignNotRun(CampaignError):
    """Results were asked for a campaign that has not been run in this work directory."""


def open_campaign(
    config_path: str | Path, workdir: str | Path | None = None, create: bool = False
) -> tuple[Campaign, Workspace]:
    """Validate the campaign file and open its database (created and migrated when ``create``).

    Raises CampaignError for a bad file, CampaignNotRun when there is nothing to read,
    mlipcamp.db.engine.DatabaseError when the database cannot be reached.
    """
    campaign = load_runnable(config_path)
    workdir = campaign_workdir(campaign, workdir)
    db_path = workdir / "mlipcamp.sqlite"
    url = campaign.database_url or (sqlite_url(db_path) if create else sqlite_read_url(db_path))
    hint = f"run `mlipcamp run {config_path}` first"
    if not create and campaign.database_url is None and not db_path.exists():
        raise CampaignNotRun(f"no results for campaign {campaign.name} in {workdir}: {hint}")
    if create:
        workdir.mkdir(parents=True, exist_ok=True)
        claim_workdir(workdir, campaign.name)
    init_db(url)
    with session_scope(url) as session:
        campaign_id = register_campaign(
            session, campaign.name, campaign.model_dump(mode="json"), campaign.config_hash, create
        )
        if campaign_id is None:
            raise CampaignNotRun(f"campaign {campaign.name} is not in database {redact(url)}: {hint}")
        try:
            store = database_store(session, url, workdir / "store", campaign.store_dir)
        except StoreMismatch as exc:
            raise CampaignError(f"{config_path}: {exc}") from None
    return campaign, Workspace(workdir=str(workdir), db_url=url, campaign_id=campaign_id, store_root=str(store))


OWNER_FILE = "campaign.name"


def claim_workdir(workdir: Path, name: str) -> None:
    """Mark ``workdir`` as campaign ``name``'s; refuse one that holds another campaign's report and tables."""
    owner = workdir / OWNER_FILE
    if owner.exists() and (other := owner.read_text().strip()) != name:
        raise CampaignError(
            f"--workdir: {workdir} holds campaign {other}'s report.md and results.csv; give campaign {name} "
            "a work directory of its own (both may share one database_url)"
        )
    if not owner.exists():
        owner.write_text(name + "\n")


def load_runnable(config_path: str | Path) -> Campaign:
    """The validated campaign file, its database URL checked too; CampaignError says what is wrong."""
    campaign = load_campaign(config_path)
    if campaign.database_url and (problem := database_url_problem(campaign.database_url)):
        raise CampaignError(f"{config_path}: {problem}")
    return campaign


def campaign_workdir(campaign: Campaign, workdir: str | Path | None) -> Path:
    """The work directory of a run: the one given, else runs/<campaign name>; absolute."""
    return Path(workdir or Path("runs") / campaign.name).resolve()


def prefect_environment(workdir: Path, verbose: bool) -> None:
    """Settings read by Prefect at import time: keep its state under the work directory unless set."""
    os.environ.setdefault("PREFECT_HOME", str(workdir / "prefect"))
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


# A loaded 2-core machine has taken 38 s to start the temporary server; Prefect's default waits 20.
SERVER_START_TIMEOUT_S = 180


@contextmanager
def prefect_api() -> Iterator[str]:
    """The Prefect API URL in use, answering; see `starting_prefect_api`."""
    with starting_prefect_api() as api:
        api.wait()
        yield api.url


class PrefectApi:
    """A Prefect API: its URL, known at once, and `wait()`, which returns once it answers."""

    def __init__(self, url: str, started: Callable[[], None] = lambda: None):
        self.url = url
        self._started = started

    def wait(self) -> None:
        """Return once the API answers; CampaignError when the temporary server did not start."""
        self._started()


@contextmanager
def starting_prefect_api() -> Iterator[PrefectApi]:
    """The Prefect API in use; starts one temporary server when PREFECT_API_URL is unset, without
    waiting for it to answer, so that the caller can start its Dask workers meanwhile.

    Exporting its URL means every Dask worker reports to the same server instead of
    starting a server of its own. The server runs in a session of its own, so a Ctrl-C meant for
    the run leaves it up to record how the run ended; it dies with this process, however that ends.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if url := os.environ.get("PREFECT_API_URL"):
        yield PrefectApi(url)
        return
    os.environ.setdefault(
        "PREFECT_SERVER_ANALYTICS_ENABLED", "false"
    )  # no network here; the server would only log errors
    database = prefect_database.server_sqlite_path()
    seeded = database is not None and prefect_database.seed(database)
    server = TemporaryServer()
    answered: list[bool] = []

    def started() -> None:
        if answered:
            return
        try:
            server.wait_until_answering(SERVER_START_TIMEOUT_S)
        except RuntimeError as exc:
            raise CampaignError(
                f"the temporary Prefect server did not start: {exc}; "
                "start one with `prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api"
            ) from None
        if database is not None and not seeded:
            prefect_database.save_template(database)
        answered.append(True)

    try:
        server.launch()
        os.environ["PREFECT_API_URL"] = server.api_url
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield PrefectApi(server.api_url, started)
    finally:
        from prefect.logging.handlers import APILogWorker

        if answered:
            APILogWorker.drain_all(timeout=5)  # send the last logs while the server still listens
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


@contextmanager
def local_cluster(config: Campaign) -> Iterator[Any]:
    """The campaign's local Dask cluster, started now (its workers take seconds to import what they
    run; started while the temporary Prefect server starts, that time is not waited twice); None for
    a batch cluster, which the flow starts itself. Closed on leaving, if the flow has not closed it.

    On a machine without GPUs its workers are forked from a server that imported what they run
    (`fork_workers_from_a_server`, for the rest of this process's life): call it once this process's
    environment is settled. Workers that may use CUDA are still spawned: CUDA in a child of a server
    that imported torch is right by torch's rules, but no GPU has run it yet."""
    import dask

    from mlipcamp.flows.clusters import GPU, WORKER_DASK_CONFIG, runner_arguments
    from mlipcamp.flows.local_cluster import fork_workers_from_a_server

    if config.execution.cluster != "local":
        yield None
        return
    arguments = runner_arguments(config.execution, os.environ.get("PREFECT_API_URL"))
    if GPU not in arguments["cluster_kwargs"]["resources"]:
        fork_workers_from_a_server()
    try:
        with dask.config.set(WORKER_DASK_CONFIG):
            cluster = arguments["cluster_class"](**arguments["cluster_kwargs"])
    except Exception as exc:
        raise ClusterNotStarted(f"the local Dask cluster did not start: {exc}") from exc
    with cluster:
        yield cluster


def run(config: Campaign, ws: Workspace, cluster: Any = None) -> str:
    """Run the campaign on its Dask cluster (``cluster``, one of `local_cluster`, else the cluster the
    execution section describes, started by the flow); return the report path."""
    import dask
    from prefect_dask import DaskTaskRunner

    from mlipcamp.flows.campaign_flow import run_campaign
    from mlipcamp.flows.clusters import WORKER_DASK_CONFIG, api_reachable_from_jobs, runner_arguments

    api_url = os.environ.get("PREFECT_API_URL")
    profile = config.execution.profile
    if profile is not None and not profile.jobs_on_this_host and not api_reachable_from_jobs(api_url):
        raise CampaignError(
            "execution.cluster: batch jobs cannot reach a Prefect API on this machine's loopback; start "
            "`prefect server start --host 0.0.0.0` and export PREFECT_API_URL=http://<this host>:4200/api"
        )
    # a started cluster is named by its address: the task runner travels with every task's context,
    # so it must pickle, and the cluster object does not
    arguments = (
        {"address": cluster.scheduler_address} if cluster is not None else runner_arguments(config.execution, api_url)
    )
    runner = DaskTaskRunner(**arguments)
    with dask.config.set(WORKER_DASK_CONFIG):  # a batch cluster starts inside the flow run
        return run_campaign.with_options(task_runner=runner)(config, ws)
