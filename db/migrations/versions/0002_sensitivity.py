"""sensitivity: variance components and ranking stability of the compare stage

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sensitivity_component",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("input_key", sa.String(length=64), nullable=False),
        sa.Column("liquid", sa.String(length=100), nullable=False),
        sa.Column("observable", sa.String(length=100), nullable=False),
        sa.Column("factor", sa.String(length=50), nullable=False),
        sa.Column("variance", sa.Float(), nullable=True),
        sa.Column("variance_low", sa.Float(), nullable=True),
        sa.Column("variance_high", sa.Float(), nullable=True),
        sa.Column("share", sa.Float(), nullable=True),
        sa.Column("share_low", sa.Float(), nullable=True),
        sa.Column("share_high", sa.Float(), nullable=True),
        sa.Column("n_levels", sa.Integer(), nullable=True),
        sa.Column("n_models", sa.Integer(), nullable=False),
        sa.Column("n_excluded", sa.Integer(), nullable=False),
        sa.Column("resolved_above_md_noise", sa.Boolean(), nullable=True),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "liquid", "observable", "factor"),
    )
    op.create_index("ix_sensitivity_component_campaign_id", "sensitivity_component", ["campaign_id"])
    op.create_table(
        "ranking_stability",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("input_key", sa.String(length=64), nullable=False),
        sa.Column("liquid", sa.String(length=100), nullable=False),
        sa.Column("observable", sa.String(length=100), nullable=False),
        sa.Column("data_kind", sa.String(length=20), nullable=False),
        sa.Column("order", sa.JSON(), nullable=False),
        sa.Column("kendall_w", sa.Float(), nullable=False),
        sa.Column("agreeing_fraction", sa.Float(), nullable=False),
        sa.Column("n_draws", sa.Integer(), nullable=False),
        sa.Column("min_resolvable_difference", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "liquid", "observable", "data_kind"),
    )
    op.create_index("ix_ranking_stability_campaign_id", "ranking_stability", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_ranking_stability_campaign_id", table_name="ranking_stability")
    op.drop_table("ranking_stability")
    op.drop_index("ix_sensitivity_component_campaign_id", table_name="sensitivity_component")
    op.drop_table("sensitivity_component")
