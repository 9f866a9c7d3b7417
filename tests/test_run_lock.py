"""One running campaign per work directory (flock) and per database (lease): refusal names the
running one, a killed holder's lock and lease are taken over, a live one's never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from mlipcamp.db.engine import init_db, session_scope, sqlite_url
from mlipcamp.db.leases import STALE_AFTER_S, Holder, acquire_lease, lease_holder, release_lease, renew_lease
from mlipcamp.db.models import RunLease, utcnow
from mlipcamp.db.records import register_campaign
from mlipcamp.flows.run_lock import LOCK_NAME, CampaignRunning, database_lease, workdir_lock


@pytest.fixture
def campaign_db(tmp_path):
    url = sqlite_url(tmp_path / "shared.sqlite")
    init_db(url)
    with session_scope(url) as session:
        campaign_id = register_campaign(session, "demo", {}, "h", create=True)
    return url, campaign_id


def test_second_lock_of_a_workdir_is_refused_naming_the_holder(tmp_path):
    with (
        workdir_lock(tmp_path / "w", "demo"),
        pytest.raises(CampaignRunning) as refused,
        workdir_lock(tmp_path / "w", "demo"),
    ):
        pass
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message and "campaign demo" in message and "\n" not in message
    with workdir_lock(tmp_path / "w", "demo"):  # released on exit
        pass


def test_lock_of_a_killed_holder_is_taken_over(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from mlipcamp.flows.run_lock import workdir_lock\n"
            "with workdir_lock(Path(sys.argv[1]), 'demo'):\n    print('locked', flush=True); time.sleep(600)",
            str(tmp_path / "w"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(CampaignRunning, match=f"pid {holder.pid}"), workdir_lock(tmp_path / "w", "demo"):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with workdir_lock(tmp_path / "w", "demo"):
        assert (tmp_path / "w" / LOCK_NAME).read_text().count(f'"pid": {os.getpid()}') == 1


def test_database_lease_refuses_a_second_run_and_is_given_back(campaign_db, tmp_path):
    url, campaign_id = campaign_db
    with database_lease(url, campaign_id, "demo", str(tmp_path / "a")):
        with pytest.raises(CampaignRunning) as refused, database_lease(url, campaign_id, "demo", str(tmp_path / "b")):
            pass
        assert f"pid {os.getpid()}" in str(refused.value) and str(tmp_path / "a") in str(refused.value)
    with session_scope(url) as session:
        assert lease_holder(session, campaign_id) is None


def test_stale_leases_are_taken_over_live_ones_kept(campaign_db):
    url, campaign_id = campaign_db
    first = Holder.this_process("a")
    with session_scope(url) as session:
        acquire_lease(session, campaign_id, first)
    # a heartbeat older than STALE_AFTER_S: its run is gone
    with session_scope(url) as session:
        session.get(RunLease, campaign_id).heartbeat_at = utcnow() - timedelta(seconds=STALE_AFTER_S + 1)
    second = Holder.this_process("b")
    with session_scope(url) as session:
        acquire_lease(session, campaign_id, second)
    with session_scope(url) as session:
        assert not renew_lease(session, campaign_id, first.token)  # the old holder lost it
        assert renew_lease(session, campaign_id, second.token)
    # fresh, but held by a process of this host that no longer exists
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with session_scope(url) as session:
        session.get(RunLease, campaign_id).pid = dead.pid
    third = Holder.this_process("c")
    with session_scope(url) as session:
        acquire_lease(session, campaign_id, third)
        assert lease_holder(session, campaign_id).token == third.token
    # fresh and alive (this process): refused
    with pytest.raises(Exception, match="running on host"), session_scope(url) as session:
        acquire_lease(session, campaign_id, Holder.this_process("d"))
    with session_scope(url) as session:
        release_lease(session, campaign_id, second.token)  # not its lease any more: no effect
        assert lease_holder(session, campaign_id).token == third.token


def test_lease_is_renewed_while_held(campaign_db, monkeypatch):
    url, campaign_id = campaign_db
    monkeypatch.setattr("mlipcamp.flows.run_lock.RENEW_S", 0.05)
    with database_lease(url, campaign_id, "demo", "w"):
        with session_scope(url) as session:
            first = lease_holder(session, campaign_id).heartbeat_at
        time.sleep(0.5)
        with session_scope(url) as session:
            assert lease_holder(session, campaign_id).heartbeat_at > first


def test_a_run_whose_lease_was_taken_over_stops_and_says_so(campaign_db, monkeypatch, capsys):
    url, campaign_id = campaign_db
    monkeypatch.setattr("mlipcamp.flows.run_lock.RENEW_S", 0.05)
    terms = []
    previous = signal.signal(signal.SIGTERM, lambda *_: terms.append(time.monotonic()))
    try:
        with database_lease(url, campaign_id, "demo", "w"):
            with session_scope(url) as session:
                lease_holder(session, campaign_id).token = "another run"  # as after a stale takeover
            deadline = time.monotonic() + 5
            while not terms and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(terms) == 1
            time.sleep(0.3)
            assert len(terms) == 1  # said once; the renewals stop
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert "another run took its lease" in capsys.readouterr().err
    with session_scope(url) as session:
        assert lease_holder(session, campaign_id).token == "another run"  # the other run's lease is kept


def test_a_lease_that_cannot_be_given_back_is_left_to_go_stale(campaign_db, monkeypatch):
    url, campaign_id = campaign_db

    def full_disk(*_):
        raise OSError(28, "No space left on device")

    with database_lease(url, campaign_id, "demo", "w"):
        monkeypatch.setattr("mlipcamp.flows.run_lock.release_lease", full_disk)
    with session_scope(url) as session:
        assert lease_holder(session, campaign_id).pid == os.getpid()


def test_temporary_prefect_server_that_does_not_start_is_one_clear_error(monkeypatch):
    """A loaded machine may start Prefect's server slowly: the wait is generous, and its end one line."""
    from mlipcamp.flows import runner
    from mlipcamp.settings.campaign import CampaignError

    assert runner.SERVER_START_TIMEOUT_S >= 120
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(runner, "SERVER_START_TIMEOUT_S", 0.01)
    with pytest.raises(CampaignError) as failed, runner.prefect_api():
        pass
    message = str(failed.value)
    assert "did not answer within 0.01 s" in message and "prefect server start" in message and "\n" not in message


def test_workdir_that_is_a_file_is_one_line(tmp_path):
    from mlipcamp.settings.campaign import CampaignError

    (tmp_path / "file").write_text("")
    with pytest.raises(CampaignError, match="cannot be written: File exists"), workdir_lock(tmp_path / "file", "d"):
        pass


STUCK_RUN = """
import subprocess, sys, time
from mlipcamp.processes import interrupts_stop_the_run

with interrupts_stop_the_run("stopped: resume with X", grace_s=1.0):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    announced = False
    while True:  # library code that swallows the KeyboardInterrupt and never unwinds
        try:
            if not announced:  # inside the try: a signal right after the announcement is swallowed too
                print(child.pid, flush=True)
                announced = True
            time.sleep(100)
        except KeyboardInterrupt:
            pass
"""


def test_a_run_that_does_not_unwind_is_stopped_hard_after_the_grace_time():
    import psutil

    run = subprocess.Popen([sys.executable, "-c", STUCK_RUN], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child = psutil.Process(int(run.stdout.readline()))
    start = time.monotonic()
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 130 and stderr.strip() == "stopped: resume with X", stderr
    assert time.monotonic() - start < 10  # 1 s of grace; the run's own bound is 15 s, and CI machines are loaded
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
