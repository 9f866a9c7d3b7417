"""The ``mlipcamp`` command line: run a campaign, show its status, query its results."""

from __future__ import annotations

import typer

from mlipcamp.cli import analysis, campaign, data, sensitivity

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

app.command()(campaign.plan)
app.command()(campaign.run)
app.command()(campaign.deploy)
app.command()(campaign.status)
app.command()(campaign.results)
app.command()(campaign.models)
app.command()(data.label)
app.command("import")(data.import_)
app.command()(data.export)
app.command("analyse")(analysis.analyse)
app.command()(sensitivity.sensitivity)


def main() -> None:
    app()
