"""The driver's write rate: `Catalog.write_results` with synthetic results (1 face + 1 512-d float32 vector per
image) in batches of 256, what the ingest Writer commits. Also prints the PostgreSQL size per row.

    python scripts/bench_catalog_write.py --db postgresql+psycopg://USER@/DB?host=/SOCKET --images 20000
    python scripts/bench_catalog_write.py --images 20000        # SQLite in a temporary store
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None)
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dim", type=int, default=512)
    args = ap.parse_args()
    store = tempfile.mkdtemp(prefix="fvbench-")
    cat = Catalog(settings.resolve(store=store, db=args.db), create=True)
    ds = cat.ensure_dataset("bench", store)
    cat.sync_images([(f"id{i // 10}/{i}.jpg", f"id{i // 10}", f"{i:064x}", 20_000) for i in range(args.images)],
                    dataset_id=ds)
    rec = cat.ensure_space(Space("bench", "dlib-hog", "dlib-chip", args.dim), None)
    rng = np.random.default_rng(0)
    batches = [results(s, min(args.batch, args.images - s), args.dim, rng) for s in range(0, args.images, args.batch)]
    t0 = time.perf_counter()
    for b in batches:
        cat.write_results(rec.id, "dlib-hog", b)
    dt = time.perf_counter() - t0
    n = args.images
    print(f"{cat.engine.dialect.name}: {n} images in {dt:.1f} s = {n / dt:,.0f} images/s, "
          f"{3 * n / dt:,.0f} rows/s inserted (face + vector + scan per image; plus 1 image row updated)")
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
