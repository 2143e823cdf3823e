"""datasets: several named datasets per store; identities belong to a dataset, images are unique per
(dataset, path)

A store of revision 0003 held one dataset whose root was the meta key `dataset_root`. Its images and identities
become one dataset named after that root folder's name (`default` when no root was stored), root kept; every
scan, face and vector is keyed by content and stays as it is.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from datetime import datetime, timezone
from pathlib import PurePath

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# names for the unnamed UNIQUE constraints of 0001 (SQLite reflects them without a name)
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _drop_unique(batch, table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        batch.drop_constraint(f"uq_{table}_{column}", type_="unique")
    else:  # PostgreSQL names a column's UNIQUE table_column_key
        batch.drop_constraint(f"{table}_{column}_key", type_="unique")


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    bind = op.get_bind()
    root = bind.execute(sa.text("SELECT value FROM meta WHERE key = 'dataset_root'")).scalar()
    has_rows = bind.execute(sa.text("SELECT (SELECT COUNT(*) FROM images) + (SELECT COUNT(*) FROM identities)")).scalar()
    dataset_id = None
    if root or has_rows:
        name = PurePath(root).name if root else ""
        datasets = sa.table("datasets", sa.column("name", sa.String), sa.column("root", sa.Text),
                            sa.column("created_at", sa.DateTime(timezone=True)))
        bind.execute(datasets.insert().values(name=name or "default", root=root or "",
                                              created_at=datetime.now(timezone.utc)))
        dataset_id = bind.execute(sa.text("SELECT id FROM datasets")).scalar()

    with op.batch_alter_table("identities", naming_convention=NAMING) as batch:
        batch.add_column(sa.Column("dataset_id", sa.Integer(), nullable=True))
    if dataset_id is not None:
        bind.execute(sa.text("UPDATE identities SET dataset_id = :d"), {"d": dataset_id})
    with op.batch_alter_table("identities", naming_convention=NAMING) as batch:
        _drop_unique(batch, "identities", "name")
        batch.alter_column("dataset_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_identities_dataset_id", "datasets", ["dataset_id"], ["id"])
        batch.create_unique_constraint("uq_identity", ["dataset_id", "name"])
        batch.create_index("ix_identities_dataset_id", ["dataset_id"])

    with op.batch_alter_table("images", naming_convention=NAMING) as batch:
        batch.add_column(sa.Column("dataset_id", sa.Integer(), nullable=True))
    if dataset_id is not None:
        bind.execute(sa.text("UPDATE images SET dataset_id = :d"), {"d": dataset_id})
    with op.batch_alter_table("images", naming_convention=NAMING) as batch:
        _drop_unique(batch, "images", "path")
        batch.alter_column("dataset_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_images_dataset_id", "datasets", ["dataset_id"], ["id"])
        batch.create_unique_constraint("uq_image", ["dataset_id", "path"])
        batch.create_index("ix_images_dataset_id", ["dataset_id"])


def downgrade() -> None:
    # only a store holding one dataset goes back: 0003 has one root and unique paths and identity names
    bind = op.get_bind()
    if (bind.execute(sa.text("SELECT COUNT(*) FROM datasets")).scalar() or 0) > 1:
        raise RuntimeError("cannot downgrade a store holding several datasets to revision 0003")
    with op.batch_alter_table("images") as batch:
        batch.drop_index("ix_images_dataset_id")
        batch.drop_constraint("uq_image", type_="unique")
        batch.drop_constraint("fk_images_dataset_id", type_="foreignkey")
        batch.drop_column("dataset_id")
        batch.create_unique_constraint("uq_images_path", ["path"])
    with op.batch_alter_table("identities") as batch:
        batch.drop_index("ix_identities_dataset_id")
        batch.drop_constraint("uq_identity", type_="unique")
        batch.drop_constraint("fk_identities_dataset_id", type_="foreignkey")
        batch.drop_column("dataset_id")
        batch.create_unique_constraint("uq_identities_name", ["name"])
    op.drop_table("datasets")
