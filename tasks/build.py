"""build: a packed liquid box per liquid and purpose."""

from __future__ import annotations

from typing import Literal

from prefect import get_run_logger, task

from mlipcamp.db.engine import session_scope
from mlipcamp.db.models import LiquidBox
from mlipcamp.db.records import find_by_key, get_or_create, link_to_campaign, structure_row
from mlipcamp.science.structures import build_box
from mlipcamp.settings.campaign import Liquid
from mlipcamp.tasks.keys import step_key
from mlipcamp.tasks.workspace import Workspace


@task(retries=1)
def build_liquid_box(
    ws: Workspace, liquid: Liquid, n_molecules: int, purpose: Literal["sampling", "md"], seed: int
) -> int:
    """Id of the LiquidBox of ``liquid`` with ``n_molecules`` molecules at its packing density for ``purpose``."""
    composition, density = liquid.counts(n_molecules), liquid.packing_density(purpose)
    key = step_key("build", composition=composition, density_g_cm3=density, seed=seed)
    with session_scope(ws.db_url) as session:
        if (row := find_by_key(session, LiquidBox, key)) is not None:
            link_to_campaign(session, ws.campaign_id, "liquid_box", row.id)
            return row.id
    atoms = build_box(composition, density, seed=seed)
    get_run_logger().info(
        "packed %s: %d molecules, %d atoms, %.2f Å box at %g g/cm³",
        liquid.name,
        n_molecules,
        len(atoms),
        atoms.cell[0, 0],
        density,
    )
    with session_scope(ws.db_url) as session:
        structure = structure_row(session, ws.store, atoms, "box", {"liquid": liquid.name, "purpose": purpose})
        row = get_or_create(
            session,
            LiquidBox,
            {"key": key},
            liquid=liquid.name,
            purpose=purpose,
            n_molecules=n_molecules,
            density_g_cm3=density,
            composition=[list(c) for c in composition],
            structure_id=structure.id,
        )
        link_to_campaign(session, ws.campaign_id, "liquid_box", row.id)
        return row.id
