"""FAISS indices: a derived cache per space, rebuilt from the catalog when missing or stale.

Inner product on L2-normalised vectors (= cosine). A JSON sidecar records the space, dimension, metric,
catalog revision and the id map (vector id, image path and identity of every row), so a fresh index answers
a query without reading any vector from the catalog, and a stale one is detected without loading it.
Files are written under unique temporary names and swapped into place, so a reader never sees half an index.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facevault.core.optional import require
from facevault.core.types import SpaceRecord, StoredVectors
from facevault.store.catalog import Catalog

log = logging.getLogger(__name__)
SIDECAR_VERSION = 2


@dataclass
class SpaceIndex:
    """A space's FAISS index and, per row, the vector id, image path and identity it stands for."""

    index: object  # faiss.Index
    vector_ids: np.ndarray
    paths: list[str]
    identities: list[str | None]
    revision: int
    rebuilt: bool
    gpu: bool

    def __len__(self) -> int:
        return len(self.vector_ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row positions), -1 where fewer than k vectors exist."""
        k = max(1, min(k, len(self.vector_ids)))
        q = np.ascontiguousarray(queries, dtype=np.float32)
        return self.index.search(q, k)


def _gpu_count(faiss) -> int:
    try:
        return int(faiss.get_num_gpus())
    except AttributeError:
        return 0


def _paths(catalog: Catalog, space_id: int) -> tuple[Path, Path]:
    d = catalog.settings.index_dir
    return d / f"space-{space_id}.faiss", d / f"space-{space_id}.json"


def _atomic_write(path: Path, write) -> None:
    """`write(tmp_path)` to a unique temporary file beside `path`, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(faiss, ipath: Path, jpath: Path, record: SpaceRecord) -> SpaceIndex | None:
    try:
        meta = json.loads(jpath.read_text())
    except (OSError, ValueError) as exc:
        log.info("index sidecar for space %s unreadable (%s); rebuilding", record.id, exc)
        return None
    if not (meta.get("version") == SIDECAR_VERSION and meta.get("revision") == record.revision
            and meta.get("dim") == record.dim):
        return None
    try:
        index = faiss.read_index(str(ipath))
        ids = np.asarray(meta["vector_ids"], dtype=np.int64)
        paths, identities = list(meta["paths"]), list(meta["identities"])
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        log.warning("index for space %s unreadable (%s); rebuilding", record.id, exc)
        return None
    if index.ntotal != len(ids) or len(paths) != len(ids) or len(identities) != len(ids):
        return None
    return SpaceIndex(index, ids, paths, identities, record.revision, False, False)


def load_or_build(catalog: Catalog, record: SpaceRecord, stored: StoredVectors | None = None) -> SpaceIndex:
    """The space's index, rebuilt from the catalog when its revision moved on (or the files are unusable)."""
    faiss = require("faiss", "to search")

    ipath, jpath = _paths(catalog, record.id)
    if ipath.exists() and jpath.exists():
        found = _load(faiss, ipath, jpath, record)
        if found is not None:
            return _to_device(faiss, found)
    if stored is None:
        stored = catalog.vectors(record.id)
    index = faiss.IndexFlatIP(record.dim)
    if len(stored):
        index.add(np.ascontiguousarray(stored.matrix, dtype=np.float32))
    sidecar = {
        "version": SIDECAR_VERSION, "space_id": record.id, "model": record.model, "detector": record.detector,
        "aligner": record.aligner, "dim": record.dim, "metric": "inner_product_l2_normalised",
        "revision": record.revision, "count": len(stored), "vector_ids": stored.vector_ids.tolist(),
        "paths": stored.paths, "identities": stored.identities,
    }
    try:
        ipath.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(ipath, lambda tmp: faiss.write_index(index, tmp))
        _atomic_write(jpath, lambda tmp: Path(tmp).write_text(json.dumps(sidecar)))
    except OSError as exc:  # a read-only store still searches, from an index built in memory
        log.info("index for space %s not saved: %s", record.id, exc)
    log.info("built index for space %s: %d vectors", record.id, len(stored))
    return _to_device(faiss, SpaceIndex(index, stored.vector_ids, list(stored.paths), list(stored.identities),
                                        record.revision, True, False))


def _to_device(faiss, idx: SpaceIndex) -> SpaceIndex:
    if _gpu_count(faiss) > 0:
        try:
            res = faiss.StandardGpuResources()
            idx.index = faiss.index_cpu_to_gpu(res, 0, idx.index)
            idx.gpu = True
            idx._res = res  # type: ignore[attr-defined]  # keep the resources alive with the index
        except Exception as exc:  # a GPU build without a usable device falls back to the CPU
            log.warning("faiss GPU unavailable (%s); using the CPU", exc)
    return idx
