#!/usr/bin/env python
"""Two catalogs of the same dataset, compared: the vectors per image path, then `facevault evaluate` on both.

    python scripts/compare_stores.py STORE_A STORE_B [--db-a URL] [--db-b URL] [--model dlib]
        [--pairs-file ../shared/datasets/lfw/pairs.txt]

E.g. a local ingest into SQLite against a Ray ingest into PostgreSQL. Prints the number of image paths in
each, how many are in both, the largest |difference| of any vector component over the common paths, and the
evaluate results side by side (with --pairs-file; otherwise the store's own `--sample 1000` protocol), then
whether they are identical. Exit status 0 when the vectors agree to 1e-6 and the evaluations are identical.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import facevault

KEYS = ("pairs", "missing", "accuracy", "accuracy_std", "threshold", "auc", "eer")


def _evaluate(store: str, db: str | None, model: str, pairs_file: str | None) -> dict:
    cmd = [sys.executable, "-m", "facevault", "evaluate", "--store", store, "--model", model, "--no-calibrate",
           "--json"] + (["--db", db] if db else []) + (["--pairs-file", pairs_file] if pairs_file else
                                                       ["--sample", "1000"])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return _bench()._accuracy(json.loads(out[out.find("{"):]), KEYS)


def _bench():
    """scripts/bench_vs_deepface.py, for its reader of `evaluate --json`."""
    spec = importlib.util.spec_from_file_location("bench_vs_deepface", Path(__file__).with_name("bench_vs_deepface.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store_a")
    ap.add_argument("store_b")
    ap.add_argument("--db-a")
    ap.add_argument("--db-b")
    ap.add_argument("--model", default="dlib")
    ap.add_argument("--pairs-file")
    a = ap.parse_args()
    va = facevault.open(a.store_a, db=a.db_a).vectors(model=a.model)
    vb = facevault.open(a.store_b, db=a.db_b).vectors(model=a.model)
    ia, ib = va.by_path(), vb.by_path()
    common = sorted(set(ia) & set(ib))
    diff = 0.0
    if common:
        ma = va.matrix[[ia[p] for p in common]]
        mb = vb.matrix[[ib[p] for p in common]]
        diff = float(np.abs(ma - mb).max())
    print(f"vectors: {len(va)} in A, {len(vb)} in B, {len(common)} paths in both; max |diff| {diff:.3g}")
    ea = _evaluate(a.store_a, a.db_a, a.model, a.pairs_file)
    eb = _evaluate(a.store_b, a.db_b, a.model, a.pairs_file)
    for k in KEYS:
        print(f"  {k:14s} {ea.get(k)!s:>22s} {eb.get(k)!s:>22s}")
    same = ea == eb
    ok = diff <= 1e-6 and len(common) == len(va) == len(vb) and same
    print("identical" if ok else "DIFFERENT", f"(evaluate {'identical' if same else 'differs'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
