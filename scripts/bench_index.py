"""Index benchmarks on big synthetic stores: build one, then measure each index kind on it.

    python scripts/bench_index.py build /tmp/big128 --n 1000000 --dim 128            # ~1-2 min
    python scripts/bench_index.py build /tmp/lfw13k --n 13233 --dim 128 --real STORE # real vectors + random
    python scripts/bench_index.py measure /tmp/big128 --kinds flat,ivf --queries 200

`build` writes a store whose space is dlib / dlib-hog / dlib-chip (128-d) or arcface-mbf / yunet / arcface
(512-d), so `facevault search photo.jpg --store DIR` runs against it with a real model. Rows go in through
SQLAlchemy core inserts in big transactions (the catalog's schema, created by its migrations); vectors are
random unit vectors, preceded by the real vectors of `--real STORE` when given. `measure` rebuilds the index
as each kind in a child process (so peak RSS is per kind) and reports build time, warm single-query latency,
recall@10 against exact search, and peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SPACES = {128: ("dlib", "dlib-hog"), 512: ("arcface-mbf", "yunet")}
PER_IDENTITY = 10
SPREAD = 0.6  # clustered layout: same-identity cosine ~0.74, different ~0 (dlib on LFW: ~0.93 vs ~0.80)


def build(store: Path, n: int, dim: int, real: Path | None, seed: int, layout: str = "random",
          chunk: int = 50_000, labels: list[tuple[str, str]] | None = None,
          real_vecs: np.ndarray | None = None) -> dict:
    """`real_vecs` (or the vectors of the store `real`) fill the first rows; `labels` gives (path, identity) for
    the first rows (the others are `id0000123/0001234.jpg`, PER_IDENTITY rows per synthetic identity)."""
    from sqlalchemy import insert

    import facevault
    from facevault.core import settings as config
    from facevault.store import models as m
    from facevault.store.catalog import Catalog
    from facevault.zoo import registry

    t0 = time.perf_counter()
    model, detector = SPACES[dim]
    space = registry.space(model, detector)
    if real_vecs is None:
        real_vecs = np.zeros((0, dim), np.float32)
        if real is not None:
            real_vecs = facevault.open(real).vectors(model=model, detector=detector).matrix[:n]
    labels = labels or []
    cat = Catalog(config.resolve(store), create=True)
    rec = cat.ensure_space(type(space)(space.model, space.detector, space.aligner, dim), None)
    rng = np.random.default_rng(seed)

    def label(i: int) -> tuple[str, str]:
        if i < len(labels):
            return labels[i]
        j = i - len(labels)
        return f"id{j // PER_IDENTITY:07d}/{j:07d}.jpg", f"id{j // PER_IDENTITY:07d}"

    names = list(dict.fromkeys(ident for _, ident in labels))
    names += [f"id{j:07d}" for j in range((max(0, n - len(labels)) + PER_IDENTITY - 1) // PER_IDENTITY)]
    ident_id = {name: i + 1 for i, name in enumerate(names)}  # ids in insertion order, from 1
    with cat.session() as s:
        ds_id = s.execute(insert(m.Dataset).values(name="synthetic", root=str(store / "synthetic"))
                          .returning(m.Dataset.id)).scalar_one()
        rows = [{"name": name, "dataset_id": ds_id} for name in names]
        for a in range(0, len(rows), chunk):
            s.execute(insert(m.Identity), rows[a:a + chunk])
    centres = None
    if layout == "clustered":
        centres = np.random.default_rng([seed, 1]).standard_normal((len(names), dim)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        k = b - a
        shas = [hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in range(a, b)]
        labs = [label(i) for i in range(a, b)]
        vec = rng.standard_normal((k, dim)).astype(np.float32)
        if layout == "clustered":  # each identity a random centre, its images spread around it
            idents = np.array([ident_id[ident] - 1 for _, ident in labs])
            vec = centres[idents] + SPREAD / np.sqrt(dim) * vec
        if a < len(real_vecs):
            r = real_vecs[a:b]
            vec[:len(r)] = r
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        with cat.session() as s:
            s.execute(insert(m.Image), [
                {"path": path, "identity_id": ident_id[ident], "sha256": sha, "bytes": 1, "status": "ok",
                 "dataset_id": ds_id} for (path, ident), sha in zip(labs, shas)])
            first_face = s.execute(insert(m.Face).returning(m.Face.id), [
                {"sha256": sha, "detector": space.detector, "idx": 0, "x": 0, "y": 0, "w": 1, "h": 1,
                 "score": 1.0, "is_subject": True} for sha in shas]).scalars().all()
            s.execute(insert(m.Vector), [
                {"face_id": fid, "space_id": rec.id, "vector": v.astype("<f4").tobytes(), "norm": 1.0}
                for fid, v in zip(first_face, vec)])
            s.execute(insert(m.Scan), [{"sha256": sha, "space_id": rec.id, "status": "ok", "faces": 1}
                                       for sha in shas])
    cat.close()
    return {"store": str(store), "vectors": n, "dim": dim, "real": len(real_vecs), "layout": layout,
            "seconds": round(time.perf_counter() - t0, 1)}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_one(store: Path, kind: str, queries: int, seed: int, query_ids: int = 0) -> dict:
    """In this process: rebuild as `kind`, then time single queries and their recall@10 vs exact search.
    Queries are stored vectors plus noise: of the whole store, or of the first `query_ids` vector ids only
    (the real faces of a `build --real` store, so the random vectors act as distractors, never as queries)."""
    import facevault
    from facevault.store import index as index_mod

    vault = facevault.open(store)
    rec = vault.catalog.spaces()[0]
    t0 = time.perf_counter()
    info = vault.index(rebuild=True, kind=kind)
    build_s = time.perf_counter() - t0
    rss_build = _peak_mb()
    if query_ids:
        pick = np.random.default_rng(seed + 7).choice(np.arange(1, query_ids + 1), min(queries, query_ids),
                                                      replace=False)
        sample = np.concatenate([m for _, m in vault.catalog.vector_batches(rec.id, ids=np.sort(pick))])
    else:
        sample = vault.catalog.sample_vectors(rec.id, queries, seed + 7)
    q = index_mod._queries(sample, queries, seed + 7)
    return {"kind": kind, "build_s": round(build_s, 1), "rss_build_mb": round(rss_build), **info,
            "queries": q.tolist()}


def search_child(store: Path, queries_file: Path, sweep: list[int] | None = None) -> dict:
    """A fresh process: open the store, load its index, answer single queries; latency, rows, peak RSS.
    With `sweep`: also each nprobe (IVF) or efSearch (HNSW) value in turn (latency and found rows)."""
    import facevault
    from facevault.services import search as search_mod
    from facevault.store import index as index_mod

    q = np.load(queries_file)
    t0 = time.perf_counter()
    vault = facevault.open(store)
    rec = vault.catalog.spaces()[0]
    idx = vault._index(rec)
    load_s = time.perf_counter() - t0
    verdict = search_mod.Verdict.of(rec)
    times, cpus, found = [], [], []
    for v in q:
        _, pos = idx.search(v[None, :], 10)  # for recall, untimed
        found.append(pos[0])
        t, c = time.perf_counter(), time.process_time()
        search_mod._nearest_identities(idx, v, 5, 50, verdict)  # what Vault.search does per face
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    t = time.perf_counter()
    idx.search(q, 10)
    batch_s = time.perf_counter() - t
    swept = []
    if sweep and idx.kind in ("ivf", "hnsw"):
        import faiss

        key = "nprobe" if idx.kind == "ivf" else "efSearch"
        for value in sweep:
            index_mod._set_search_params(faiss, idx.index, idx.kind, {key: value})
            f, ts = [], []
            for v in q:
                t = time.perf_counter()
                search_mod._nearest_identities(idx, v, 5, 50, verdict)
                ts.append(time.perf_counter() - t)
                f.append(idx.search(v[None, :], 10)[1][0])
            swept.append({key: value, "query_ms_median": round(1000 * float(np.median(ts)), 3),
                          "found": np.array(f).tolist()})
        index_mod._set_search_params(faiss, idx.index, idx.kind, idx.params)
    return {"kind": idx.kind, "how": idx.how, "load_s": round(load_s, 3), "found": np.array(found).tolist(),
            "sweep": swept,
            "query_ms_median": round(1000 * float(np.median(times)), 3),
            "query_ms_p95": round(1000 * float(np.percentile(times, 95)), 3),
            "query_cpu_ms_median": round(1000 * float(np.median(cpus)), 3),
            "batch_ms_per_query": round(1000 * batch_s / len(q), 3), "peak_rss_mb": round(_peak_mb())}


def exact_child(store: Path, queries_file: Path) -> list:
    """Exact top-10 row positions for the queries, by streaming the catalog (rows in vector-id order)."""
    import facevault

    q = np.load(queries_file)
    vault = facevault.open(store)
    rec = vault.catalog.spaces()[0]
    best_s = np.full((len(q), 10), -np.inf, np.float32)
    best_i = np.full((len(q), 10), -1, np.int64)
    for ids, mat in vault.catalog.vector_batches(rec.id, 50_000):
        s = q @ mat.T
        top = np.argpartition(-s, min(10, s.shape[1] - 1), axis=1)[:, :10]
        cs = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
        ci = np.concatenate([best_i, ids[top]], 1)
        o = np.argsort(-cs, axis=1)[:, :10]
        best_s, best_i = np.take_along_axis(cs, o, 1), np.take_along_axis(ci, o, 1)
    return best_i.tolist()


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(store: Path, kinds: list[str], queries: int, seed: int, query_ids: int = 0,
            sweep: list[int] | None = None) -> list[dict]:
    import facevault
    from facevault.store import index as index_mod

    qfile = store / "bench-queries.npy"
    rows = []
    exact_ids = None
    for kind in kinds:
        built = _child("_build", str(store), kind, str(queries), str(seed), str(query_ids))
        q = np.asarray(built.pop("queries"), np.float32)
        if exact_ids is None:
            np.save(qfile, q)
            exact_ids = np.asarray(_child("_exact", str(store), str(qfile)), np.int64)
        res = _child("_search", str(store), str(qfile), ",".join(map(str, sweep or [])))
        vault = facevault.open(store)
        rec = vault.catalog.spaces()[0]
        meta = index_mod.read_meta(vault.catalog, rec.id)
        with np.load(vault.settings.index_dir / f"space-{rec.id}.{meta['generation']}.map.npz") as z:
            ids = z["ids"]
        found = np.asarray(res.pop("found"), np.int64)
        found_ids = np.where(found >= 0, ids[np.clip(found, 0, None)], -1)
        rec10 = index_mod.recall_at(found_ids, exact_ids)
        half = len(exact_ids) // 2  # sweep: the value is chosen on the first half of the queries, reported on the rest
        for point in res.get("sweep", []):
            f = np.asarray(point.pop("found"), np.int64)
            f = np.where(f >= 0, ids[np.clip(f, 0, None)], -1)
            point["recall_choose"] = round(index_mod.recall_at(f[:half], exact_ids[:half]), 4)
            point["recall_report"] = round(index_mod.recall_at(f[half:], exact_ids[half:]), 4)
            print("  sweep", json.dumps(point), flush=True)
        ok = [p for p in res.get("sweep", []) if p["recall_choose"] >= index_mod.TARGET_RECALL]
        if ok:
            res["sweep_choice"] = ok[0]
        row = {**{k: built[k] for k in ("kind", "vectors", "build_s", "rss_build_mb", "params", "reason")},
               **res, "recall_at_10": round(rec10, 4), "queries_from": f"vector ids <= {query_ids}" if query_ids
               else "whole store"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):  # child processes
        cmd, store = sys.argv[1], Path(sys.argv[2])
        if cmd == "_build":
            doc = measure_one(store, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
        elif cmd == "_search":
            doc = search_child(store, Path(sys.argv[3]), [int(x) for x in sys.argv[4].split(",") if x])
        else:
            doc = exact_child(store, Path(sys.argv[3]))
        print(json.dumps(doc))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("store", type=Path)
    b.add_argument("--n", type=int, default=1_000_000)
    b.add_argument("--dim", type=int, choices=sorted(SPACES), default=128)
    b.add_argument("--real", type=Path, default=None, help="a facevault store whose vectors come first")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--layout", choices=["random", "clustered"], default="random",
                   help="random unit vectors, or 10 per identity around a random centre")
    me = sub.add_parser("measure")
    me.add_argument("store", type=Path)
    me.add_argument("--kinds", default="flat,ivf,hnsw")
    me.add_argument("--queries", type=int, default=200)
    me.add_argument("--seed", type=int, default=0)
    me.add_argument("--query-ids", type=int, default=0,
                    help="draw queries from the first N vector ids only (the --real vectors of a build)")
    me.add_argument("--sweep", default="", help="nprobe / efSearch values to time and score, e.g. 1,2,4,8,16")
    a = ap.parse_args()
    if a.cmd == "build":
        print(json.dumps(build(a.store, a.n, a.dim, a.real, a.seed, a.layout)))
    else:
        measure(a.store, a.kinds.split(","), a.queries, a.seed, a.query_ids,
                [int(x) for x in a.sweep.split(",") if x])


if __name__ == "__main__":
    main()
