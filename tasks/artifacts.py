"""What the Prefect UI shows of a campaign: plots as images inside markdown artifacts (a PNG as a data
URI, since the UI's browser cannot read the work directory), tables as table artifacts, and named
states for steps that completed with a result a person must see (an unstable MD run, a failed training)."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Completed, State

T = TypeVar("T")


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key from ``parts``: lowercase letters, digits and dashes only."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower())).strip("-")


def png_data_uri(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def publish_plots(title: str, plots: Mapping[str, str | Path], description: str, key: str | None = None) -> None:
    """One markdown artifact showing ``plots`` (name → PNG file) under ``title``. Without a key it is
    listed on its task run and flow run only, not among the Artifacts page's collections."""
    sections = [f"## {title}"]
    sections += [
        f"**{name}**\n\n![{name}]({png_data_uri(path)})" for name, path in plots.items() if Path(path).is_file()
    ]
    create_markdown_artifact(markdown="\n\n".join(sections), key=key, description=description)


def publish_table(key: str, rows: Sequence[Mapping], columns: Sequence[str], description: str) -> None:
    """A table artifact of ``rows`` with ``columns`` (missing values empty)."""
    table = [{column: _cell(row.get(column)) for column in columns} for row in rows]
    create_table_artifact(table=table, key=key, description=description)


def _cell(value: object) -> object:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return "" if value is None else value


def inline_images(markdown: str, directory: Path) -> str:
    """``markdown`` with each image ``![alt](relative.png)`` embedded from ``directory``."""

    def embed(match: re.Match) -> str:
        path = directory / match.group(2)
        return f"![{match.group(1)}]({png_data_uri(path)})" if path.is_file() else match.group(0)

    return re.sub(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)", embed, markdown)


def flagged(value: T, state_name: str, message: str) -> State[T]:
    """A Completed state named ``state_name`` (``Unstable``, ``TrainingFailed`` …) that carries ``value``:
    the Prefect UI shows the name and message on the task run, the flow reads ``value`` as usual; the
    message is also a markdown artifact on the task run."""
    create_markdown_artifact(markdown=f"**{state_name}**: {message}", description=f"{state_name}: {message[:120]}")
    return Completed(data=value, name=state_name, message=message)
