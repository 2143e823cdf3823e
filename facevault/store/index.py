"""FAISS indices: a derived cache per space, rebuilt from the catalog when missing or stale.

Inner product on L2-normalised vectors (= cosine). A JSON sidecar records the space, dimension,
metric, catalog revision, vector count and the id map, so staleness is detected without loading.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facevault.store import Catalog, StoredVectors

log = logging.getLogger(__name__)
SIDECAR_VERSION = 1


@dataclass
class SpaceIndex:
    index: object  # faiss.Index
    vector_ids: np.ndarray
    revision: int
    rebuilt: bool
    gpu: bool

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions into `vector_ids`), -1 where fewer than k vectors exist."""
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


def load_or_build(catalog: Catalog, space, stored: StoredVectors | None = None) -> SpaceIndex:
    """The space's index, rebuilt when the catalog revision or vector count moved on."""
    import faiss

    ipath, jpath = _paths(catalog, space.id)
    if ipath.exists() and jpath.exists():
        try:
            meta = json.loads(jpath.read_text())
            fresh = (
                meta.get("version") == SIDECAR_VERSION
                and meta.get("revision") == space.revision
                and meta.get("dim") == space.dim
                and (stored is None or meta.get("count") == len(stored))
            )
            if fresh:
                index = faiss.read_index(str(ipath))
                ids = np.asarray(meta["vector_ids"], dtype=np.int64)
                if index.ntotal == len(ids):
                    return _to_device(faiss, SpaceIndex(index, ids, space.revision, False, False))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning("index for space %s unreadable (%s); rebuilding", space.id, exc)
    if stored is None:
        stored = catalog.vectors(space.id, space.dim)
    index = faiss.IndexFlatIP(space.dim)
    if len(stored):
        index.add(np.ascontiguousarray(stored.matrix, dtype=np.float32))
    ipath.parent.mkdir(parents=True, exist_ok=True)
    tmp = ipath.with_suffix(".faiss.tmp")
    faiss.write_index(index, str(tmp))
    tmp.replace(ipath)
    sidecar = {
        "version": SIDECAR_VERSION, "space_id": space.id, "model": space.model, "detector": space.detector,
        "aligner": space.aligner, "dim": space.dim, "metric": "inner_product_l2_normalised",
        "revision": space.revision, "count": len(stored), "vector_ids": stored.vector_ids.tolist(),
    }
    jtmp = jpath.with_suffix(".json.tmp")
    jtmp.write_text(json.dumps(sidecar))
    jtmp.replace(jpath)
    log.info("built index for space %s: %d vectors", space.id, len(stored))
    return _to_device(faiss, SpaceIndex(index, stored.vector_ids, space.revision, True, False))


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
