"""file_store: where the database's files live, so every campaign sharing it finds them; device
columns wide enough for a host and its batch job

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "file_store",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="one_file_store"),
        sa.PrimaryKeyConstraint("id"),
    )
    for table in ("model", "md_run"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("device", type_=sa.String(length=200), existing_type=sa.String(length=50))


def downgrade() -> None:
    for table in ("model", "md_run"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("device", type_=sa.String(length=50), existing_type=sa.String(length=200))
    op.drop_table("file_store")
