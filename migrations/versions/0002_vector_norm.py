"""vectors.norm: the raw embedding's L2 norm, so euclidean distances on raw vectors stay computable

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vectors") as batch:
        batch.add_column(sa.Column("norm", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vectors") as batch:
        batch.drop_column("norm")
