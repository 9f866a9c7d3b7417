"""Run leases: one running campaign per database, taken over when its holder is gone.

A run takes the campaign's lease before it computes and renews it every ``RENEW_S``; a lease not
renewed for ``STALE_AFTER_S``, or held by a process of this host that no longer exists, belongs
to a run that was killed and is taken over.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mlipcamp.db.models import RunLease, utcnow

RENEW_S = 15.0
STALE_AFTER_S = 120.0


@dataclass(frozen=True)
class Holder:
    """Who runs a campaign: a random token, the host, the process id and the work directory."""

    token: str
    host: str
    pid: int
    workdir: str

    @classmethod
    def this_process(cls, workdir: str) -> Holder:
        return cls(token=os.urandom(16).hex(), host=socket.gethostname(), pid=os.getpid(), workdir=workdir)


class LeaseHeld(RuntimeError):
    """Another run holds the lease; the message names it."""


def acquire_lease(session: Session, campaign_id: int, holder: Holder) -> None:
    """Take the lease of ``campaign_id`` for ``holder``; LeaseHeld if a live run holds it."""
    now = utcnow()
    row = session.get(RunLease, campaign_id, with_for_update=True)
    if row is not None and not _stale(row, now):
        raise LeaseHeld(
            f"running on host {row.host}, pid {row.pid}, work directory {row.workdir}, "
            f"since {_aware(row.started_at):%Y-%m-%d %H:%M:%S} UTC"
        )
    fields = {"token": holder.token, "host": holder.host, "pid": holder.pid, "workdir": holder.workdir}
    if row is None:
        try:
            with session.begin_nested():
                session.add(RunLease(campaign_id=campaign_id, started_at=now, heartbeat_at=now, **fields))
        except IntegrityError:  # another run took it between our read and our insert
            raise LeaseHeld("another run took the lease at the same moment") from None
        return
    taken = session.execute(
        update(RunLease)
        .where(RunLease.campaign_id == campaign_id, RunLease.token == row.token)
        .values(started_at=now, heartbeat_at=now, **fields)
    )
    if taken.rowcount != 1:
        raise LeaseHeld("another run took over the stale lease at the same moment")


def renew_lease(session: Session, campaign_id: int, token: str) -> bool:
    """Say the holder of ``token`` is alive; False if the lease is no longer its own."""
    renewed = session.execute(
        update(RunLease)
        .where(RunLease.campaign_id == campaign_id, RunLease.token == token)
        .values(heartbeat_at=utcnow())
    )
    return renewed.rowcount == 1


def release_lease(session: Session, campaign_id: int, token: str) -> None:
    """Give the lease back (nothing happens if it is not ``token``'s)."""
    session.execute(delete(RunLease).where(RunLease.campaign_id == campaign_id, RunLease.token == token))


def lease_holder(session: Session, campaign_id: int) -> RunLease | None:
    """The lease row of a campaign, if any (fresh or stale)."""
    return session.scalars(select(RunLease).where(RunLease.campaign_id == campaign_id)).first()


def _stale(row: RunLease, now: datetime) -> bool:
    if now - _aware(row.heartbeat_at) > timedelta(seconds=STALE_AFTER_S):
        return True
    return row.host == socket.gethostname() and not _process_exists(row.pid)


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
