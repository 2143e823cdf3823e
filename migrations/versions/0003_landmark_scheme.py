"""faces.landmark_scheme: what a face's stored points mean, set by the detector that found it

Before this revision the meaning was inferred from the detection's source at every read; existing rows are
filled from the sources each scheme came from (dlib's passes stored dlib's 5 points, the 5-point ONNX
detectors and deepface's backends ArcFace-order points).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DLIB5_SOURCES = ("hog-up1", "hog-up2", "mmod")


def upgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.add_column(sa.Column("landmark_scheme", sa.String(16), nullable=True))
    faces = sa.table("faces", sa.column("landmarks", sa.JSON), sa.column("source", sa.String),
                     sa.column("landmark_scheme", sa.String))
    # a JSON column holds Python None as the JSON value null, not SQL NULL
    has_points = sa.and_(faces.c.landmarks.is_not(None), sa.cast(faces.c.landmarks, sa.Text) != "null")
    op.execute(faces.update().where(has_points, faces.c.source.in_(DLIB5_SOURCES)).values(landmark_scheme="dlib5"))
    op.execute(faces.update().where(has_points, faces.c.landmark_scheme.is_(None)).values(landmark_scheme="arcface5"))


def downgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.drop_column("landmark_scheme")
