"""Consistency checks of a catalog (SQL only; `facevault.services.check` puts them together with the indices).

What is checked: the database file itself (SQLite `integrity_check`), orphan rows (vectors without a face or a
space, faces whose content no image holds, scans of spaces that are gone), and every vector blob against its
space's dimension and unit norm. Repair deletes orphans only; a vector that a face and a space still
reference is never touched.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import delete, func, select, text, update

from facevault.store.catalog import Catalog
from facevault.store.models import Dataset, Face, Image, Scan, SpaceRow, Vector

NORM_TOLERANCE = 1e-3
_CHUNK = 2000
ORPHAN_KINDS = ("vectors without a face", "vectors of a missing space", "faces without an image",
                "scans of a missing space")


def integrity(catalog: Catalog, quick: bool = False) -> list[str]:
    """SQLite's own verdict: ["ok"], or the problems it lists (empty for other databases: not checked)."""
    if not catalog.settings.is_sqlite:
        return []
    with catalog.session() as s:
        rows = s.execute(text("PRAGMA quick_check" if quick else "PRAGMA integrity_check")).scalars().all()
    return [str(r) for r in rows]


def _orphan_queries():
    return {
        "vectors without a face": select(Vector.id).where(~select(Face.id).where(Face.id == Vector.face_id).exists()),
        "vectors of a missing space": select(Vector.id).where(
            ~select(SpaceRow.id).where(SpaceRow.id == Vector.space_id).exists()),
        "faces without an image": select(Face.id).where(~select(Image.id).where(Image.sha256 == Face.sha256).exists()),
        "scans of a missing space": select(Scan.id).where(
            ~select(SpaceRow.id).where(SpaceRow.id == Scan.space_id).exists()),
    }


def orphans(catalog: Catalog) -> dict[str, int]:
    """Orphan rows by kind (see ORPHAN_KINDS)."""
    out = {}
    with catalog.session() as s:
        for kind, q in _orphan_queries().items():
            out[kind] = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    return out


def vector_problems(catalog: Catalog, examples: int = 10) -> dict:
    """Vectors whose blob length is not 4 x the space's dim, or whose values are not unit-norm (or not finite);
    read in chunks, so memory stays flat with the store's size."""
    wrong_len, not_unit, shown = 0, 0, []
    with catalog.session() as s:
        dims = dict(s.execute(select(SpaceRow.id, SpaceRow.dim)).all())
        last = 0
        while True:
            rows = s.execute(select(Vector.id, Vector.space_id, Vector.vector).where(Vector.id > last)
                             .order_by(Vector.id).limit(_CHUNK)).all()
            if not rows:
                break
            last = rows[-1][0]
            for vid, sid, blob in rows:
                dim = dims.get(sid)
                if dim is None:
                    continue  # an orphan, counted there
                if blob is None or len(blob) != 4 * dim:
                    wrong_len += 1
                    if len(shown) < examples:
                        shown.append({"vector": vid, "space": sid, "problem":
                                      f"{0 if blob is None else len(blob)} bytes, expected {4 * dim}"})
                    continue
                n = float(np.linalg.norm(np.frombuffer(blob, "<f4").astype(np.float64)))
                if not np.isfinite(n) or abs(n - 1.0) > NORM_TOLERANCE:
                    not_unit += 1
                    if len(shown) < examples:
                        shown.append({"vector": vid, "space": sid, "problem": f"norm {n:.4g}, expected 1"})
    return {"wrong_length": wrong_len, "not_unit": not_unit, "examples": shown}


def delete_orphans(catalog: Catalog) -> dict[str, int]:
    """Delete every orphan row (under the writer lock); spaces that lost vectors move to a new revision, so their
    indices are rebuilt. Returns rows deleted by kind."""
    out = {}
    with catalog.writing(), catalog.session() as s:
        touched: set[int] = set()
        for kind, q in _orphan_queries().items():
            ids = list(s.scalars(q))
            if kind == "faces without an image" and ids:
                for i in range(0, len(ids), 500):
                    chunk = ids[i:i + 500]
                    touched |= set(s.scalars(select(Vector.space_id).distinct().where(Vector.face_id.in_(chunk))))
                    s.execute(delete(Vector).where(Vector.face_id.in_(chunk)))
            table = {"vectors without a face": Vector, "vectors of a missing space": Vector,
                     "faces without an image": Face, "scans of a missing space": Scan}[kind]
            if table is Vector and ids:
                for i in range(0, len(ids), 500):
                    touched |= set(s.scalars(select(Vector.space_id).distinct().where(Vector.id.in_(ids[i:i + 500]))))
            for i in range(0, len(ids), 500):
                s.execute(delete(table).where(table.id.in_(ids[i:i + 500])))
            out[kind] = len(ids)
        if touched:
            s.execute(update(SpaceRow).where(SpaceRow.id.in_(touched)).values(revision=SpaceRow.revision + 1))
    return out


def unscanned_paths(catalog: Catalog, space_id: int) -> set[str]:
    """Present image paths whose content has no scan in the space yet (an ingest has not reached them), each
    both as stored ("identity/file.jpg") and qualified by its dataset ("dataset/identity/file.jpg")."""
    scanned = select(Scan.id).where(Scan.space_id == space_id, Scan.sha256 == Image.sha256).exists()
    q = (select(Image.path, Dataset.name).outerjoin(Dataset, Dataset.id == Image.dataset_id)
         .where(Image.status != "missing", ~scanned))
    out: set[str] = set()
    with catalog.session() as s:
        for path, ds in s.execute(q):
            out.add(path)
            if ds:
                out.add(f"{ds}/{path}")
    return out
