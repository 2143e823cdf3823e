"""The catalog: opens the database, keeps its schema current, and holds every SQL statement facevault runs.

Reads and writes are in bulk and in chunks; rows come back as the plain values of `facevault.core.types`
(`SpaceRecord`, `Detection`, `StoredVectors`), never as ORM objects, so no other layer writes a query.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import (
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.orm import Session

from facevault.core.errors import (
    DatasetRootMismatch,
    FacevaultError,
    StoreError,
    StoreLocked,
    StoreNotFound,
    UnknownDataset,
)
from facevault.core.settings import Settings
from facevault.core.types import (
    Detection,
    ImageResult,
    Landmarks,
    Space,
    SpaceRecord,
    StoredVectors,
)
from facevault.store.models import (
    Dataset,
    Face,
    Identity,
    Image,
    Meta,
    Scan,
    SpaceRow,
    Vector,
)
from facevault.store.schema import migrations_dir as _migrations_dir
from facevault.store.schema import script_head

log = logging.getLogger(__name__)
_CHUNK = 500  # SQLite allows 999 bound parameters per statement in old builds
STREAM_ROWS = 10_000  # rows per fetch of a streamed read (vectors)
MIGRATION_WAIT_S = 60.0  # how long opening a store waits for another process's migration
MIGRATION_POLL_S = 0.05  # how often it looks again (at the lock and at the schema's revision)
# per-image errors that mean the file itself is unusable (recorded on the image, not only on the scan)
FILE_ERRORS = ("empty-file", "not-an-image", "corrupt-image", "unsupported-image", "unreadable", "too-large")


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


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


#: backends whose results go through a bulk writer of their own (`_write_results_pg`, `_write_results_sqlite`);
#: any other goes through SQLAlchemy's portable statements in `Catalog.write_results`
BULK_DIALECTS = ("postgresql", "sqlite")


class Catalog:
    """One store: a catalog database plus its folder (indices, lock)."""

    def __init__(self, settings: Settings, create: bool = False) -> None:
        self.settings = settings
        store = settings.store
        self._owns_file = settings.default_db
        exists = (store / "catalog.db").is_file() if self._owns_file else store.is_dir()
        made = None  # the first folder this call created, removed again if opening then fails
        if not exists:
            if not create:
                raise StoreNotFound(f"no facevault store at {store} (run `facevault ingest DATASET` first, or pass --store)")
            made = next((p for p in [*reversed(store.absolute().parents), store.absolute()] if not p.exists()), None)
            try:
                store.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store folder {store}: {exc.strerror or exc}") from None
        # a store on a read-only file system (or FACEVAULT_READ_ONLY=1) is opened for reading only: no migration,
        # no journal-mode change, no lock file
        self.read_only = self._owns_file and (os.environ.get("FACEVAULT_READ_ONLY", "") not in ("", "0")
                                              or not _writable(store, store / "catalog.db"))
        self._lock = None
        self._lock_depth = 0
        try:
            self.engine: Engine = self._open_engine()
            self._schema_ready()
        except BaseException:
            if made is not None:
                _remove_if_empty(made, store)
            raise

    def _open_engine(self) -> Engine:
        if not self.read_only:
            engine = _engine(self.settings.db_url)
            if self.settings.is_sqlite:
                event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        path = (self.settings.store / "catalog.db").resolve()
        engine = None
        for flags in ("mode=ro", "mode=ro&immutable=1"):  # immutable: a WAL store whose -shm cannot be made
            engine = _engine(f"sqlite:///file:{path}?{flags}&uri=true")
            event.listen(engine, "connect", _sqlite_read_pragmas)
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()
                return engine
            except DatabaseError:
                engine.dispose()
        return engine  # the failure is reported by schema_revision

    # ---------------------------------------------------------------- lifecycle
    def _schema_ready(self) -> None:
        """Bring the schema to this code's head, under the writer lock so two first runs cannot race.

        A store already at head is opened without importing alembic (the head is read from the scripts' text);
        any other revision goes through alembic: refused when newer, else migrated."""
        current = self.schema_revision()
        if current is not None and current == script_head():
            return
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", _migrations_dir())
        script = ScriptDirectory.from_config(cfg)
        head = script.get_current_head()
        if current == head:
            return
        if current is not None and current not in {s.revision for s in script.walk_revisions()}:
            raise StoreError(f"the store's schema (revision {current}) is newer than this facevault knows "
                             f"(head {head}); upgrade facevault to open it")
        if self.read_only:
            raise StoreError(f"the store {self.settings.store} is read-only and its schema ({current or 'empty'}) "
                             f"needs upgrading to {head}; open it once where it is writable")
        # The writer lock, tried until it is free or the schema has reached head: a first ingest migrates under
        # the lock and then keeps it for its whole run, so a reader opening the store during that migration
        # must not wait for the lock (the run's end), only for the migration.
        deadline = time.monotonic() + MIGRATION_WAIT_S
        while True:
            try:
                self.lock()
            except StoreLocked:
                if self.schema_revision() == head:  # migrated by the process that holds the lock
                    return
                if time.monotonic() >= deadline:
                    raise StoreLocked(f"another facevault process is upgrading the schema of {self._where()} and "
                                      f"has not finished within {MIGRATION_WAIT_S:.0f} s; try again when it "
                                      "has") from None
                time.sleep(MIGRATION_POLL_S)
                continue
            try:
                if self.schema_revision() != head:  # another process may have migrated while we waited
                    try:
                        self._migrate(cfg)
                    except DatabaseError as exc:
                        raise _store_error(exc, self._where(), "upgrading the schema") from None
            finally:
                self.unlock()
            return

    def schema_revision(self) -> str | None:
        """The store's schema revision (None for an empty database), read from alembic's version table as
        alembic's `MigrationContext.get_current_revision()` reads it; alembic itself is imported only for a
        table holding several heads (which it refuses)."""
        try:
            with self.engine.connect() as conn:
                if not conn.dialect.has_table(conn, "alembic_version"):
                    return None
                rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
                if len(rows) > 1:
                    from alembic.runtime.migration import MigrationContext

                    return MigrationContext.configure(conn).get_current_revision()
        except DatabaseError as exc:
            raise _store_error(exc, self._where(), "opening") from None
        return rows[0][0] if rows else None

    def _migrate(self, cfg) -> None:
        from alembic import command

        cfg.set_main_option("sqlalchemy.url", self.settings.db_url.replace("%", "%%"))
        if not self.settings.is_sqlite:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            return
        # SQLite: a migration that recreates a referenced table (batch mode) runs with foreign keys off, as
        # SQLite requires (the pragma is a no-op inside a transaction), and is checked before it commits
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
            try:
                with conn.begin():
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise StoreError(f"upgrading the schema left {len(bad)} rows without their parent "
                                         f"(first: table {bad[0][0]}); nothing was changed")
            finally:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()

    def _where(self) -> str:
        return str(self.settings.store / "catalog.db") if self._owns_file else self.engine.url.render_as_string()

    def close(self) -> None:
        while self._lock_depth:
            self.unlock()
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction; a failure of the database itself (full disk, corrupt file, read-only) is a
        StoreError with one line, and nothing of the transaction is kept (what was committed before is)."""
        try:
            with Session(self.engine, expire_on_commit=False) as s:
                with s.begin():
                    yield s
        except DatabaseError as exc:
            if type(exc) not in (DatabaseError, OperationalError):  # integrity/programming errors are bugs
                raise
            raise _store_error(exc, self._where(), "writing to" if self._lock_depth else "reading") from None

    # ---------------------------------------------------------------- the writer lock
    def lock(self, wait: float = 0.0) -> None:
        """Take the store's writer lock (re-entrant); a second writer gets StoreLocked (after `wait` seconds)."""
        from filelock import FileLock, Timeout

        if self.read_only:
            raise StoreError(f"the store {self.settings.store} is read-only: it can be read (status, search, "
                             "evaluate --no-calibrate), not written")
        from facevault.store import pglock

        if self._lock is None:  # PostgreSQL: an advisory lock in the shared database; else the store's lock file
            self._lock = (pglock.PgAdvisoryLock(self.engine) if self.engine.dialect.name == "postgresql"
                          else FileLock(str(self.settings.store / ".lock")))
        try:
            self._lock.acquire(timeout=wait)
        except (Timeout, pglock.Busy):
            where = self._where() if isinstance(self._lock, pglock.PgAdvisoryLock) else self.settings.store
            raise StoreLocked(f"another facevault process is writing to {where}; wait for it to "
                              "finish") from None
        except DatabaseError as exc:
            raise _store_error(exc, self._where(), "locking") from None
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
        """The root of the store's only dataset (None when it holds none or several: see `datasets`)."""
        roots = self.dataset_roots()
        return next(iter(roots.values())) if len(roots) == 1 else None

    def set_dataset_root(self, root: str, name: str | None = None) -> int:
        """Re-root dataset `name` (default: the only one) at `root`, as after the folder moved on disk."""
        with self.session() as s:
            row = self._dataset_row(s, name)
            row.root = root
            return row.id

    # ---------------------------------------------------------------- datasets
    def _dataset_row(self, s: Session, name: str | None) -> Dataset:
        rows = list(s.scalars(select(Dataset).order_by(Dataset.name)))
        if name is None and len(rows) == 1:
            return rows[0]
        match = [r for r in rows if r.name == name]
        if not match:
            have = ", ".join(r.name for r in rows) or "none"
            what = f"no dataset named {name!r}" if name else "several datasets; name one"
            raise UnknownDataset(f"the store has {what} (it has: {have})")
        return match[0]

    def ensure_dataset(self, name: str, root: str, move_root: bool = False) -> int:
        """The id of dataset `name`, created at `root` on first use. A different root under an existing name is
        refused (DatasetRootMismatch) unless `move_root` (the folder moved on disk: its root is updated)."""
        with self.session() as s:
            row = s.scalars(select(Dataset).where(Dataset.name == name)).first()
            if row is None:
                row = Dataset(name=name, root=root)
                s.add(row)
                s.flush()
            elif row.root != root:
                if not move_root:
                    raise DatasetRootMismatch(
                        f"dataset {name!r} is rooted at {row.root}, not {root}; pass --move-root if the folder "
                        f"moved, or --dataset NAME to ingest it as another dataset")
                log.info("dataset %s re-rooted: %s -> %s", name, row.root, root)
                row.root = root
            return row.id

    def dataset_roots(self) -> dict[str, str]:
        """Dataset name -> root folder, by name."""
        with self.session() as s:
            return dict(s.execute(select(Dataset.name, Dataset.root).order_by(Dataset.name)).all())

    def datasets(self) -> list[dict]:
        """Every dataset: name, root, present images and labelled identities, by name."""
        with self.session() as s:
            imgs = dict(s.execute(select(Image.dataset_id, func.count()).where(Image.status != "missing")
                                  .group_by(Image.dataset_id)).all())
            idents = dict(s.execute(select(Image.dataset_id, func.count(func.distinct(Image.identity_id)))
                                    .where(Image.status != "missing").group_by(Image.dataset_id)).all())
            return [{"name": d.name, "root": d.root, "images": imgs.get(d.id, 0), "identities": idents.get(d.id, 0)}
                    for d in s.scalars(select(Dataset).order_by(Dataset.name))]

    def _scope(self, s: Session, datasets: Iterable[str] | None) -> tuple[list[int] | None, bool]:
        """(dataset ids to read, None for all; whether paths and identities are qualified as "dataset/...").

        Reads of one dataset (or of a store holding one) give its own relative paths and identity names; reads
        spanning several give "name/path" and "name/identity", so that paths stay unique and the same folder
        name in two datasets stays two identities."""
        rows = dict(s.execute(select(Dataset.name, Dataset.id)).all())
        if not datasets:
            return None, len(rows) > 1
        names = list(dict.fromkeys(datasets))
        unknown = [n for n in names if n not in rows]
        if unknown:
            raise UnknownDataset(f"the store has no dataset named {', '.join(map(repr, unknown))} "
                                 f"(it has: {', '.join(sorted(rows)) or 'none'})")
        return [rows[n] for n in names], len(names) > 1

    @staticmethod
    def _labels(qualified: bool):
        """SQL expressions for an image's path and identity name as reads report them (see `_scope`)."""
        if not qualified:
            return Image.path, Identity.name
        return Dataset.name + "/" + Image.path, Dataset.name + "/" + Identity.name

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
    def sync_images(self, records: list[tuple[str, str | None, str, int]], complete: bool = True,
                    dataset_id: int | None = None) -> dict[str, int]:
        """Upsert (path, identity, sha256, bytes) of every file seen in one dataset (default: the only one).
        With `complete` (the whole dataset was walked), its stored files not seen are marked missing; a partial
        walk (`--limit`) marks nothing.

        Returns counts: new, changed, unchanged, missing.
        """
        counts = {"new": 0, "changed": 0, "unchanged": 0, "missing": 0}
        now = datetime.now(timezone.utc)
        with self.session() as s:
            ds = dataset_id if dataset_id is not None else self._dataset_row(s, None).id
            idq = select(Identity.name, Identity.id).where(Identity.dataset_id == ds)
            ids = dict(s.execute(idq).all())
            wanted = sorted({r[1] for r in records if r[1] is not None} - set(ids))
            for chunk in _chunks([{"name": n, "dataset_id": ds} for n in wanted]):
                s.execute(insert(Identity), chunk)
            if wanted:
                ids = dict(s.execute(idq).all())
            existing = {p: (i, sha, st, ident) for i, p, sha, st, ident in
                        s.execute(select(Image.id, Image.path, Image.sha256, Image.status, Image.identity_id)
                                  .where(Image.dataset_id == ds))}
            step = 2000  # rows built and written a slice at a time: the driver's memory stays flat with the dataset
            for start in range(0, len(records), step):
                new_rows, changed = [], []
                for path, ident, sha, size in records[start: start + step]:
                    ident_id = ids.get(ident) if ident is not None else None
                    old = existing.get(path)
                    if old is None:
                        new_rows.append({"path": path, "dataset_id": ds, "identity_id": ident_id, "sha256": sha,
                                         "bytes": size, "status": "ok", "updated_at": now})
                    elif old[1] != sha or old[2] == "missing" or old[3] != ident_id:
                        changed.append({"id": old[0], "sha256": sha, "bytes": size, "identity_id": ident_id,
                                        "status": "ok", "error": None, "width": None, "height": None,
                                        "updated_at": now})
                    else:
                        counts["unchanged"] += 1
                for chunk in _chunks(new_rows):
                    s.execute(insert(Image), chunk)
                if changed:
                    s.execute(update(Image), changed)
                counts["new"] += len(new_rows)
                counts["changed"] += len(changed)
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
            dialect = s.get_bind().dialect.name
            if dialect in BULK_DIALECTS:
                (_write_results_pg if dialect == "postgresql" else _write_results_sqlite)(
                    s.connection(), space_id, detector, results, now)
                return
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
            # image facts in three executemany statements, not one UPDATE per image (the writer's hot path)
            bad = [{"b_sha": r.sha256, "b_error": f"{r.error_kind}: {r.error}"} for r in results
                   if r.error_kind in FILE_ERRORS]
            good = [{"b_sha": r.sha256, "b_w": r.width, "b_h": r.height} for r in results
                    if r.error_kind not in FILE_ERRORS and r.width]
            rest = [{"b_sha": r.sha256} for r in results if r.error_kind not in FILE_ERRORS and not r.width]
            images = Image.__table__  # Core executemany on the session's connection (same transaction)
            present = (images.c.sha256 == bindparam("b_sha")) & (images.c.status != "missing")
            conn = s.connection()
            if bad:
                conn.execute(update(images).where(present).values(status="error", error=bindparam("b_error"),
                                                                  updated_at=now), bad)
            if good:
                conn.execute(update(images).where(present).values(width=bindparam("b_w"), height=bindparam("b_h"),
                                                                  status="ok", error=None, updated_at=now), good)
            if rest:
                conn.execute(update(images).where(present).values(updated_at=now), rest)
            if vec_rows:
                s.execute(update(SpaceRow).where(SpaceRow.id == space_id).values(revision=SpaceRow.revision + 1))

    # ---------------------------------------------------------------- reads
    def vectors(self, space_id: int, datasets: Iterable[str] | None = None) -> StoredVectors:
        """Subject vector per present image path of `datasets` (default: all), ordered by path; paths and
        identities are qualified "dataset/..." when the read spans several datasets (see `_scope`)."""
        with self.session() as s:
            row = s.get(SpaceRow, space_id)
            if row is None:
                raise FacevaultError(f"no space with id {space_id} in this store")
            dim, detector = row.dim, row.detector
            ds_ids, qualified = self._scope(s, datasets)
            path, ident = self._labels(qualified)
            q = (
                select(Vector.id, path, ident, Vector.vector, Vector.norm)
                .join(Face, Face.id == Vector.face_id)
                .join(Image, Image.sha256 == Face.sha256)
                .join(Dataset, Dataset.id == Image.dataset_id)
                .outerjoin(Identity, Identity.id == Image.identity_id)
                .where(Vector.space_id == space_id, Face.detector == detector, Face.is_subject.is_(True),
                       Image.status == "ok")
                .order_by(path)
            )
            if ds_ids is not None:
                q = q.where(Image.dataset_id.in_(ds_ids))
            ids, paths, names, norm_list, blob = [], [], [], [], bytearray()
            # streamed (a server-side cursor on PostgreSQL): rows arrive in batches, never all at once
            for r in s.execute(q, execution_options={"yield_per": STREAM_ROWS}):
                ids.append(r[0])
                paths.append(r[1])
                names.append(r[2])
                norm_list.append(r[4])
                blob += r[3]
        mat = (np.frombuffer(bytes(blob), dtype="<f4").reshape(len(ids), dim) if ids
               else np.zeros((0, dim), np.float32))
        norms = np.array([np.nan if n is None else n for n in norm_list], np.float64)
        return StoredVectors(space_id, np.array(ids, np.int64), paths, names,
                             np.ascontiguousarray(mat, dtype=np.float32), norms)

    def image_paths(self, datasets: Iterable[str] | None = None) -> dict[str, str | None]:
        """Present image path -> identity name, of `datasets` (default: all; labels as in `vectors`)."""
        with self.session() as s:
            ds_ids, qualified = self._scope(s, datasets)
            path, ident = self._labels(qualified)
            q = (select(path, ident).join(Dataset, Dataset.id == Image.dataset_id)
                 .outerjoin(Identity, Identity.id == Image.identity_id).where(Image.status != "missing"))
            if ds_ids is not None:
                q = q.where(Image.dataset_id.in_(ds_ids))
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

    def subject_faces(self, paths: list[str], detector: str, datasets: Iterable[str] | None = None) -> dict[str, Detection]:
        """The stored subject detection of each of these present image paths (labels as in `vectors`), by
        `detector`."""
        out: dict[str, Detection] = {}
        with self.session() as s:
            ds_ids, qualified = self._scope(s, datasets)
            path, _ = self._labels(qualified)
            for chunk in _chunks(list(paths)):
                q = (select(path, Face).join(Face, Face.sha256 == Image.sha256)
                     .join(Dataset, Dataset.id == Image.dataset_id)
                     .where(path.in_(chunk), Face.detector == detector, Face.is_subject.is_(True)))
                if ds_ids is not None:
                    q = q.where(Image.dataset_id.in_(ds_ids))
                out.update({p: _detection(f) for p, f in s.execute(q).all()})
        return out

    def identical_files(self, datasets: Iterable[str] | None = None) -> list[tuple[str, str, str, str]]:
        """(path a, identity a, path b, identity b) for every two present files of `datasets` (default: all)
        with one content under two identities."""
        with self.session() as s:
            ds_ids, qualified = self._scope(s, datasets)
            path, ident = self._labels(qualified)
            where = [Image.status != "missing"] + ([Image.dataset_id.in_(ds_ids)] if ds_ids is not None else [])
            shas = select(Image.sha256).where(*where, Image.identity_id.is_not(None)).group_by(
                Image.sha256).having(func.count(func.distinct(Image.identity_id)) > 1)
            rows = s.execute(select(Image.sha256, path, ident)
                             .join(Identity, Identity.id == Image.identity_id)
                             .join(Dataset, Dataset.id == Image.dataset_id)
                             .where(*where, Image.sha256.in_(shas)).order_by(path)).all()
        by_sha: dict[str, list[tuple[str, str]]] = {}
        for sha, path, name in rows:
            by_sha.setdefault(sha, []).append((path, name))
        return [(pa, na, pb, nb) for files in by_sha.values() for k, (pa, na) in enumerate(files)
                for pb, nb in files[k + 1:] if na != nb]

    def scan_rows(self, space_id: int, datasets: Iterable[str] | None = None
                  ) -> list[tuple[str, str | None, str, int, str | None]]:
        """(path, identity, scan status, faces found, error) of every present image of `datasets` (default:
        all) scanned in a space."""
        with self.session() as s:
            ds_ids, qualified = self._scope(s, datasets)
            path, ident = self._labels(qualified)
            q = (select(path, ident, Scan.status, Scan.faces, func.coalesce(Scan.error, Image.error))
                 .join(Scan, Scan.sha256 == Image.sha256).join(Dataset, Dataset.id == Image.dataset_id)
                 .outerjoin(Identity, Identity.id == Image.identity_id)
                 .where(Scan.space_id == space_id, Image.status != "missing").order_by(path))
            if ds_ids is not None:
                q = q.where(Image.dataset_id.in_(ds_ids))
            return [tuple(r) for r in s.execute(q).all()]

    def identity_image_counts(self, datasets: Iterable[str] | None = None) -> dict[str, int]:
        """Identity name (labels as in `vectors`) -> present images labelled with it, in `datasets` (default:
        all)."""
        with self.session() as s:
            ds_ids, qualified = self._scope(s, datasets)
            _, ident = self._labels(qualified)
            q = (select(ident, func.count(Image.id)).join(Image, Image.identity_id == Identity.id)
                 .join(Dataset, Dataset.id == Image.dataset_id)
                 .where(Image.status != "missing").group_by(ident))
            if ds_ids is not None:
                q = q.where(Image.dataset_id.in_(ds_ids))
            return dict(s.execute(q).all())

    # ---------------------------------------------------------------- index reads (no blob unless asked)
    def _subject_vectors(self, s: Session, space_id: int, *cols):
        row = s.get(SpaceRow, space_id)
        if row is None:
            raise FacevaultError(f"no space with id {space_id} in this store")
        q = (select(*cols).join(Face, Face.id == Vector.face_id).join(Image, Image.sha256 == Face.sha256)
             .where(Vector.space_id == space_id, Face.detector == row.detector, Face.is_subject.is_(True),
                    Image.status == "ok"))
        return q, row.dim

    def vector_map(self, space_id: int) -> tuple[np.ndarray, list[str], list[str | None]]:
        """(vector ids, image paths, identities) of the rows `vectors()` returns (labelled as it labels them),
        ordered by vector id then image, with no blob read: what an index needs to map its rows back to images.
        A content held by several datasets is one vector id on several rows."""
        with self.session() as s:
            _, qualified = self._scope(s, None)
            path, ident = self._labels(qualified)
            q, _ = self._subject_vectors(s, space_id, Vector.id, path, ident)
            q = (q.join(Dataset, Dataset.id == Image.dataset_id).outerjoin(Identity, Identity.id == Image.identity_id)
                 .order_by(Vector.id, Image.id))
            rows = s.execute(q).all()
        return np.array([r[0] for r in rows], np.int64), [r[1] for r in rows], [r[2] for r in rows]

    def vector_batches(self, space_id: int, batch: int = 20_000,
                       ids: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(vector ids, float32 matrix) in batches ordered by vector id: every subject vector of the space,
        or only `ids` (in the order given), so an index is built without holding the table twice."""
        if ids is not None:
            ids = np.asarray(ids, np.int64)
            for start in range(0, len(ids), batch):
                want = ids[start:start + batch].tolist()
                got: dict[int, bytes] = {}
                with self.session() as s:
                    row = s.get(SpaceRow, space_id)
                    if row is None:
                        raise FacevaultError(f"no space with id {space_id} in this store")
                    dim = row.dim
                    for chunk in _chunks(want):
                        got.update(s.execute(select(Vector.id, Vector.vector).where(Vector.id.in_(chunk))).all())
                missing = [i for i in want if i not in got]
                if missing:
                    raise StoreError(f"{len(missing)} vectors vanished from space {space_id} while reading them")
                mat = np.frombuffer(b"".join(got[i] for i in want), dtype="<f4").reshape(len(want), dim)
                yield np.array(want, np.int64), mat.astype(np.float32)
            return
        last = -1
        while True:
            with self.session() as s:
                q, dim = self._subject_vectors(s, space_id, Vector.id, Vector.vector)
                rows = s.execute(q.where(Vector.id > last).order_by(Vector.id).limit(batch)).all()
            if not rows:
                return
            last = rows[-1][0]
            mat = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), dim)
            yield np.array([r[0] for r in rows], np.int64), mat.astype(np.float32)

    def sample_vectors(self, space_id: int, n: int, seed: int = 0) -> np.ndarray:
        """A seeded sample of `n` subject vectors of the space (all of them when it holds fewer)."""
        with self.session() as s:
            q, dim = self._subject_vectors(s, space_id, Vector.id)
            ids = np.array(s.scalars(q.order_by(Vector.id)).all(), np.int64)
        if len(ids) > n:
            ids = np.sort(np.random.default_rng(seed).choice(ids, n, replace=False))
        parts = [m for _, m in self.vector_batches(space_id, ids=ids)]
        return np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)


# ---------------------------------------------------------------- PostgreSQL bulk writer
# One statement per table per batch, every column an array parameter unnested on the server (binary format,
# so vectors travel as raw bytes), and face ids resolved by a join on the server instead of a round trip.
_PG_STALE = """
WITH f AS (SELECT id FROM faces WHERE detector = %(det)s AND sha256 = ANY(%(shas)b::text[])),
     v AS (DELETE FROM vectors WHERE face_id = ANY(ARRAY(SELECT id FROM f)))
DELETE FROM faces WHERE id = ANY(ARRAY(SELECT id FROM f))"""
_PG_FACES = """
INSERT INTO faces (sha256, detector, idx, x, y, w, h, landmarks, landmark_scheme, score, source, is_subject)
SELECT u.sha, %(det)s, u.idx, u.x, u.y, u.w, u.h, u.lm::json, u.scheme, u.score, u.source, u.subj
FROM unnest(%(sha)b::text[], %(idx)b::int[], %(x)b::float8[], %(y)b::float8[], %(w)b::float8[], %(h)b::float8[],
            %(lm)b::text[], %(scheme)b::text[], %(score)b::float8[], %(source)b::text[], %(subj)b::bool[])
     AS u(sha, idx, x, y, w, h, lm, scheme, score, source, subj)"""
# the face of each (sha256, idx), looked up one by one by index (LATERAL ... LIMIT 1: a nested loop driven by the
# batch, never a join against the whole table)
_PG_FACE_IDS = """
FROM unnest(%(sha)b::text[], %(idx)b::int[]{more}) WITH ORDINALITY AS u(sha, idx{more_names}, o)
{join} JOIN LATERAL (SELECT id FROM faces WHERE sha256 = u.sha AND detector = %(det)s AND idx = u.idx LIMIT 1) f{on}"""
# `space_id + 0`: keeps the planner on the face_id index (a space holds most of the table)
_PG_VECTORS_CLEAR = """
DELETE FROM vectors WHERE space_id + 0 = %(space)s AND face_id = ANY(ARRAY(SELECT f.id """ + \
    _PG_FACE_IDS.format(join="CROSS", on="", more="", more_names="") + "))"
_PG_VECTORS = """
INSERT INTO vectors (face_id, space_id, vector, norm)
SELECT f.id, %(space)s, u.v, u.n """ + _PG_FACE_IDS.format(
    join="LEFT", on=" ON true", more=", %(v)b::bytea[], %(n)b::float8[]", more_names=", v, n") + """
ORDER BY u.o"""
# scans replaced per (sha256, space): the batch's old ones deleted (by index: `space_id + 0` keeps the planner off the
# space_id index), then the new ones inserted (cheaper than INSERT ... ON CONFLICT's speculative insertion)
_PG_SCANS_CLEAR = "DELETE FROM scans WHERE space_id + 0 = %(space)s AND sha256 = ANY(%(sha)b::text[])"
_PG_SCANS = """
INSERT INTO scans (sha256, space_id, status, faces, error, created_at)
SELECT u.sha, %(space)s, u.status, u.faces, u.error, %(now)s
FROM unnest(%(sha)b::text[], %(status)b::text[], %(faces)b::int[], %(error)b::text[]) AS u(sha, status, faces, error)"""
# status NULL: only touch updated_at; status 'ok' sets width/height and clears the error; 'error' records it
_PG_IMAGES = """
UPDATE images AS i
SET status = coalesce(u.status, i.status),
    error = CASE WHEN u.status IS NULL THEN i.error ELSE u.error END,
    width = CASE WHEN u.status = 'ok' THEN u.w ELSE i.width END,
    height = CASE WHEN u.status = 'ok' THEN u.h ELSE i.height END,
    updated_at = %(now)s
FROM unnest(%(sha)b::text[], %(status)b::text[], %(error)b::text[], %(w)b::int[], %(h)b::int[])
     AS u(sha, status, error, w, h)
WHERE i.sha256 = u.sha AND i.status <> 'missing'"""
_PG_INDEXED = ("SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), "
               "set_config('enable_mergejoin', 'off', true)")
_PG_REVISION = "UPDATE spaces SET revision = revision + 1 WHERE id = %(space)s"


_json = json.JSONEncoder().encode  # what SQLAlchemy's JSON type writes (json.dumps), without its per-call setup


#: a face row of the bulk writers, in the faces table's column order (the SQLite insert's parameters)
_FACE_COLUMNS = ("sha", "det", "idx", "x", "y", "w", "h", "lm", "scheme", "score", "source", "subj")


def _face_rows(results: list[ImageResult], detector: str) -> list[list]:
    """The faces rows both bulk writers insert (a result whose stored faces were reused adds none), landmarks as
    JSON text written in one pass (JSON null where a face has none, as SQLAlchemy's JSON type writes None)."""
    rows, marks = [], []
    for r in results:
        if r.reused_faces or not r.faces:
            continue
        for i, d in enumerate(r.faces):
            lm = d.landmarks
            if lm is not None:
                marks.append(lm)
            rows.append([r.sha256, detector, i, float(d.x), float(d.y), float(d.w), float(d.h), None,
                         None if lm is None else lm.scheme, float(d.score), d.source, i == r.subject])
    texts = iter(_landmarks_json(marks))
    for row in rows:
        row[7] = "null" if row[8] is None else next(texts)
    return rows


def _landmarks_json(marks: list[Landmarks]) -> list[str]:
    """[json.dumps(lm.to_list()) for lm in marks], the same text, rounded for the whole batch in one numpy pass.

    Exact: the points are float32, so x * 100 is exact in float64 and rint (half to even) of it is the
    correctly rounded integer; its quotient by 100 is the float nearest k / 100, which is what round(x, 2) gives.
    """
    if not marks:
        return []
    flat = [lm.points.reshape(-1) for lm in marks]
    vals = (np.rint(np.concatenate(flat).astype(np.float64) * 100.0) / 100.0).tolist()
    out, at = [], 0
    for f in flat:
        n = len(f)
        out.append(_json([None if v != v else v for v in vals[at:at + n]]))
        at += n
    return out


def _write_results_pg(conn, space_id: int, detector: str, results: list[ImageResult], now: datetime) -> None:
    """`Catalog.write_results` on PostgreSQL, in the session's transaction: the same rows as the portable path, in
    at most nine statements per batch whatever its size, pipelined (psycopg): each is sent as soon as its
    parameters are built, so the server works while the next are, and the batch waits for one round trip."""
    import psycopg
    from sqlalchemy.exc import DBAPIError

    raw = conn.connection.driver_connection  # the session's psycopg connection, in its transaction
    # a libpq older than 14 has no pipeline mode: the same statements then go one round trip each
    pipeline = raw.pipeline() if psycopg.Pipeline.is_supported() else nullcontext()
    sql = None
    try:
        with pipeline, raw.cursor() as cur:
            def send(statement: str, params: dict | None = None) -> None:
                nonlocal sql
                sql = statement
                cur.execute(statement, params)

            # every statement below touches a batch's few hundred keys of tables that grow to millions of rows:
            # look them up by index. Left to itself the planner, without statistics on a table filled moments
            # ago (or with a generic plan of the prepared statement, blind to the arrays' sizes), hash-joins
            # against a full scan of the table in every batch. set_config(..., true): this transaction only.
            send(_PG_INDEXED)
            shas = [r.sha256 for r in results]
            fresh = [r.sha256 for r in results if not r.reused_faces]
            if fresh:  # stale detections (and their vectors, in every space) of contents being detected anew
                send(_PG_STALE, {"det": detector, "shas": fresh})
            # scans and image facts first: they depend on nothing else, and the server writes them while the
            # faces (the costliest parameters to build) are built
            send(_PG_SCANS_CLEAR, {"space": space_id, "sha": shas})
            send(_PG_SCANS, {"space": space_id, "now": now, "sha": shas, "status": [r.status for r in results],
                             "faces": [len(r.faces) for r in results],
                             "error": [f"{r.error_kind}: {r.error}" if r.error_kind else None for r in results]})
            im: dict[str, list] = {k: [] for k in ("status", "error", "w", "h")}
            for r in results:
                if r.error_kind in FILE_ERRORS:
                    status, error, w, h = "error", f"{r.error_kind}: {r.error}", None, None
                elif r.width:
                    status, error, w, h = "ok", None, int(r.width), (None if r.height is None else int(r.height))
                else:  # only updated_at
                    status = error = w = h = None
                im["status"].append(status)
                im["error"].append(error)
                im["w"].append(w)
                im["h"].append(h)
            send(_PG_IMAGES, {"now": now, "sha": shas, **im})
            rows = _face_rows(results, detector)
            if rows:  # one array per column, the detector's column left out (a single parameter)
                cols = list(zip(*rows))
                send(_PG_FACES, {"det": detector,
                                 **{k: list(cols[j]) for j, k in enumerate(_FACE_COLUMNS) if k != "det"}})
            v: dict[str, list] = {k: [] for k in ("sha", "idx", "v", "n")}
            again: dict[str, list] = {"sha": [], "idx": []}
            for r in results:
                for i, vec in r.vectors.items():
                    v["sha"].append(r.sha256)
                    v["idx"].append(int(i))
                    v["v"].append(np.asarray(vec, dtype="<f4").tobytes())
                    n = r.norms.get(i)
                    v["n"].append(None if n is None else float(n))
                    if r.reused_faces:  # its faces were kept: so may be this space's earlier vectors of them
                        again["sha"].append(r.sha256)
                        again["idx"].append(int(i))
            if again["sha"]:
                send(_PG_VECTORS_CLEAR, {"det": detector, "space": space_id, **again})
            if v["sha"]:  # a vector without its face fails (face_id NULL), as the portable path does
                send(_PG_VECTORS, {"det": detector, "space": space_id, **v})
                send(_PG_REVISION, {"space": space_id})
    except psycopg.Error as exc:  # as SQLAlchemy would raise it (session() turns OperationalError into StoreError)
        raise DBAPIError.instance(sql, None, exc, psycopg.Error, dialect=conn.dialect) from None


# ---------------------------------------------------------------- SQLite bulk writer
# The same rows through the sqlite3 cursor's executemany (its loop runs in C), every lookup by one index probe;
# SQLAlchemy's per-row parameter processing was most of the portable path's time.
_LITE_STALE_VECTORS = ("DELETE FROM vectors WHERE face_id IN (SELECT id FROM faces WHERE sha256 = ? AND detector = ?)")
_LITE_STALE_FACES = "DELETE FROM faces WHERE sha256 = ? AND detector = ?"
_LITE_FACES = ("INSERT INTO faces (sha256, detector, idx, x, y, w, h, landmarks, landmark_scheme, score, source, "
               "is_subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_LITE_FACE_ID = "(SELECT id FROM faces WHERE sha256 = ? AND detector = ? AND idx = ?)"
_LITE_VECTORS_CLEAR = f"DELETE FROM vectors WHERE face_id = {_LITE_FACE_ID} AND space_id = ?"
_LITE_VECTORS = f"INSERT INTO vectors (face_id, space_id, vector, norm) VALUES ({_LITE_FACE_ID}, ?, ?, ?)"
_LITE_SCANS_CLEAR = "DELETE FROM scans WHERE sha256 = ? AND space_id = ?"
_LITE_SCANS = "INSERT INTO scans (sha256, space_id, status, faces, error, created_at) VALUES (?, ?, ?, ?, ?, ?)"
_LITE_IMAGE_BAD = "UPDATE images SET status = 'error', error = ?, updated_at = ? WHERE sha256 = ? AND status != 'missing'"
_LITE_IMAGE_GOOD = ("UPDATE images SET width = ?, height = ?, status = 'ok', error = NULL, updated_at = ? "
                    "WHERE sha256 = ? AND status != 'missing'")
_LITE_IMAGE_REST = "UPDATE images SET updated_at = ? WHERE sha256 = ? AND status != 'missing'"
_LITE_REVISION = "UPDATE spaces SET revision = revision + 1 WHERE id = ?"


def _write_results_sqlite(conn, space_id: int, detector: str, results: list[ImageResult], now: datetime) -> None:
    """`Catalog.write_results` on SQLite, in the session's transaction: the portable path's rows and values."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    stamp = Scan.__table__.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)(now)
    faces = _face_rows(results, detector)
    vectors, again = [], []
    for r in results:
        for i, v in r.vectors.items():
            n = r.norms.get(i)
            vectors.append((r.sha256, detector, int(i), space_id, np.asarray(v, dtype="<f4").tobytes(),
                            None if n is None else float(n)))
            if r.reused_faces:  # its faces were kept: so may be this space's earlier vectors of them
                again.append((r.sha256, detector, int(i), space_id))
    bad = [(f"{r.error_kind}: {r.error}", stamp, r.sha256) for r in results if r.error_kind in FILE_ERRORS]
    good = [(int(r.width), None if r.height is None else int(r.height), stamp, r.sha256) for r in results
            if r.error_kind not in FILE_ERRORS and r.width]
    rest = [(stamp, r.sha256) for r in results if r.error_kind not in FILE_ERRORS and not r.width]
    todo = [
        (_LITE_STALE_VECTORS, [(r.sha256, detector) for r in results if not r.reused_faces]),
        (_LITE_STALE_FACES, [(r.sha256, detector) for r in results if not r.reused_faces]),
        (_LITE_FACES, faces),
        (_LITE_VECTORS_CLEAR, again),
        (_LITE_VECTORS, vectors),
        (_LITE_SCANS_CLEAR, [(r.sha256, space_id) for r in results]),
        (_LITE_SCANS, [(r.sha256, space_id, r.status, len(r.faces),
                        f"{r.error_kind}: {r.error}" if r.error_kind else None, stamp) for r in results]),
        (_LITE_IMAGE_BAD, bad), (_LITE_IMAGE_GOOD, good), (_LITE_IMAGE_REST, rest),
        (_LITE_REVISION, [(space_id,)] if vectors else []),
    ]
    cur = conn.connection.driver_connection.cursor()  # the session's sqlite3 connection, in its transaction
    sql = None
    try:
        for sql, rows in todo:
            if rows:
                cur.executemany(sql, rows)
    except sqlite3.Error as exc:  # as SQLAlchemy would raise it (session() turns OperationalError into StoreError)
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error, dialect=conn.dialect) from None
    finally:
        cur.close()


def _remove_if_empty(top: Path, store: Path) -> None:
    """Remove the folders a failed open created (`top` down to `store`), as long as they hold nothing."""
    cur = store.absolute()
    while True:
        try:
            cur.rmdir()
        except OSError:
            return
        if cur == top:
            return
        cur = cur.parent


def _db_reason(exc: OperationalError) -> str:
    text = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _store_error(exc: DatabaseError, where: str, doing: str) -> StoreError:
    """One line for a failure of the database itself."""
    reason = _db_reason(exc)
    low = reason.lower()
    if "disk is full" in low or "disk i/o error" in low:
        return StoreError(f"{doing} the catalog {where} failed: {reason}; nothing of this transaction was saved, "
                          "everything committed before is kept (free some space and run the command again)")
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return StoreError(f"the catalog {where} is corrupt ({reason}); restore it from a backup, or run "
                          "`facevault check` to see what is damaged")
    if "readonly" in low or "read-only" in low:
        return StoreError(f"the catalog {where} is read-only ({reason}); it can be read, not written")
    if "locked" in low:
        return StoreLocked(f"the catalog {where} is locked by another process ({reason}); try again")
    return StoreError(f"{doing} the catalog {where} failed: {reason}")


def _writable(store: Path, db: Path) -> bool:
    """Whether this process can write the store folder and its catalog (False on a read-only mount)."""
    if not store.exists():
        return True
    if not os.access(store, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
        return False
    try:
        return not bool(os.statvfs(store).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return True


def _sqlite_read_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA query_only=ON")
    finally:
        cur.close()


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

