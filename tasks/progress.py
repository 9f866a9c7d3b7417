"""Progress of a long step in its task's log, thinned: a line each tenth of the work, one at least
every minute, and the last. MD calls back at every log, trajectory and checkpoint interval; a 1 ns
run at 1 fs logging every 100 steps would otherwise send 10 000 lines to the Prefect API per run."""

from __future__ import annotations

import time
from collections.abc import Callable

TENTHS = 10
EVERY_S = 60.0


class ThinnedProgress:
    """A ``progress(done, total)`` callback that passes on only the calls worth a log line."""

    def __init__(self, log: Callable[[int, int], None], clock: Callable[[], float] = time.monotonic):
        self._log, self._clock = log, clock
        self._last_tenth, self._last_time = 0, clock()

    def __call__(self, done: int, total: int) -> None:
        tenth, now = done * TENTHS // max(total, 1), self._clock()
        if done >= total or tenth > self._last_tenth or now - self._last_time >= EVERY_S:
            self._log(done, total)
            self._last_tenth, self._last_time = tenth, now
