"""The catalog store: opens the database, applies migrations, reads and writes in bulk."""

from __future__ import annotations

import fcntl
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from sqlalchemy import Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.orm import Session

from facevault.core.settings import Settings
from facevault.core.errors import FacevaultError, NoSpace, StoreLocked, StoreNotFound
from facevault.store.models import Face, Identity, Image, Meta, Scan, Space, Vector

log = logging.getLogger(__name__)
_CHUNK = 500  # SQLite allows 999 bound parameters per statement in old builds


@dataclass(frozen=True)
class SpaceKey:
    model: str
    detector: str
    aligner: str


@dataclass
class StoredVectors:
    """The subject vector of every usable image in one space, aligned arrays."""

    space_id: int
    vector_ids: np.ndarray  # int64
    paths: list[str]
    identities: list[str | None]
    matrix: np.ndarray  # n x dim float32, L2-normalised
    norms: np.ndarray | None = None  # raw L2 norm per row (NaN where unknown)

    def __len__(self) -> int:
        return len(self.paths)

    def by_path(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.paths)}

    def groups(self) -> dict[str, list[int]]:
        return identity_groups(self.identities)


def identity_groups(identities: list[str | None]) -> dict[str, list[int]]:
    """Row indices per identity, in row order; unlabelled rows (None) are left out."""
    groups: dict[str, list[int]] = {}
    for i, ident in enumerate(identities):
        if ident is not None:
            groups.setdefault(ident, []).append(i)
    return groups


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _migrations_dir() -> str:
    return str(resources.files("facevault.migrations"))


class Catalog:
    """One store: a catalog database plus its directory (indices, lock)."""

    def __init__(self, settings: Settings, create: bool = False) -> None:
        self.settings = settings
        store = settings.store
        is_sqlite = settings.db_url.startswith("sqlite")
        if not store.exists() or (is_sqlite and not (store / "catalog.db").exists() and "catalog.db" in settings.db_url):
            if not create:
                raise StoreNotFound(f"no facevault store at {store} (run `facevault ingest DATASET` first, or pass --store)")
            store.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(settings.db_url, future=True)
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock_fh = None
        self.migrate()

    # ---------------------------------------------------------------- lifecycle
    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", _migrations_dir())
        cfg.set_main_option("sqlalchemy.url", self.settings.db_url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self.unlock()
        self.engine.dispose()

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            with s.begin():
                yield s

    def lock(self) -> None:
        """Take the store's writer lock; a second writer gets StoreLocked at once."""
        path = self.settings.store / ".lock"
        fh = open(path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise StoreLocked(f"another facevault process is writing to {self.settings.store}; wait for it to finish") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock_fh = fh

    def unlock(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    # ---------------------------------------------------------------- meta
    def get_meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(Meta, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(Meta(key=key, value=value))

    # ---------------------------------------------------------------- spaces
    def space(self, model: str | None = None, detector: str | None = None, aligner: str | None = None) -> Space:
        """The one space matching what was asked. Without a model: the store's only space, else the default
        model's. Where several spaces match, the one with the model's own default aligner is taken."""
        from facevault.core.settings import DEFAULT_MODEL

        every = self.spaces()
        rows = [r for r in every if (model is None or r.model == model) and (detector is None or r.detector == detector)
                and (aligner is None or r.aligner == aligner)]
        if model is None and len(rows) > 1:
            rows = [r for r in rows if r.model == DEFAULT_MODEL] or rows
        if len(rows) > 1 and aligner is None:
            rows = [r for r in rows if r.aligner == _default_aligner(r.model)] or rows
        if not rows:
            have = [f"{r.model}/{r.detector}/{r.aligner}" for r in every]
            what = f"model {model!r}" if model else "any model"
            raise NoSpace(
                f"the store has no vectors for {what}" + (f" with detector {detector!r}" if detector else "")
                + (f" and aligner {aligner!r}" if aligner else "")
                + (f" (it has: {', '.join(have)})" if have else " (run `facevault ingest DATASET` first)")
            )
        if len(rows) > 1:
            names = ", ".join(f"{r.model}/{r.detector}/{r.aligner}" for r in rows)
            raise NoSpace(f"several spaces match ({names}); pass --model and --detector to choose one")
        return rows[0]

    def spaces(self) -> list[Space]:
        with self.session() as s:
            return list(s.scalars(select(Space).order_by(Space.id)))

    def ensure_space(self, key: SpaceKey, dim: int, weights_sha256: str | None, options: dict | None = None) -> Space:
        with self.session() as s:
            row = s.scalars(
                select(Space).where(Space.model == key.model, Space.detector == key.detector, Space.aligner == key.aligner)
            ).first()
            if row is None:
                row = Space(model=key.model, detector=key.detector, aligner=key.aligner, dim=dim, metric="cosine",
                            weights_sha256=weights_sha256, options=options or {}, revision=0)
                s.add(row)
                s.flush()
            elif row.weights_sha256 and weights_sha256 and row.weights_sha256 != weights_sha256:
                raise FacevaultError(
                    f"the weights of {key.model} changed since this space was built (sha256 {row.weights_sha256[:12]} "
                    f"-> {weights_sha256[:12]}); use a new --store to keep vectors from mixing"
                )
            return row

    def set_threshold(self, space_id: int, threshold: float, source: str) -> None:
        with self.session() as s:
            s.execute(update(Space).where(Space.id == space_id).values(threshold=threshold, threshold_source=source))

    def add_speed(self, space_id: int, images: int, seconds: float) -> None:
        """Fold one run's throughput into the space's: images/s over every image it has processed, so a
        small top-up run does not overwrite the rate of a full one."""
        with self.session() as s:
            space = s.get(Space, space_id)
            opts = dict(space.options or {})
            done = opts.get("speed", {"images": 0, "seconds": 0.0})
            done = {"images": done["images"] + images, "seconds": done["seconds"] + seconds}
            opts["speed"] = done
            space.options = opts
            space.images_per_second = done["images"] / done["seconds"] if done["seconds"] > 0 else None

    # ---------------------------------------------------------------- images
    def sync_images(self, records: list[tuple[str, str | None, str, int]]) -> dict[str, int]:
        """Upsert (path, identity, sha256, bytes) of every file seen; mark the rest missing.

        Returns counts: new, changed, unchanged, missing.
        """
        counts = {"new": 0, "changed": 0, "unchanged": 0, "missing": 0}
        now = datetime.now(timezone.utc)
        with self.session() as s:
            ids = dict(s.execute(select(Identity.name, Identity.id)).all())
            wanted = sorted({r[1] for r in records if r[1] is not None} - set(ids))
            for chunk in _chunks([{"name": n} for n in wanted]):
                s.execute(insert(Identity), chunk)
            if wanted:
                ids = dict(s.execute(select(Identity.name, Identity.id)).all())
            existing = {p: (i, sha, st, ident) for i, p, sha, st, ident in
                        s.execute(select(Image.id, Image.path, Image.sha256, Image.status, Image.identity_id))}
            new_rows, changed = [], []
            for path, ident, sha, size in records:
                ident_id = ids.get(ident) if ident is not None else None
                old = existing.get(path)
                if old is None:
                    new_rows.append({"path": path, "identity_id": ident_id, "sha256": sha, "bytes": size,
                                     "status": "ok", "updated_at": now})
                elif old[1] != sha or old[2] == "missing" or old[3] != ident_id:
                    changed.append({"id": old[0], "sha256": sha, "bytes": size, "identity_id": ident_id,
                                    "status": "ok", "error": None, "width": None, "height": None, "updated_at": now})
                else:
                    counts["unchanged"] += 1
            for chunk in _chunks(new_rows):
                s.execute(insert(Image), chunk)
            if changed:
                s.execute(update(Image), changed)
            counts["new"], counts["changed"] = len(new_rows), len(changed)
            seen = {r[0] for r in records}
            gone = [v[0] for p, v in existing.items() if p not in seen and v[2] != "missing"]
            for chunk in _chunks(gone):
                s.execute(update(Image).where(Image.id.in_(chunk)).values(status="missing", updated_at=now))
            counts["missing"] = len(gone)
        return counts

    def scanned(self, space_id: int, only_ok: bool = False) -> set[str]:
        """Contents already processed for a space (with `only_ok`, those that gave a vector)."""
        with self.session() as s:
            q = select(Scan.sha256).where(Scan.space_id == space_id)
            if only_ok:
                q = q.where(Scan.status == "ok")
            return set(s.scalars(q))

    def known_faces(self, detector: str, shas: Iterable[str]) -> dict[str, list[Face]]:
        """Detections already stored for these contents by the same detector (reused across models)."""
        out: dict[str, list[Face]] = {}
        shas = list(shas)
        with self.session() as s:
            for chunk in _chunks(shas):
                for f in s.scalars(select(Face).where(Face.detector == detector, Face.sha256.in_(chunk)).order_by(Face.idx)):
                    out.setdefault(f.sha256, []).append(f)
        return out

    def write_results(self, space_id: int, detector: str, results: list) -> None:
        """Store a batch of pipeline results in one transaction (faces, vectors, scans, image facts)."""
        if not results:
            return
        now = datetime.now(timezone.utc)
        with self.session() as s:
            new_faces = []
            for r in results:
                if r.reused_faces or not r.faces:
                    continue
                for i, d in enumerate(r.faces):
                    new_faces.append({"sha256": r.sha256, "detector": detector, "idx": i, "x": d.x, "y": d.y,
                                      "w": d.w, "h": d.h, "landmarks": d.landmark_list(), "score": d.score,
                                      "source": d.source, "is_subject": i == r.subject})
            shas = [r.sha256 for r in results]
            fresh = [r.sha256 for r in results if not r.reused_faces]
            for chunk in _chunks(fresh):  # stale detections of a content being detected anew
                stale = list(s.scalars(select(Face.id).where(Face.detector == detector, Face.sha256.in_(chunk))))
                if stale:
                    s.execute(delete(Vector).where(Vector.face_id.in_(stale)))
                    s.execute(delete(Face).where(Face.id.in_(stale)))
            for chunk in _chunks(new_faces):
                s.execute(insert(Face), chunk)
            face_ids: dict[tuple[str, int], int] = {}
            for chunk in _chunks(shas):
                for fid, sha, idx in s.execute(
                    select(Face.id, Face.sha256, Face.idx).where(Face.detector == detector, Face.sha256.in_(chunk))
                ):
                    face_ids[(sha, idx)] = fid
            vec_rows = [
                {"face_id": face_ids[(r.sha256, i)], "space_id": space_id, "vector": v.astype("<f4").tobytes(),
                 "norm": r.norms.get(i)}
                for r in results for i, v in r.vectors.items()
            ]
            if vec_rows:
                ids = [v["face_id"] for v in vec_rows]
                for chunk in _chunks(ids):
                    s.execute(delete(Vector).where(Vector.space_id == space_id, Vector.face_id.in_(chunk)))
                for chunk in _chunks(vec_rows):
                    s.execute(insert(Vector), chunk)
            for chunk in _chunks(shas):
                s.execute(delete(Scan).where(Scan.space_id == space_id, Scan.sha256.in_(chunk)))
            scan_rows = [{"sha256": r.sha256, "space_id": space_id, "status": r.status, "faces": len(r.faces),
                          "error": (f"{r.error_kind}: {r.error}" if r.error_kind else None), "created_at": now}
                         for r in results]
            for chunk in _chunks(scan_rows):
                s.execute(insert(Scan), chunk)
            for r in results:
                values = {"updated_at": now}
                if r.error_kind in ("empty-file", "not-an-image", "corrupt-image", "unsupported-image", "unreadable"):
                    values.update(status="error", error=f"{r.error_kind}: {r.error}")
                elif r.width:
                    values.update(width=r.width, height=r.height, status="ok", error=None)
                s.execute(update(Image).where(Image.sha256 == r.sha256, Image.status != "missing").values(**values))
            if vec_rows:
                s.execute(update(Space).where(Space.id == space_id).values(revision=Space.revision + 1))

    # ---------------------------------------------------------------- reads
    def vectors(self, space_id: int, dim: int) -> StoredVectors:
        """Subject vector per present image path, ordered by path."""
        with self.session() as s:
            space = s.get(Space, space_id)
            q = (
                select(Vector.id, Image.path, Identity.name, Vector.vector, Vector.norm)
                .join(Face, Face.id == Vector.face_id)
                .join(Image, Image.sha256 == Face.sha256)
                .outerjoin(Identity, Identity.id == Image.identity_id)
                .where(Vector.space_id == space_id, Face.detector == space.detector, Face.is_subject.is_(True),
                       Image.status == "ok")
                .order_by(Image.path)
            )
            rows = s.execute(q).all()
        mat = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f4").reshape(len(rows), dim) if rows else np.zeros((0, dim), np.float32)
        norms = np.array([np.nan if r[4] is None else r[4] for r in rows], np.float64)
        return StoredVectors(space_id, np.array([r[0] for r in rows], np.int64), [r[1] for r in rows],
                             [r[2] for r in rows], np.ascontiguousarray(mat, dtype=np.float32), norms)

    def image_paths(self) -> dict[str, str | None]:
        """Present image path -> identity name."""
        with self.session() as s:
            q = select(Image.path, Identity.name).outerjoin(Identity, Identity.id == Image.identity_id).where(Image.status != "missing")
            return dict(s.execute(q).all())

    def stats(self) -> dict:
        with self.session() as s:
            images = dict(s.execute(select(Image.status, func.count()).group_by(Image.status)).all())
            identities = s.scalar(select(func.count(func.distinct(Image.identity_id))).where(Image.status == "ok")) or 0
            per_space = {}
            for sp in s.scalars(select(Space).order_by(Space.id)):
                scans = dict(s.execute(select(Scan.status, func.count()).where(Scan.space_id == sp.id).group_by(Scan.status)).all())
                nvec = s.scalar(select(func.count()).select_from(Vector).where(Vector.space_id == sp.id)) or 0
                per_space[sp.id] = {"scans": scans, "vectors": nvec}
        return {"images": images, "identities": identities, "spaces": per_space}


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _default_aligner(model: str) -> str | None:
    from facevault.zoo import registry
    from facevault.core.errors import UnknownName

    try:
        return registry.model(model).aligner
    except UnknownName:  # a space of a model no longer registered (e.g. a removed user model)
        return None
