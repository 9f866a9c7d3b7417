"""One running campaign per work directory and per database.

``workdir_lock`` holds an exclusive ``flock`` on ``<workdir>/run.lock`` (the kernel drops it when
the holder dies, however it dies); ``database_lease`` holds the campaign's lease in the results
database (``mlipcamp.db.leases``) and renews it from a thread while the run lasts. A second run is
refused at once by either, with one line naming the run in progress.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlipcamp.db.engine import session_scope
from mlipcamp.db.leases import RENEW_S, STALE_AFTER_S, Holder, LeaseHeld, acquire_lease, release_lease, renew_lease
from mlipcamp.settings.campaign import CampaignError

LOCK_NAME = "run.lock"


class CampaignRunning(CampaignError):
    """The campaign is already running in this work directory or against this database."""


@contextmanager
def workdir_lock(workdir: Path, campaign: str) -> Iterator[None]:
    """Hold ``workdir``'s run lock (creating the directory); CampaignRunning if a live run holds it."""
    path = workdir / LOCK_NAME
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by the run's subprocesses
    except OSError as exc:
        raise CampaignError(f"work directory {workdir} cannot be written: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CampaignRunning(f"{_describe(path)} is already running in {workdir}: wait for it or stop it") from None
    try:
        about = {"campaign": campaign, "host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(about).encode(), 0)
        yield
    finally:
        os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the lock


def _describe(path: Path) -> str:
    """The holder of a lock file as 'campaign NAME (host H, pid P, since T)'."""
    try:
        about = json.loads(path.read_text())
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(about["since"]))
        return f"campaign {about['campaign']} (host {about['host']}, pid {about['pid']}, since {since})"
    except (OSError, ValueError, KeyError):
        return "a campaign"


@contextmanager
def database_lease(db_url: str, campaign_id: int, campaign: str, workdir: str) -> Iterator[None]:
    """Hold the campaign's lease in the database at ``db_url``, renewed every RENEW_S seconds;
    CampaignRunning if a live run elsewhere holds it."""
    holder = Holder.this_process(workdir)
    try:
        with session_scope(db_url) as session:
            acquire_lease(session, campaign_id, holder)
    except LeaseHeld as exc:
        raise CampaignRunning(f"campaign {campaign} is already running against this database: {exc}") from None
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(RENEW_S):
            try:
                with session_scope(db_url) as session:
                    if renew_lease(session, campaign_id, holder.token):
                        continue
            except Exception:  # a database hiccup: the next renewal tries again
                continue
            sys.stderr.write(
                f"error: campaign {campaign}: another run took its lease in the database (not renewed for "
                f"{STALE_AFTER_S} s): stopping this one\n"
            )
            os.kill(os.getpid(), signal.SIGTERM)  # stops the run as a Ctrl-C does
            return

    thread = threading.Thread(target=renew, name="mlipcamp-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            with session_scope(db_url) as session:
                release_lease(session, campaign_id, holder.token)
        except Exception:  # a full disk or a lost database: the lease goes stale (its pid is gone) instead
            pass
