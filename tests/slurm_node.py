"""A real single-node SLURM for tests: munge, slurmctld and slurmd from Debian's packages (installed
by `.ci/services`), configured in a temporary directory, with two fake GPUs (character devices named
in gres.conf, so jobs get CUDA_VISIBLE_DEVICES) and two partitions, ``cpu`` and ``gpu``.

Needs root (the daemons run as root; munge as its own user). ``SLURM_CONF`` is exported for sbatch,
squeue and scancel, which dask-jobqueue calls.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd")


def node_line() -> str:
    """This machine as SLURM sees it (``slurmd -C``): NodeName=… CPUs=… RealMemory=…"""
    line = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    memory_mb = int(re.search(r"RealMemory=(\d+)", line)[1]) - 1024  # what the OS keeps
    return re.sub(r"RealMemory=\d+", f"RealMemory={memory_mb}", line)


def write_config(root: Path) -> Path:
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    node = node_line()
    host = re.search(r"NodeName=(\S+)", node)[1]
    for index, minor in enumerate((3, 5)):  # /dev/null's and /dev/zero's numbers: harmless fake GPUs
        device = root / f"fakegpu{index}"
        if not device.exists():
            os.mknod(device, 0o666 | 0o020000, os.makedev(1, minor))
    (root / "gres.conf").write_text(f"NodeName={host} Name=gpu File={root}/fakegpu[0-1] Cores=0-1\n")
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=mlipcamp-test",
                f"SlurmctldHost={host}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "MpiDefault=none",
                "ReturnToService=2",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "DefMemPerCPU=1000",
                "GresTypes=gpu",
                "SchedulerType=sched/backfill",
                "KillWait=5",
                f"StateSaveLocation={root}/state",
                f"SlurmdSpoolDir={root}/spool",
                f"SlurmctldPidFile={root}/slurmctld.pid",
                f"SlurmdPidFile={root}/slurmd.pid",
                f"SlurmctldLogFile={root}/log/slurmctld.log",
                f"SlurmdLogFile={root}/log/slurmd.log",
                f"{node} Gres=gpu:2 State=UNKNOWN",
                f"PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                f"PartitionName=gpu Nodes={host} MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    return conf


def start_slurm(root: Path) -> dict[str, str]:
    """Start munge and SLURM configured under ``root``; the environment that reaches them."""
    missing = [d for d in (*DAEMONS, "sbatch") if shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists()]
    if missing:
        message = f"SLURM is not installed ({', '.join(missing)} missing): run `.ci/services` first"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    running = subprocess.run(["pgrep", "-x", "slurmctld|slurmd"], capture_output=True).stdout
    if running:
        pytest.fail("SLURM daemons are running already: stop them first (pkill -x slurmctld; pkill -x slurmd)")
    conf = write_config(root)
    env = os.environ | {"SLURM_CONF": str(conf)}
    Path("/run/munge").mkdir(exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force"], check=True)
    subprocess.run(["/usr/sbin/slurmctld", "-f", str(conf)], check=True, env=env)
    subprocess.run(["/usr/sbin/slurmd", "-f", str(conf)], check=True, env=env)
    deadline = time.monotonic() + 60
    while True:
        state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env).stdout
        if state.strip() and set(state.split()) <= {"idle", "mix", "alloc"}:
            return {"SLURM_CONF": str(conf)}
        assert time.monotonic() < deadline, f"SLURM node not idle: {state!r}\n" + log_tail(root)
        time.sleep(1)


def stop_slurm(root: Path, env: dict[str, str]) -> None:
    """Cancel every job, then stop the daemons started with the configuration under ``root``, and munge."""
    subprocess.run(["scancel", "--full", "--user", "root"], env=os.environ | env, capture_output=True)
    time.sleep(1)
    subprocess.run(["pkill", "-f", "--", str(root / "slurm.conf")], capture_output=True)
    subprocess.run(["pkill", "-x", "munged"], capture_output=True)
    time.sleep(1)


def log_tail(root: Path) -> str:
    return "".join((root / "log" / name).read_text()[-2000:] for name in ("slurmctld.log", "slurmd.log"))


def jobs(env: dict[str, str]) -> list[dict[str, str]]:
    """The queue: id, partition, name, state, gres of each job (``squeue``)."""
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i|%P|%j|%T|%b"], capture_output=True, text=True, env=os.environ | env, check=True
    ).stdout
    keys = ("id", "partition", "name", "state", "gres")
    return [dict(zip(keys, line.split("|"), strict=True)) for line in out.splitlines() if line.strip()]
