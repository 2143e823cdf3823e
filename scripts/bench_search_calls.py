#!/usr/bin/env python
"""N query images in one cold `facevault search` call against the same N in a warm process, in one run.

    python scripts/bench_search_calls.py [--store S | --gallery 300] [--sizes 1,10,20,40] [--reps 3]

The peer is facevault itself: `Vault.search` on the same N queries in a process that has already loaded the
model and the index (the warm cost). The cold figure is the wall clock of the whole `facevault search Q1 .. QN
--store S -k 1 --json` command (interpreter, imports, catalog read, model and index load, the queries, exit).
Their ratio is what a call pays for starting; `start_s` estimates that start-up (cold minus warm).

Without --store, the first --gallery LFW images (sorted) are ingested into a temporary store; the queries are
LFW images outside it (every LFW image holds a face). The index is built before anything is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LFW = HERE.parent.parent / "shared" / "datasets" / "lfw" / "images"
WARM = r"""
import json, sys, time
import facevault
store, queries, sizes, reps = json.loads(sys.argv[1])
out = {}
with facevault.open(store) as vault:
    vault.search(queries[0], k=1)  # loads the model and the index
    for n in sizes:
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            vault.search(queries[:n], k=1)
            times.append(time.perf_counter() - t)
        out[n] = times
print(json.dumps(out))
"""


def facevault_cmd() -> list[str]:
    exe = shutil.which("facevault")
    return [exe] if exe else [sys.executable, "-m", "facevault"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw", type=Path, default=LFW)
    ap.add_argument("--store", type=Path, default=None, help="an existing store to search (default: build one)")
    ap.add_argument("--gallery", type=int, default=300, help="LFW images ingested when no --store is given")
    ap.add_argument("--sizes", default="1,10,20,40", help="queries per call")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench_search_calls.json"))
    a = ap.parse_args()
    if not a.lfw.is_dir():
        print(f"error: LFW images not found at {a.lfw} (pass --lfw)", file=sys.stderr)
        return 2
    sizes = sorted({int(s) for s in a.sizes.split(",") if s.strip()})
    fv = facevault_cmd()
    images = sorted(a.lfw.glob("*/*.jpg"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_search_calls_"))
    try:
        if a.store is None:
            data = tmp / "gallery"
            for src in images[: a.gallery]:
                (data / src.parent.name).mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, data / src.parent.name / src.name)
            store = tmp / "store"
            subprocess.run([*fv, "ingest", str(data), "--store", str(store), "--json"], check=True,
                           stdout=subprocess.DEVNULL)
            rest = images[a.gallery:]
        else:
            store, rest = a.store, images
        step = max(1, len(rest) // max(sizes))
        queries = [str(p) for p in rest[::step][: max(sizes)]]
        subprocess.run([*fv, "search", queries[0], "--store", str(store), "-k", "1", "--json"], check=True,
                       stdout=subprocess.DEVNULL)  # builds and saves the index; warms the page cache
        warm = json.loads(subprocess.run([sys.executable, "-c", WARM, json.dumps([str(store), queries, sizes, a.reps])],
                                         check=True, capture_output=True, text=True).stdout)
        rows = []
        for n in sizes:
            cold = []
            for _ in range(a.reps):
                t = time.perf_counter()
                subprocess.run([*fv, "search", *queries[:n], "--store", str(store), "-k", "1", "--json"],
                               check=True, stdout=subprocess.DEVNULL)
                cold.append(time.perf_counter() - t)
            w = statistics.median(warm[str(n)])
            c = statistics.median(cold)
            rows.append({"queries": n, "cold_s": cold, "warm_s": warm[str(n)], "cold_median_s": c,
                         "warm_median_s": w, "ratio": c / w, "start_s": c - w})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    doc = {"command": " ".join([sys.executable, *sys.argv]), "store": str(a.store or f"{a.gallery} LFW images"),
           "machine": {"cpus": len(os.sched_getaffinity(0)), "platform": platform.platform(),
                       "load_avg": os.getloadavg()}, "rows": rows}
    a.out.write_text(json.dumps(doc, indent=2))
    print(f"store: {doc['store']}; {doc['machine']['cpus']} CPUs; load {doc['machine']['load_avg'][0]:.2f}")
    print("| queries in one call | cold `facevault search` (median; min-max) | warm `Vault.search` (median) "
          "| cold / warm | start-up (cold - warm) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['queries']} | {r['cold_median_s']:.2f} s ({min(r['cold_s']):.2f}-{max(r['cold_s']):.2f}) | "
              f"{r['warm_median_s']:.2f} s | **{r['ratio']:.2f}x** | {r['start_s']:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
