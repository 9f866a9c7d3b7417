"""Saving matplotlib figures made with the object API (no pyplot state: safe in workers and threads)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Lay out ``fig`` and write it as a 120-dpi PNG at ``path`` (parent folders created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
