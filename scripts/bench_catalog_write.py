"""The driver's write rate: `Catalog.write_results` with synthetic results (1 face + 1 `--dim` float32 vector per
image) in batches of 256, what the ingest Writer commits. `--repeat N` then writes the same batches N times more:
the retry path (an interrupted run's batch written again: stale faces and vectors replaced, never duplicated).
Prints images/s and rows/s (faces + vectors + scans inserted and image rows updated, as written), the CPU seconds
of this process and (PostgreSQL on this machine) of its server backend, and the PostgreSQL size per row.

    python scripts/bench_catalog_write.py --db postgresql+psycopg://USER@/DB?host=/SOCKET --images 20000
    python scripts/bench_catalog_write.py --images 20000 --repeat 1   # SQLite in a temporary store
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from sqlalchemy import text

from facevault.core import settings
from facevault.core.types import Detection, ImageResult, Landmarks, Space
from facevault.store.catalog import Catalog


def results(start: int, n: int, dim: int, rng) -> list[ImageResult]:
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    pts = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float64)
    return [ImageResult(f"{start + i:064x}", 250, 250, [Detection(60.0, 60.0, 120.0, 120.0, 0.9, "hog-up1",
                                                                  Landmarks(pts, "dlib5"))],
                        subject=0, vectors={0: vecs[i]}, norms={0: 1.0}) for i in range(n)]


def rows_written(batch: list[ImageResult]) -> int:
    """Rows one write of `batch` inserts or updates: faces, vectors, scans, and its image rows (one per content
    here)."""
    faces = sum(len(r.faces) for r in batch if not r.reused_faces)
    return faces + sum(len(r.vectors) for r in batch) + 2 * len(batch)


def backend_cpu(cat: Catalog):
    """A function giving the CPU seconds of the server process serving `cat`'s pooled connection (PostgreSQL on
    this machine), else None."""
    if cat.engine.dialect.name != "postgresql":
        return None
    with cat.engine.connect() as c:
        pid = c.connection.driver_connection.info.backend_pid
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    try:
        cpu()
    except OSError:
        return None
    return cpu


def timed(cat: Catalog, space_id: int, batches: list[list[ImageResult]], what: str, server) -> None:
    s0, c0, t0 = server() if server else 0.0, time.process_time(), time.perf_counter()
    for b in batches:
        cat.write_results(space_id, "dlib-hog", b)
    dt, client = time.perf_counter() - t0, time.process_time() - c0
    n, rows = sum(len(b) for b in batches), sum(rows_written(b) for b in batches)
    cpu = f"cpu: client {client:.2f} s" + (f" + server {server() - s0:.2f} s" if server else "")
    print(f"{cat.engine.dialect.name} {what}: {n} images in {dt:.2f} s = {n / dt:,.0f} images/s, "
          f"{rows / dt:,.0f} rows/s written (face + vector + scan inserted, image updated; {cpu})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None)
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=0, help="write the same batches this many times more (retries)")
    args = ap.parse_args()
    store = tempfile.mkdtemp(prefix="fvbench-")
    cat = Catalog(settings.resolve(store=store, db=args.db), create=True)
    ds = cat.ensure_dataset("bench", store)
    cat.sync_images([(f"id{i // 10}/{i}.jpg", f"id{i // 10}", f"{i:064x}", 20_000) for i in range(args.images)],
                    dataset_id=ds)
    rec = cat.ensure_space(Space("bench", "dlib-hog", "dlib-chip", args.dim), None)
    rng = np.random.default_rng(0)
    batches = [results(s, min(args.batch, args.images - s), args.dim, rng) for s in range(0, args.images, args.batch)]
    server = backend_cpu(cat)
    timed(cat, rec.id, batches, f"dim {args.dim} new", server)
    for k in range(args.repeat):
        timed(cat, rec.id, batches, f"dim {args.dim} retry {k + 1}", server)
    n = args.images
    if cat.engine.dialect.name == "postgresql":
        with cat.engine.connect() as c:
            c.execute(text("ANALYZE"))
            for table in ("images", "faces", "vectors", "scans", "identities"):
                size = c.execute(text(f"SELECT pg_total_relation_size('{table}')")).scalar()
                rows = c.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                print(f"  {table:10s} {rows:8d} rows {size / 2**20:8.1f} MiB  {size / max(rows, 1):7.0f} B/row")
            total = c.execute(text("SELECT pg_database_size(current_database())")).scalar()
            print(f"  database   {total / 2**20:.1f} MiB = {total / n:.0f} B/image")
    cat.close()


if __name__ == "__main__":
    main()
