"""Progress lines are thinned to a tenth of the work, one a minute at least, and the last."""

from mlipcamp.tasks.progress import ThinnedProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_per_tenth_of_the_work_and_the_last():
    lines, clock = [], Clock()
    progress = ThinnedProgress(lambda done, total: lines.append((done, total)), clock)
    for step in range(5, 1001, 5):  # MD calls back every log interval
        progress(step, 1000)
    assert lines == [(step, 1000) for step in range(100, 1001, 100)]


def test_a_slow_run_logs_at_least_once_a_minute():
    lines, clock = [], Clock()
    progress = ThinnedProgress(lambda done, total: lines.append(done), clock)
    for step in range(1, 31):
        clock.now += 25.0  # 25 s per call: 1000 s before the first tenth is done
        progress(step, 1000)
    assert lines == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]  # every third call, 75 s apart


def test_a_resumed_run_says_where_it_is_and_a_short_one_logs_its_end():
    lines, clock = [], Clock()
    progress = ThinnedProgress(lambda done, total: lines.append(done), clock)
    for step in (650, 660, 700):  # resumed from a checkpoint at 640
        progress(step, 1000)
    assert lines == [650, 700]
    short = []
    ThinnedProgress(lambda done, total: short.append(done), clock)(3, 3)
    assert short == [3]
