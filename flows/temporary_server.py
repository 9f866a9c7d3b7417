"""The temporary Prefect server of a run: Prefect's own uvicorn command (as Prefect 3.8's
``SubprocessASGIServer`` runs it), started in a session of its own and killed with this process.

Written here rather than subclassed: importing ``prefect.server.api.server`` for that class costs
1.6 s of CPU (the whole server application) before the server can even be launched.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from mlipcamp.processes import die_with_parent

STOP_TIMEOUT_S = 5.0  # then SIGKILL, as Prefect does


class TemporaryServer:
    """A Prefect API server on a free port of 127.0.0.1, launched without waiting for it."""

    def __init__(self) -> None:
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def launch(self) -> None:
        """Start uvicorn on a free port, without waiting. In the calling thread: the parent-death
        signal follows the thread that started a process, not its process."""
        import prefect
        from prefect.settings import get_current_settings

        self.port = _free_port()
        app = ["--app-dir", str(prefect.__module_path__.parent), "--factory", "prefect.server.api.server:create_app"]
        options = ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        server_env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        settings = get_current_settings()
        self.log_path = Path(settings.home) / "server.log"
        with _server_log(self.log_path) as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", *app, *options],
                env={**os.environ, **server_env, **settings.to_environment_variables(exclude_unset=True)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )

    def wait_until_answering(self, timeout_s: float) -> None:
        """Return once /health answers; RuntimeError (one line) when the server exits or
        ``timeout_s`` passes first."""
        import httpx

        deadline = time.monotonic() + timeout_s
        with httpx.Client() as client:
            while (status := self.process.poll()) is None:
                with suppress(httpx.TransportError):
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"it did not answer within {timeout_s:g} s at {self.api_url}")
                time.sleep(0.1)
        raise RuntimeError(f"it exited with status {status} (its log: {self.log_path})")

    def stop(self) -> None:
        """SIGTERM, and SIGKILL after STOP_TIMEOUT_S."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _server_log(path: Path) -> Iterator[int | IO[bytes]]:
    """The server's log file, appended to; /dev/null where it cannot be written (a full disk)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log = path.open("ab")
    except OSError:
        yield subprocess.DEVNULL
        return
    with log:
        yield log
