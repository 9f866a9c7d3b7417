"""The real services slow tests run against: PostgreSQL, a Prefect server, Chromium.

`.ci/services` installs and starts them and prints the environment read here. Where a service is
missing, its tests are skipped on a developer's machine and fail in CI (``CI=true``), so a CI run
without them is never green by skipping.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PREFECT = [sys.executable, "-m", "prefect"]


def service(variable: str) -> str:
    """The value of a service's environment variable; skip (or fail in CI) without it."""
    value = os.environ.get(variable)
    if not value:
        message = f'{variable} is not set: run `eval "$(.ci/services)"` first'
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres(monkeypatch) -> Iterator[PostgresServer]:
    """The test PostgreSQL server, PGPASSWORD set for it; the databases it makes are dropped after."""
    server = PostgresServer(service("MLIPCAMP_TEST_POSTGRES"), service("MLIPCAMP_TEST_PGPASSWORD"))
    monkeypatch.setenv("PGPASSWORD", server.password)
    try:
        yield server
    finally:
        server.drop_all()


class PostgresServer:
    def __init__(self, base_url: str, password: str):
        self.base_url, self.password, self.names = base_url, password, []

    def _admin(self):
        import psycopg

        url = self.base_url.replace("postgresql+psycopg", "postgresql") + "/postgres"
        return psycopg.connect(url, password=self.password, autocommit=True)

    def new_database(self) -> str:
        """A new, empty database: its psycopg URL, without the password."""
        name = f"mlipcamp_test_{uuid.uuid4().hex[:10]}"
        with self._admin() as connection:
            connection.execute(f"CREATE DATABASE {name}")
        self.names.append(name)
        return f"{self.base_url}/{name}"

    def drop_all(self) -> None:
        with self._admin() as connection:  # FORCE ends connections that engines of this process still hold
            for name in self.names:
                connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_prefect_server(tmp_path: Path, database_url: str | None = None) -> tuple[subprocess.Popen, dict]:
    """`prefect server start` on a free port (on PostgreSQL when ``database_url``); the environment
    that points at it, once healthy."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    server_env = env | ({"PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url} if database_url else {})
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{env['PREFECT_API_URL']}/health", timeout=2)
            return server, env
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.5)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, then wait."""
    os.killpg(process.pid, 15)
    process.wait(timeout=30)
