"""FAISS indices: a derived cache per space, rebuilt (or extended) from the catalog when stale.

Inner product on L2-normalised vectors (= cosine). Per space three files live in the index folder:
`space-N.json` (space, dimension, metric, catalog revision, index kind and why it was chosen, and the
generation it points to), `space-N.<gen>.faiss` and `space-N.<gen>.map.npz` (vector id, image path and identity
of every row, as flat arrays: no pickle, no per-row JSON). A fresh index answers a query without reading any
vector from the catalog. A build writes a new generation under unique names, then swaps the JSON pointer
atomically, so a reader never sees half an index; old generations are removed after a grace period.

The kind follows the gallery size: exact `IndexFlatIP` up to FACEVAULT_FLAT_MAX vectors (default 200,000),
then IVF (`IndexIVFFlat`, nlist ~ 4 sqrt(n), trained on a seeded sample of the catalog, nprobe tuned until
recall@10 >= 0.95 against exact search on sampled queries) unless HNSW is asked for.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from pathlib import Path

import numpy as np

from facevault.core.errors import FacevaultError
from facevault.core.optional import require
from facevault.core.settings import Settings, env_number
from facevault.core.types import SpaceRecord

if TYPE_CHECKING:
    from facevault.store.catalog import Catalog

log = logging.getLogger(__name__)
SIDECAR_VERSION = 3
KINDS = ("flat", "ivf", "hnsw")
FLAT_MAX = 200_000
TARGET_RECALL = 0.95
BATCH = 20_000
FEW_QUERIES = 16  # fewer queries than this search on one thread
GRACE_S = 60.0  # an old generation stays this long after being replaced, for readers that opened its pointer


def _env_int(name: str, default: int) -> int:
    """A positive whole number from the environment (the settings' parser and its one-line errors), else default."""
    return int(env_number(name) or default)


def flat_max() -> int:
    return _env_int("FACEVAULT_FLAT_MAX", FLAT_MAX)


class Strings:
    """A read-only list of strings packed as UTF-8 bytes + offsets (decoded only when a row is asked for)."""

    def __init__(self, data: np.ndarray, offsets: np.ndarray, none: np.ndarray | None = None) -> None:
        self._data, self._off, self._none = data, offsets, none

    @classmethod
    def pack(cls, items: list[str | None]) -> Strings:
        enc = [b"" if s is None else s.encode("utf-8", "surrogateescape") for s in items]
        off = np.zeros(len(enc) + 1, np.int64)
        np.cumsum([len(b) for b in enc], out=off[1:])
        none = np.array([s is None for s in items], bool)
        return cls(np.frombuffer(b"".join(enc), np.uint8), off, none)

    def __len__(self) -> int:
        return len(self._off) - 1

    def __getitem__(self, i: int) -> str | None:
        i = int(i)
        if self._none is not None and self._none[i]:
            return None
        return self._data[self._off[i]:self._off[i + 1]].tobytes().decode("utf-8", "surrogateescape")

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}_data": self._data, f"{prefix}_off": self._off}
        if self._none is not None:
            out[f"{prefix}_none"] = self._none
        return out


class Identities:
    """Identity per row: a code per row into a small table of names (None = unlabelled)."""

    def __init__(self, codes: np.ndarray, names: Strings) -> None:
        self.codes, self.names = codes, names

    @classmethod
    def pack(cls, items: list[str | None]) -> Identities:
        table: dict[str, int] = {}
        codes = np.array([-1 if s is None else table.setdefault(s, len(table)) for s in items], np.int32)
        return cls(codes, Strings.pack(list(table)))

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i: int) -> str | None:
        c = int(self.codes[int(i)])
        return None if c < 0 else self.names[c]

    def __iter__(self):
        return (self[i] for i in range(len(self)))


@dataclass
class SpaceIndex:
    """A space's FAISS index and, per row, the vector id, image path and identity it stands for."""

    index: object  # faiss.Index
    vector_ids: np.ndarray
    paths: Strings
    identities: Identities
    revision: int
    rebuilt: bool
    gpu: bool
    kind: str = "flat"
    reason: str = ""
    params: dict = field(default_factory=dict)
    how: str = "loaded"  # loaded | built | extended
    seconds: float = 0.0
    stamp: tuple | None = None  # the pointer file this was read or written under (`pointer_stamp`), if known

    def __len__(self) -> int:
        return len(self.vector_ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row positions), -1 where fewer than k vectors exist."""
        k = max(1, min(k, len(self.vector_ids)))
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if len(q) >= FEW_QUERIES or self.gpu:
            return self.index.search(q, k)
        faiss = require("faiss")  # a few queries: one thread (OpenMP threads on busy cores cost 10-30x)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(q, k)
        finally:
            faiss.omp_set_num_threads(threads)

    def info(self) -> dict:
        return {"kind": self.kind, "reason": self.reason, "vectors": len(self), "params": self.params,
                "revision": self.revision, "how": self.how, "gpu": self.gpu, "seconds": round(self.seconds, 3)}


# ---------------------------------------------------------------- the factory
def choose(n: int, requested: str | None = None) -> tuple[str, str, dict]:
    """(kind, why, build parameters) for a gallery of n vectors."""
    limit = flat_max()
    requested = requested or os.environ.get("FACEVAULT_INDEX_KIND") or None
    if requested in (None, "auto"):
        if n <= limit:
            kind, why = "flat", f"{n:,} vectors <= FACEVAULT_FLAT_MAX {limit:,}: exact search"
        else:
            kind, why = "ivf", f"{n:,} vectors > FACEVAULT_FLAT_MAX {limit:,}: IVF, nprobe tuned to recall@10 >= 0.95"
    elif requested in KINDS:
        kind, why = requested, f"asked for {requested}"
    else:
        raise FacevaultError(f"unknown index kind {requested!r}; choose one of: auto, {', '.join(KINDS)}")
    params: dict = {}
    if kind == "ivf":
        nlist = _env_int("FACEVAULT_IVF_NLIST", int(4 * np.sqrt(max(n, 1))))
        params = {"nlist": max(1, min(nlist, max(1, n // 39)))}  # faiss wants >= 39 training points a list
    elif kind == "hnsw":
        params = {"M": _env_int("FACEVAULT_HNSW_M", 32), "efConstruction": 80}
    return kind, why, params


def _new_index(faiss, kind: str, dim: int, params: dict):
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "ivf":
        quantizer = faiss.IndexFlatIP(dim)
        return faiss.IndexIVFFlat(quantizer, dim, params["nlist"], faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = params["efConstruction"]
    return index


def _set_search_params(faiss, index, kind: str, params: dict) -> None:
    if kind == "ivf" and "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
    elif kind == "hnsw" and "efSearch" in params:
        faiss.downcast_index(index).hnsw.efSearch = int(params["efSearch"])


def _exact(faiss, index, kind: str, params: dict, q: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k row positions, from the vectors the index itself stores."""
    if kind == "ivf":
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = ivf.nlist
        _, ref = index.search(q, k)
    else:
        storage = faiss.downcast_index(faiss.downcast_index(index).storage)
        _, ref = storage.search(q, k)
    return ref


def recall_at(found: np.ndarray, ref: np.ndarray) -> float:
    """Mean fraction of the exact top-k found (row positions; -1 ignored)."""
    hits = [len(set(f[f >= 0]) & set(r[r >= 0])) / max(1, (r >= 0).sum()) for f, r in zip(found, ref)]
    return float(np.mean(hits)) if hits else 1.0


def tune(faiss, index, kind: str, params: dict, queries: np.ndarray, k: int = 10,
         target: float = TARGET_RECALL) -> dict:
    """The smallest nprobe (IVF) or efSearch (HNSW), doubling, whose recall@k on `queries` reaches `target`."""
    if kind == "flat" or index.ntotal == 0:
        return params
    k = min(k, index.ntotal)
    ref = _exact(faiss, index, kind, params, queries, k)
    top = faiss.extract_index_ivf(index).nlist if kind == "ivf" else 4096
    key = "nprobe" if kind == "ivf" else "efSearch"
    value = 1 if kind == "ivf" else 16
    while True:
        trial = {**params, key: value}
        _set_search_params(faiss, index, kind, trial)
        _, found = index.search(queries, k)
        rec = recall_at(found, ref)
        if rec >= target or value >= top:
            break
        value = min(top, value * 2)
    lo, hi, best = value // 2, value, (value, rec)  # the target is met at `hi`, not at value // 2: bisect
    while rec >= target and hi - lo > max(1, hi // 16):
        mid = (lo + hi) // 2
        _set_search_params(faiss, index, kind, {**params, key: mid})
        _, found = index.search(queries, k)
        r = recall_at(found, ref)
        if r >= target:
            hi, best = mid, (mid, r)
        else:
            lo = mid
    value, rec = best
    _set_search_params(faiss, index, kind, {**params, key: value})
    log.info("%s: %s=%d gives recall@%d %.3f on %d queries", kind, key, value, k, rec, len(queries))
    return {**params, key: value, "recall_at_10": round(rec, 4), "tuned_on": len(queries)}


def _queries(sample: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Stored vectors slightly perturbed (so a query is not its own nearest neighbour by construction)."""
    rng = np.random.default_rng(seed + 1)
    q = sample[rng.choice(len(sample), min(n, len(sample)), replace=False)]
    q = q + rng.normal(0, 0.02, q.shape).astype(np.float32)
    return np.ascontiguousarray(q / np.linalg.norm(q, axis=1, keepdims=True), np.float32)


# ---------------------------------------------------------------- files
def _pointer(catalog: Catalog, space_id: int) -> Path:
    return _pointer_at(catalog.settings, space_id)


def _pointer_at(settings: Settings, space_id: int) -> Path:
    return settings.index_dir / f"space-{space_id}.json"


def pointer_stamp(settings: Settings, space_id: int) -> tuple | None:
    """Which pointer the space's index folder holds now (inode, mtime, size; None: none): a process that keeps
    an index compares it to see another process's rebuild, re-kind or pinned parameter, which change the
    pointer but not the catalog's revision."""
    try:
        st = os.stat(_pointer_at(settings, space_id))
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _gen_paths(folder: Path, space_id: int, gen: str) -> tuple[Path, Path]:
    return folder / f"space-{space_id}.{gen}.faiss", folder / f"space-{space_id}.{gen}.map.npz"


def _atomic_write(path: Path, write) -> None:
    """`write(tmp_path)` to a unique temporary file beside `path`, then rename it over `path` (readable by all,
    as the catalog and the weights are: mkstemp's 0600 would lock the other users of a shared store out)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_meta(catalog: Catalog, space_id: int) -> dict | None:
    """The space's index pointer (kind, reason, revision, count, ...), or None when there is none."""
    return _read_meta_at(catalog.settings, space_id)


def _read_meta_at(settings: Settings, space_id: int) -> dict | None:
    try:
        meta = json.loads(_pointer_at(settings, space_id).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("version") == SIDECAR_VERSION else None


def describe(catalog: Catalog, record: SpaceRecord) -> dict:
    """What the status line says of a space's index, from its pointer alone (nothing loaded)."""
    meta = read_meta(catalog, record.id)
    if meta is None:
        return {"built": False, "fresh": False, "kind": None, "reason": "not built yet (built on first search)"}
    return {"built": True, "fresh": meta.get("revision") == record.revision and meta.get("dim") == record.dim,
            "kind": meta.get("kind"), "reason": meta.get("reason"), "vectors": meta.get("count"),
            "params": meta.get("params", {}), "revision": meta.get("revision")}


def _load(faiss, folder: Path, meta: dict, record: SpaceRecord) -> SpaceIndex | None:
    ipath, mpath = _gen_paths(folder, record.id, meta["generation"])
    index = faiss.read_index(str(ipath))
    with np.load(mpath, allow_pickle=False) as z:
        ids = z["ids"]
        paths = Strings(z["path_data"], z["path_off"])
        idents = Identities(z["ident"], Strings(z["name_data"], z["name_off"]))
    if index.ntotal != len(ids) or len(paths) != len(ids) or len(idents) != len(ids):
        return None
    _set_search_params(faiss, index, meta["kind"], meta.get("params", {}))
    return SpaceIndex(index, ids, paths, idents, meta["revision"], False, False, meta["kind"],
                      meta.get("reason", ""), meta.get("params", {}), "loaded")


#: what reading a damaged or half-deleted index generation raises (faiss: RuntimeError; the map: numpy's and
#: zipfile's errors)
_UNREADABLE = (OSError, RuntimeError, KeyError, ValueError, EOFError, zipfile.BadZipFile)


def unreadable(catalog: Catalog, record: SpaceRecord) -> str | None:
    """Why the index the space's pointer names cannot be loaded (its files missing or damaged, or its map not
    matching it), or None when it loads or none is built. Loads it whole: for `check`, not for the hot path."""
    faiss = require("faiss", "to check an index")
    meta = read_meta(catalog, record.id)
    if meta is None or "generation" not in meta:
        return None
    files = _gen_paths(catalog.settings.index_dir, record.id, meta["generation"])
    gone = [p.name for p in files if not p.is_file()]
    if gone:
        return f"its file{'s' if len(gone) > 1 else ''} {', '.join(gone)} {'are' if len(gone) > 1 else 'is'} missing"
    try:
        loaded = _load(faiss, catalog.settings.index_dir, meta, record)
    except _UNREADABLE as exc:
        return f"its files cannot be read ({type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[-1][:160]})"
    return None if loaded is not None else "its map and its index hold different numbers of rows"


def _try_load(faiss, settings: Settings, record: SpaceRecord) -> tuple[SpaceIndex | None, dict | None]:
    """(the index if fresh, the pointer read): a pointer replaced while we read it is read again."""
    folder = settings.index_dir
    for _ in range(5):
        meta = _read_meta_at(settings, record.id)
        if meta is None:
            return None, None
        if not (meta.get("revision") == record.revision and meta.get("dim") == record.dim):
            return None, meta
        try:
            return _load(faiss, folder, meta, record), meta
        except _UNREADABLE as exc:
            log.debug("index generation %s of space %s unreadable (%s); reading the pointer again",
                      meta.get("generation"), record.id, exc)
            time.sleep(0.01)
    return None, None


def _save(faiss, catalog: Catalog, record: SpaceRecord, idx: SpaceIndex, requested: str | None) -> None:
    folder = catalog.settings.index_dir
    gen = f"{int(time.time() * 1000):x}-{secrets.token_hex(4)}"
    ipath, mpath = _gen_paths(folder, record.id, gen)
    meta = {"version": SIDECAR_VERSION, "space_id": record.id, "model": record.model, "detector": record.detector,
            "aligner": record.aligner, "dim": record.dim, "metric": "inner_product_l2_normalised",
            "revision": idx.revision, "count": len(idx), "kind": idx.kind, "reason": idx.reason,
            "params": idx.params, "requested": requested, "generation": gen,
            "max_vector_id": int(idx.vector_ids.max()) if len(idx) else None,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    arrays = {"ids": idx.vector_ids, "ident": idx.identities.codes, **idx.paths.arrays("path"),
              **idx.identities.names.arrays("name")}
    arrays.pop("path_none", None)
    arrays.pop("name_none", None)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(ipath, lambda tmp: faiss.write_index(idx.index, tmp))
        _atomic_write(mpath, lambda tmp: _savez(tmp, arrays))
        _atomic_write(_pointer(catalog, record.id), lambda tmp: Path(tmp).write_text(json.dumps(meta)))
    except OSError as exc:  # a read-only store still searches, from an index built in memory
        log.info("index for space %s not saved: %s", record.id, exc)
        return
    _sweep(folder, record.id, gen)


def _savez(path: str, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to a name
        np.savez(f, **arrays)


def _sweep(folder: Path, space_id: int, keep: str) -> None:
    """Remove generations other than `keep` older than the grace period."""
    now = time.time()
    for p in folder.glob(f"space-{space_id}.*"):
        parts = p.name.split(".")
        if len(parts) < 3 or parts[1] == keep or p.suffix == ".json":
            continue
        try:
            if now - p.stat().st_mtime > GRACE_S:
                p.unlink()
        except OSError:
            pass


# ---------------------------------------------------------------- build
def _fill(faiss, catalog: Catalog, record: SpaceRecord, index, kind: str, ids: np.ndarray | None) -> np.ndarray:
    """Stream vectors (all of the space's, or only `ids`) into `index`; returns the ids added, in row order."""
    added = []
    for bids, mat in catalog.vector_batches(record.id, BATCH, ids):
        index.add(np.ascontiguousarray(mat, np.float32))
        added.append(bids)
    return np.concatenate(added) if added else np.zeros(0, np.int64)


def build(catalog: Catalog, record: SpaceRecord, kind: str | None = None, seed: int = 0) -> SpaceIndex:
    """A full rebuild of the space's index (kind chosen by `choose` unless given), saved and returned."""
    faiss = require("faiss", "to search")
    t0 = time.perf_counter()
    ids, paths, idents = catalog.vector_map(record.id)
    kind_, why, params = choose(len(ids), kind)
    index = _new_index(faiss, kind_, record.dim, params)
    sample = None
    if kind_ != "flat" and len(ids):
        sample = catalog.sample_vectors(record.id, _env_int("FACEVAULT_INDEX_SAMPLE", max(20_000, 40 * params.get("nlist", 0))), seed)
        if kind_ == "ivf":
            faiss.extract_index_ivf(index).cp.niter = _env_int("FACEVAULT_IVF_NITER", 10)
            index.train(sample)
    _fill(faiss, catalog, record, index, kind_, ids)
    pinned = _pinned(catalog, record, kind_)
    if sample is not None and pinned:  # a pinned nprobe / efSearch outlives rebuilds; its recall is re-measured
        q = _queries(sample, 200, seed)
        ref = _exact(faiss, index, kind_, params, q, min(10, index.ntotal))
        _set_search_params(faiss, index, kind_, pinned)
        _, found = index.search(q, min(10, index.ntotal))
        params = {**params, "trained_n": len(ids), **pinned, "recall_at_10": round(recall_at(found, ref), 4),
                  "tuned_on": len(q)}
    elif sample is not None:
        params = tune(faiss, index, kind_, {**params, "trained_n": len(ids)}, _queries(sample, 200, seed))
    idx = SpaceIndex(index, ids, Strings.pack(paths), Identities.pack(idents), record.revision, True, False,
                     kind_, why, params, "built", time.perf_counter() - t0)
    _save(faiss, catalog, record, idx, kind)
    log.info("built %s index for space %s: %d vectors in %.1f s (%s)", kind_, record.id, len(ids), idx.seconds, why)
    return idx


def _extend(faiss, catalog: Catalog, record: SpaceRecord, meta: dict) -> SpaceIndex | None:
    """Add only the vectors the stale index lacks; None when it cannot be extended (rows gone, kind outgrown)."""
    t0 = time.perf_counter()
    try:
        old = _load(faiss, catalog.settings.index_dir, meta, record)
    except (OSError, RuntimeError, KeyError, ValueError):
        return None
    if old is None:
        return None
    ids, paths, idents = catalog.vector_map(record.id)
    pos = {(int(v), p): i for i, (v, p) in enumerate(zip(ids, paths))}  # a row: a vector as one image
    have = old.vector_ids
    held_keys = [(int(v), old.paths[j]) for j, v in enumerate(have)]
    if any(key not in pos for key in held_keys):
        log.info("space %s: vectors left the catalog (or were relabelled); full index rebuild", record.id)
        return None
    kind, _, _ = choose(len(ids), meta.get("requested"))
    if kind != old.kind:
        log.info("space %s: %d vectors now call for %s, not %s; full rebuild", record.id, len(ids), kind, old.kind)
        return None
    if old.kind == "ivf" and len(ids) > 4 * old.params.get("trained_n", len(have)):
        log.info("space %s grew past 4x the vectors its IVF was trained on; full rebuild", record.id)
        return None
    held = set(held_keys)
    new_rows = [i for i, key in enumerate(zip(ids.tolist(), paths)) if key not in held]
    new = ids[new_rows] if new_rows else np.zeros(0, np.int64)
    if len(new):
        _fill(faiss, catalog, record, old.index, old.kind, new)
    all_ids = np.concatenate([have, new])
    rows = [pos[key] for key in held_keys] + new_rows
    idx = SpaceIndex(old.index, all_ids, Strings.pack([paths[r] for r in rows]),
                     Identities.pack([idents[r] for r in rows]), record.revision, True, False, old.kind,
                     old.reason, old.params, "extended", time.perf_counter() - t0)
    _save(faiss, catalog, record, idx, meta.get("requested"))
    log.info("extended %s index of space %s by %d vectors", old.kind, record.id, len(new))
    return idx


def load_or_build(catalog: Catalog, record: SpaceRecord, kind: str | None = None,
                  rebuild: bool = False) -> SpaceIndex:
    """The space's index: loaded when fresh (no vector read), extended when only new vectors arrived,
    rebuilt when rows left the catalog, the kind changed, or `rebuild`/`kind` ask for it."""
    faiss = require("faiss", "to search")
    if not rebuild:
        t0 = time.perf_counter()
        found, meta = _try_load(faiss, catalog.settings, record)
        if found is not None and (kind is None or found.kind == kind):
            found.seconds = time.perf_counter() - t0
            return _to_device(faiss, found)
        if meta is not None and kind is None and meta.get("dim") == record.dim:
            extended = _extend(faiss, catalog, record, meta)
            if extended is not None:
                return _to_device(faiss, extended)
    if kind is None and not rebuild:
        meta = read_meta(catalog, record.id)
        kind = meta.get("requested") if meta else None
    return _to_device(faiss, build(catalog, record, kind))


def set_search(catalog: Catalog, record: SpaceRecord, value: int, seed: int = 0) -> SpaceIndex:
    """Pin the search parameter of the space's IVF (nprobe) or HNSW (efSearch) index to `value`, instead of the
    one tuned on the store's own vectors (right when queries look like the stored faces; a gallery padded with
    unlike vectors, or queries from another camera, may want another). The recall@10 at `value` is measured on
    the store's sample and kept with it; the pin survives extensions and rebuilds of the same kind."""
    faiss = require("faiss", "to search")
    idx = load_or_build(catalog, record)
    if idx.kind == "flat":
        raise FacevaultError("this space's index is flat (exact search): it has no nprobe or efSearch to set; "
                             "rebuild it as ivf or hnsw first (facevault index --rebuild --kind ivf)")
    key = "nprobe" if idx.kind == "ivf" else "efSearch"
    cpu = faiss.index_gpu_to_cpu(idx.index) if idx.gpu else idx.index
    if key == "nprobe":
        value = min(int(value), faiss.extract_index_ivf(cpu).nlist)
    queries = _queries(catalog.sample_vectors(record.id, 2000, seed), 200, seed)
    k = min(10, cpu.ntotal)
    ref = _exact(faiss, cpu, idx.kind, idx.params, queries, k)
    _set_search_params(faiss, cpu, idx.kind, {key: value})
    _, found = cpu.search(queries, k)
    idx.params = {**idx.params, key: int(value), "recall_at_10": round(recall_at(found, ref), 4),
                  "tuned_on": len(queries), "pinned": key}
    _set_search_params(faiss, idx.index, idx.kind, idx.params)
    meta = read_meta(catalog, record.id)
    if meta is not None and meta.get("generation"):
        meta["params"] = idx.params
        try:
            _atomic_write(_pointer(catalog, record.id), lambda tmp: Path(tmp).write_text(json.dumps(meta)))
        except OSError as exc:
            raise FacevaultError(f"cannot save the index setting: {exc}") from None
    return idx


def _pinned(catalog: Catalog, record: SpaceRecord, kind: str) -> dict:
    """The search parameter pinned by `set_search` on the space's previous index of the same kind, if any."""
    meta = read_meta(catalog, record.id) or {}
    params = meta.get("params") or {}
    key = params.get("pinned")
    return {key: params[key], "pinned": key} if meta.get("kind") == kind and key in params else {}


def load_fresh(settings: Settings, record: SpaceRecord) -> SpaceIndex | None:
    """The space's saved index when it is fresh for `record`'s revision (nothing read from the catalog), else
    None: then `load_or_build` extends or rebuilds it from the catalog."""
    faiss = require("faiss", "to search")
    t0 = time.perf_counter()
    found, _ = _try_load(faiss, settings, record)
    if found is None:
        return None
    found.seconds = time.perf_counter() - t0
    return _to_device(faiss, found)


def _to_device(faiss, idx: SpaceIndex) -> SpaceIndex:
    if _gpu_count(faiss) > 0 and idx.kind != "hnsw":  # faiss has no GPU HNSW
        try:
            res = faiss.StandardGpuResources()
            idx.index = faiss.index_cpu_to_gpu(res, 0, idx.index)
            idx.gpu = True
            idx._res = res  # type: ignore[attr-defined]  # keep the resources alive with the index
        except Exception as exc:  # a GPU build without a usable device falls back to the CPU
            log.warning("faiss GPU unavailable (%s); using the CPU", exc)
    return idx


def _gpu_count(faiss) -> int:
    try:
        return int(faiss.get_num_gpus())
    except AttributeError:
        return 0
