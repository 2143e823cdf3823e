"""The catalog: opens the database, keeps its schema current, and holds every SQL statement facevault runs.

Reads and writes are in bulk and in chunks; rows come back as the plain values of `facevault.core.types`
(`SpaceRecord`, `Detection`, `StoredVectors`), never as ORM objects, so no other layer writes a query.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import resources
from typing import Iterable, Iterator

import numpy as np
from sqlalchemy import (
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session

from facevault.core.errors import FacevaultError, StoreError, StoreLocked, StoreNotFound
from facevault.core.settings import Settings
from facevault.core.types import (
    Detection,
    ImageResult,
    Landmarks,
    Space,
    SpaceRecord,
    StoredVectors,
)
from facevault.store.models import Face, Identity, Image, Meta, Scan, SpaceRow, Vector

log = logging.getLogger(__name__)
_CHUNK = 500  # SQLite allows 999 bound parameters per statement in old builds
MIGRATION_WAIT_S = 60.0  # how long opening a store waits for another process's migration
# per-image errors that mean the file itself is unusable (recorded on the image, not only on the scan)
FILE_ERRORS = ("empty-file", "not-an-image", "corrupt-image", "unsupported-image", "unreadable")


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _migrations_dir() -> str:
    return str(resources.files("facevault.migrations"))


def _record(row: SpaceRow) -> SpaceRecord:
    return SpaceRecord(
        id=row.id, space=Space(row.model, row.detector, row.aligner, row.dim, row.metric or "cosine"),
        revision=row.revision or 0, threshold=row.threshold, threshold_source=row.threshold_source,
        images_per_second=row.images_per_second, weights_sha256=row.weights_sha256, options=dict(row.options or {}))


def _detection(f: Face) -> Detection:
    return Detection(f.x, f.y, f.w, f.h, f.score, f.source or "", Landmarks.from_list(f.landmarks, f.landmark_scheme))


def _engine(url: str) -> Engine:
    """An engine for `url`, with the user's mistakes (unknown dialect, missing driver) as one line."""
    try:
        return create_engine(url, future=True)
    except NoSuchModuleError:
        scheme = url.split(":", 1)[0]
        raise StoreError(f"--db {url!r}: unknown database kind {scheme!r} (use sqlite:///PATH or "
                         "postgresql+psycopg://USER@HOST/DB)") from None
    except ModuleNotFoundError as exc:
        extra = " (pip install 'facevault[postgres]')" if url.startswith("postgres") else ""
        raise StoreError(f"--db {url.split('://', 1)[0]}://...: the database driver {exc.name!r} is not "
                         f"installed{extra}") from None
    except ArgumentError as exc:
        raise StoreError(f"--db {url!r} is not a database URL: {exc}") from None


class Catalog:
    """One store: a catalog database plus its folder (indices, lock)."""

    def __init__(self, settings: Settings, create: bool = False) -> None:
        self.settings = settings
        store = settings.store
        self._owns_file = settings.default_db
        exists = (store / "catalog.db").is_file() if self._owns_file else store.is_dir()
        if not exists:
            if not create:
                raise StoreNotFound(f"no facevault store at {store} (run `facevault ingest DATASET` first, or pass --store)")
            try:
                store.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store folder {store}: {exc.strerror or exc}") from None
        self.engine: Engine = _engine(settings.db_url)
        if settings.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = None
        self._lock_depth = 0
        self._schema_ready()

    # ---------------------------------------------------------------- lifecycle
    def _schema_ready(self) -> None:
        """Bring the schema to this code's head, under the writer lock so two first runs cannot race."""
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", _migrations_dir())
        script = ScriptDirectory.from_config(cfg)
        head = script.get_current_head()
        current = self.schema_revision()
        if current == head:
            return
        if current is not None and current not in {s.revision for s in script.walk_revisions()}:
            raise StoreError(f"the store's schema (revision {current}) is newer than this facevault knows "
                             f"(head {head}); upgrade facevault to open it")
        with self.writing(wait=MIGRATION_WAIT_S):
            if self.schema_revision() != head:  # another process may have migrated while we waited
                self._migrate(cfg)

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except OperationalError as exc:
            raise StoreError(f"cannot open the catalog {self._where()}: {_db_reason(exc)}") from None

    def _migrate(self, cfg) -> None:
        from alembic import command

        cfg.set_main_option("sqlalchemy.url", self.settings.db_url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def _where(self) -> str:
        return str(self.settings.store / "catalog.db") if self._owns_file else self.engine.url.render_as_string()

    def close(self) -> None:
        while self._lock_depth:
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

    # ---------------------------------------------------------------- the writer lock
    def lock(self, wait: float = 0.0) -> None:
        """Take the store's writer lock (re-entrant); a second writer gets StoreLocked (after `wait` seconds)."""
        from filelock import FileLock, Timeout

        if self._lock is None:
            self._lock = FileLock(str(self.settings.store / ".lock"))
        try:
            self._lock.acquire(timeout=wait)
        except Timeout:
            raise StoreLocked(f"another facevault process is writing to {self.settings.store}; wait for it to "
                              "finish") from None
        except OSError as exc:
            raise StoreError(f"cannot lock the store {self.settings.store}: {exc.strerror or exc}") from None
        self._lock_depth += 1

    def unlock(self) -> None:
        if self._lock is not None and self._lock_depth:
            self._lock.release()
            self._lock_depth -= 1

    @contextmanager
    def writing(self, wait: float = 0.0) -> Iterator[None]:
        self.lock(wait)
        try:
            yield
        finally:
            self.unlock()

    # ---------------------------------------------------------------- meta
    def get_meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(Meta, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(Meta(key=key, value=value))

    def dataset_root(self) -> str | None:
        return self.get_meta("dataset_root")

    def set_dataset_root(self, root: str) -> None:
        self.set_meta("dataset_root", root)

    # ---------------------------------------------------------------- spaces
    def spaces(self) -> list[SpaceRecord]:
        with self.session() as s:
            return [_record(r) for r in s.scalars(select(SpaceRow).order_by(SpaceRow.id))]

    def space_record(self, space_id: int) -> SpaceRecord:
        with self.session() as s:
            row = s.get(SpaceRow, space_id)
            if row is None:
                raise FacevaultError(f"no space with id {space_id} in this store")
            return _record(row)

    def find_space(self, space: Space) -> SpaceRecord | None:
        with self.session() as s:
            row = s.scalars(select(SpaceRow).where(SpaceRow.model == space.model, SpaceRow.detector == space.detector,
                                                   SpaceRow.aligner == space.aligner)).first()
            return _record(row) if row is not None else None

    def ensure_space(self, space: Space, weights_sha256: str | None, options: dict | None = None) -> SpaceRecord:
        """The stored record of `space`, created on first use; refuses weights that changed under it."""
        with self.session() as s:
            row = s.scalars(select(SpaceRow).where(SpaceRow.model == space.model, SpaceRow.detector == space.detector,
                                                   SpaceRow.aligner == space.aligner)).first()
            if row is None:
                row = SpaceRow(model=space.model, detector=space.detector, aligner=space.aligner, dim=space.dim,
                               metric=space.metric, weights_sha256=weights_sha256, options=options or {}, revision=0)
                s.add(row)
                s.flush()
            elif row.weights_sha256 and weights_sha256 and row.weights_sha256 != weights_sha256:
                raise FacevaultError(
                    f"the weights of {space.model} changed since this space was built (sha256 {row.weights_sha256[:12]} "
                    f"-> {weights_sha256[:12]}); use a new --store to keep vectors from mixing"
                )
            return _record(row)

    def set_threshold(self, space_id: int, threshold: float, source: str) -> None:
        with self.session() as s:
            s.execute(update(SpaceRow).where(SpaceRow.id == space_id).values(threshold=threshold,
                                                                             threshold_source=source))

    def add_speed(self, space_id: int, images: int, seconds: float) -> None:
        """Fold one run's throughput into the space's: images/s over every image it has processed, so a
        small top-up run does not overwrite the rate of a full one."""
        with self.session() as s:
            row = s.get(SpaceRow, space_id)
            opts = dict(row.options or {})
            done = opts.get("speed", {"images": 0, "seconds": 0.0})
            done = {"images": done["images"] + images, "seconds": done["seconds"] + seconds}
            opts["speed"] = done
            row.options = opts
            row.images_per_second = done["images"] / done["seconds"] if done["seconds"] > 0 else None

    # ---------------------------------------------------------------- images
    def sync_images(self, records: list[tuple[str, str | None, str, int]], complete: bool = True) -> dict[str, int]:
        """Upsert (path, identity, sha256, bytes) of every file seen. With `complete` (the whole dataset was
        walked), stored files not seen are marked missing; a partial walk (`--limit`) marks nothing.

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
            if complete:
                seen = {r[0] for r in records}
                gone = [v[0] for p, v in existing.items() if p not in seen and v[2] != "missing"]
                for chunk in _chunks(gone):
                    s.execute(update(Image).where(Image.id.in_(chunk)).values(status="missing", updated_at=now))
                counts["missing"] = len(gone)
            if counts["changed"] or counts["missing"]:  # which images a space's vectors stand for moved on
                s.execute(update(SpaceRow).values(revision=SpaceRow.revision + 1))
        return counts

    def scanned(self, space_id: int, only_ok: bool = False) -> set[str]:
        """Contents already processed for a space (with `only_ok`, those that gave a vector)."""
        with self.session() as s:
            q = select(Scan.sha256).where(Scan.space_id == space_id)
            if only_ok:
                q = q.where(Scan.status == "ok")
            return set(s.scalars(q))

    def known_faces(self, detector: str, shas: Iterable[str]) -> dict[str, list[Detection]]:
        """Detections already stored for these contents by the same detector (reused across models)."""
        out: dict[str, list[Detection]] = {}
        shas = list(shas)
        with self.session() as s:
            for chunk in _chunks(shas):
                for f in s.scalars(select(Face).where(Face.detector == detector, Face.sha256.in_(chunk)).order_by(Face.idx)):
                    out.setdefault(f.sha256, []).append(_detection(f))
        return out

    def write_results(self, space_id: int, detector: str, results: list[ImageResult]) -> None:
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
                    lm = d.landmarks
                    new_faces.append({"sha256": r.sha256, "detector": detector, "idx": i, "x": d.x, "y": d.y,
                                      "w": d.w, "h": d.h, "landmarks": lm.to_list() if lm is not None else None,
                                      "landmark_scheme": lm.scheme if lm is not None else None, "score": d.score,
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
                if r.error_kind in FILE_ERRORS:
                    values.update(status="error", error=f"{r.error_kind}: {r.error}")
                elif r.width:
                    values.update(width=r.width, height=r.height, status="ok", error=None)
                s.execute(update(Image).where(Image.sha256 == r.sha256, Image.status != "missing").values(**values))
            if vec_rows:
                s.execute(update(SpaceRow).where(SpaceRow.id == space_id).values(revision=SpaceRow.revision + 1))

    # ---------------------------------------------------------------- reads
    def vectors(self, space_id: int) -> StoredVectors:
        """Subject vector per present image path, ordered by path."""
        with self.session() as s:
            row = s.get(SpaceRow, space_id)
            if row is None:
                raise FacevaultError(f"no space with id {space_id} in this store")
            dim, detector = row.dim, row.detector
            q = (
                select(Vector.id, Image.path, Identity.name, Vector.vector, Vector.norm)
                .join(Face, Face.id == Vector.face_id)
                .join(Image, Image.sha256 == Face.sha256)
                .outerjoin(Identity, Identity.id == Image.identity_id)
                .where(Vector.space_id == space_id, Face.detector == detector, Face.is_subject.is_(True),
                       Image.status == "ok")
                .order_by(Image.path)
            )
            rows = s.execute(q).all()
        mat = (np.frombuffer(b"".join(r[3] for r in rows), dtype="<f4").reshape(len(rows), dim) if rows
               else np.zeros((0, dim), np.float32))
        norms = np.array([np.nan if r[4] is None else r[4] for r in rows], np.float64)
        return StoredVectors(space_id, np.array([r[0] for r in rows], np.int64), [r[1] for r in rows],
                             [r[2] for r in rows], np.ascontiguousarray(mat, dtype=np.float32), norms)

    def image_paths(self) -> dict[str, str | None]:
        """Present image path -> identity name."""
        with self.session() as s:
            q = (select(Image.path, Identity.name).outerjoin(Identity, Identity.id == Image.identity_id)
                 .where(Image.status != "missing"))
            return dict(s.execute(q).all())

    def stats(self) -> dict:
        """Images by status, labelled identities, and per space its scans by status and vector count."""
        with self.session() as s:
            images = dict(s.execute(select(Image.status, func.count()).group_by(Image.status)).all())
            identities = s.scalar(select(func.count(func.distinct(Image.identity_id))).where(Image.status == "ok")) or 0
            per_space = {}
            for sid in s.scalars(select(SpaceRow.id).order_by(SpaceRow.id)):
                scans = dict(s.execute(select(Scan.status, func.count()).where(Scan.space_id == sid)
                                       .group_by(Scan.status)).all())
                nvec = s.scalar(select(func.count()).select_from(Vector).where(Vector.space_id == sid)) or 0
                per_space[sid] = {"scans": scans, "vectors": nvec}
        return {"images": images, "identities": identities, "spaces": per_space}

    def multi_face_counts(self) -> dict[int, int]:
        """Space id -> images in which that space's detector found several faces."""
        with self.session() as s:
            return dict(s.execute(select(Scan.space_id, func.count()).where(Scan.faces > 1)
                                  .group_by(Scan.space_id)).all())

    def subject_faces(self, paths: list[str], detector: str) -> dict[str, Detection]:
        """The stored subject detection of each of these present image paths, by `detector`."""
        out: dict[str, Detection] = {}
        with self.session() as s:
            for chunk in _chunks(list(paths)):
                q = (select(Image.path, Face).join(Face, Face.sha256 == Image.sha256)
                     .where(Image.path.in_(chunk), Face.detector == detector, Face.is_subject.is_(True)))
                out.update({p: _detection(f) for p, f in s.execute(q).all()})
        return out

    def identical_files(self) -> list[tuple[str, str, str, str]]:
        """(path a, identity a, path b, identity b) for every two present files with one content under two
        identities."""
        with self.session() as s:
            shas = select(Image.sha256).where(Image.status != "missing", Image.identity_id.is_not(None)).group_by(
                Image.sha256).having(func.count(func.distinct(Image.identity_id)) > 1)
            rows = s.execute(select(Image.sha256, Image.path, Identity.name)
                             .join(Identity, Identity.id == Image.identity_id)
                             .where(Image.status != "missing", Image.sha256.in_(shas)).order_by(Image.path)).all()
        by_sha: dict[str, list[tuple[str, str]]] = {}
        for sha, path, name in rows:
            by_sha.setdefault(sha, []).append((path, name))
        return [(pa, na, pb, nb) for files in by_sha.values() for k, (pa, na) in enumerate(files)
                for pb, nb in files[k + 1:] if na != nb]

    def scan_rows(self, space_id: int) -> list[tuple[str, str | None, str, int, str | None]]:
        """(path, identity, scan status, faces found, error) of every present image scanned in a space."""
        with self.session() as s:
            q = (select(Image.path, Identity.name, Scan.status, Scan.faces, func.coalesce(Scan.error, Image.error))
                 .join(Scan, Scan.sha256 == Image.sha256).outerjoin(Identity, Identity.id == Image.identity_id)
                 .where(Scan.space_id == space_id, Image.status != "missing").order_by(Image.path))
            return [tuple(r) for r in s.execute(q).all()]

    def identity_image_counts(self) -> dict[str, int]:
        """Identity name -> present images labelled with it."""
        with self.session() as s:
            q = (select(Identity.name, func.count(Image.id)).join(Image, Image.identity_id == Identity.id)
                 .where(Image.status != "missing").group_by(Identity.name))
            return dict(s.execute(q).all())


def _db_reason(exc: OperationalError) -> str:
    text = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    except Exception as exc:  # a read-only store keeps its journal mode; reading still works
        log.debug("sqlite pragmas: %s", exc)
    finally:
        cur.close()

