#!/usr/bin/env python
"""Time and memory of the `all` verification protocol (every pair of a store's vectors) on one space.

For LFW (13,233 images, 5,749 identities) that is 87,549,528 pairs: 242,257 same and 87,307,271 different.
They are scored in blocks of matrix products into fixed-bin score histograms (facevault.services.evaluate.evaluate_all),
so nothing is sorted and memory stays bounded. Targets: under 60 s and under 2 GB peak RSS on 2 cores.

    python scripts/eval_lfw_all.py /tmp/lfw/store [--model dlib] [--threads 2] [--json]

Reports wall time of loading the vectors and of scoring, the process's peak RSS (resource.getrusage; it
includes the interpreter and imports, measured separately as `rss_after_imports_mb`), and the headline
metrics. Nothing is written to the store (no calibration).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("store", help="facevault store directory (e.g. /tmp/lfw/store)")
    ap.add_argument("--model", default="dlib")
    ap.add_argument("--detector", default=None)
    ap.add_argument("--metric", default="cosine", choices=("cosine", "euclidean", "euclidean_l2"))
    ap.add_argument("--bins", type=int, default=20000)
    ap.add_argument("--block", type=int, default=2048)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads (set before numpy loads)")
    ap.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    t_start = time.perf_counter()
    from facevault.core import settings as config
    from facevault.services import spaces
    from facevault.services.evaluate import evaluate_all
    from facevault.store import Catalog

    rss_imports = _rss_mb()
    with Catalog(config.resolve(args.store, None)) as catalog:
        space = spaces.choose(catalog.spaces(), args.model, args.detector)
        t0 = time.perf_counter()
        stored = catalog.vectors(space.id)
        known = catalog.image_paths()
        t1 = time.perf_counter()
        ev = evaluate_all(catalog, space, calibrate=False, metric=args.metric, bootstrap=args.bootstrap,
                          bins=args.bins, block=args.block, stored=stored, known=known)
        t2 = time.perf_counter()
    r = ev.report
    peak = _rss_mb()
    summary = {
        "store": args.store, "space": ev.space, "metric": args.metric, "threads": args.threads,
        "images": len(stored), "dim": int(stored.matrix.shape[1]), "pairs": r.pairs, "positives": r.positives,
        "negatives": r.negatives, "missing": r.missing, "bins": args.bins, "block": args.block,
        "bootstrap": args.bootstrap,
        "load_seconds": round(t1 - t0, 3), "score_seconds": round(t2 - t1, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "rss_after_imports_mb": round(rss_imports, 1), "peak_rss_mb": round(peak, 1),
        "accuracy": r.accuracy, "accuracy_ci": r.accuracy_ci, "threshold": r.threshold, "auc": r.auc, "eer": r.eer,
        "tar_at_far": [{"far": t.far_target, "tar": t.tar, "far_achieved": t.far_achieved, "ci": t.ci}
                       for t in r.tar_at_far],
        "note": r.note,
    }
    summary["meets_target"] = summary["score_seconds"] < 60 and peak < 2048
    if not args.json:
        print(f"{ev.space}: {r.pairs:,} pairs ({r.positives:,} same) of {len(stored):,} images, "
              f"scored in {summary['score_seconds']:.1f} s (load {summary['load_seconds']:.1f} s), "
              f"peak RSS {peak:.0f} MB (after imports {rss_imports:.0f} MB)", file=sys.stderr)
    print(json.dumps(summary, indent=2))
    return 0 if summary["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
