"""Catalog schema (SQLAlchemy 2). Alembic migrations in `migrations/` create exactly this."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about the store (dataset root, schema notes)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Dataset(Base):
    """A named dataset: a folder of identity folders (its `root`), one per condition of a study."""

    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    root: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Identity(Base):
    """A person of one dataset: the same folder name in two datasets is two identities."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("dataset_id", "name", name="uq_identity"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))


class Image(Base):
    """One file of a dataset, its path relative to the dataset's root (unique per dataset). `status`: ok, error
    (undecodable) or missing (gone from disk). Scans, faces and vectors are keyed by content, so a content held
    by two datasets is embedded once per space."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("dataset_id", "path", name="uq_image"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SpaceRow(Base):
    """An embedding space: recognizer + detector + aligner. Vectors never mix across spaces."""

    __tablename__ = "spaces"
    __table_args__ = (UniqueConstraint("model", "detector", "aligner", name="uq_space"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    detector: Mapped[str] = mapped_column(String(64))
    aligner: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(16), default="cosine")
    weights_sha256: Mapped[str | None] = mapped_column(String(64))
    options: Mapped[dict | None] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    threshold: Mapped[float | None] = mapped_column(Float)
    threshold_source: Mapped[str | None] = mapped_column(Text)
    images_per_second: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Scan(Base):
    """That a content hash was processed for a space, and what came of it (ok, no-face, error)."""

    __tablename__ = "scans"
    __table_args__ = (UniqueConstraint("sha256", "space_id", name="uq_scan"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    faces: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Face(Base):
    """A detected face in an image's content, per detector: box, landmarks (x1,y1..xn,yn) and their scheme, score."""

    __tablename__ = "faces"
    __table_args__ = (UniqueConstraint("sha256", "detector", "idx", name="uq_face"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    detector: Mapped[str] = mapped_column(String(64))
    idx: Mapped[int] = mapped_column(Integer)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list | None] = mapped_column(JSON)
    landmark_scheme: Mapped[str | None] = mapped_column(String(16))  # what the points mean (core.types)
    score: Mapped[float] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(64))
    is_subject: Mapped[bool] = mapped_column(default=False)


Index("ix_faces_sha_detector", Face.sha256, Face.detector)


class Vector(Base):
    """A little-endian float32 embedding of one face in one space, L2-normalised, with its raw norm."""

    __tablename__ = "vectors"
    __table_args__ = (UniqueConstraint("face_id", "space_id", name="uq_vector"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id"), index=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id"), index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    norm: Mapped[float | None] = mapped_column(Float)  # L2 norm of the raw embedding (vector is unit length)
