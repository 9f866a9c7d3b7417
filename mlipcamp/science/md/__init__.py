"""Production molecular dynamics: restartable runs (``run``) of an engine (``engine``) with a
stability watch (``stability``), their files (``files``) and checkpoints (``checkpoint``)."""

from mlipcamp.science.md.engine import MDEngine, make_engine
from mlipcamp.science.md.files import LOG_COLUMNS, read_md_log, read_trajectory
from mlipcamp.science.md.run import MDRunResult, run_md
from mlipcamp.science.md.settings import MolecularDynamics, Stability

__all__ = [
    "LOG_COLUMNS",
    "MDEngine",
    "MDRunResult",
    "MolecularDynamics",
    "Stability",
    "make_engine",
    "read_md_log",
    "read_trajectory",
    "run_md",
]
