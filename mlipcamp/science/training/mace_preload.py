"""Imported by the training fork server (``mace_runner.PRELOADED``) as it starts: mace-torch's
trainer, without its import-time warnings, which would otherwise land once per Dask worker in the
run's output."""

import contextlib
import os
import warnings

with (
    open(os.devnull, "w") as _sink,
    contextlib.redirect_stdout(_sink),
    contextlib.redirect_stderr(_sink),
    warnings.catch_warnings(),
):
    warnings.simplefilter("ignore")
    import mace.cli.run_train  # noqa: F401
