#!/usr/bin/env python
"""N query images in one `facevault search` call against the same N in a warm process, in one run.

    python scripts/bench_search_calls.py [--store S | --gallery 300] [--sizes 1,10,20,40] [--reps 3]

The peer is facevault itself: `Vault.search` on the same N queries in a process that has already loaded the
model and the index (the warm cost). Two calls are timed, each the wall clock of the whole `facevault search
Q1 .. QN --store S -k 1 --json` command:
- cold (`--no-server`): the call starts everything (interpreter, imports, catalog read, model and index load,
  the queries, exit);
- served: `facevault serve --store S` runs (started once, before any timing), so the call starts only the
  command line and asks the server, which answers from its loaded model and index.
Each ratio to the warm cost is what a call pays for starting; `start_s` estimates that start-up (call minus warm).
The three are interleaved (each repetition times warm, cold and served for every N in turn), so a change in the
machine's load during the run falls on all three alike. The served answers are checked equal to the cold ones.

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
store, queries = json.loads(sys.argv[1])
with facevault.open(store) as vault:
    vault.search(queries[0], k=1)  # loads the model and the index
    print("ready", flush=True)
    for line in sys.stdin:  # one N a line: the time of Vault.search on the first N queries
        n = int(line)
        t = time.perf_counter()
        vault.search(queries[:n], k=1)
        print(time.perf_counter() - t, flush=True)
"""


def facevault_cmd() -> list[str]:
    """The `facevault` of this interpreter's environment (a wheel's venv times as its users would run it)."""
    beside = Path(sys.executable).parent / "facevault"
    exe = str(beside) if beside.exists() else shutil.which("facevault")
    return [exe] if exe else [sys.executable, "-m", "facevault"]


def install_kind() -> str:
    """"editable" (pip install -e: an import hook runs at every start) or "wheel"."""
    from importlib import metadata

    try:
        direct = json.loads(metadata.distribution("facevault").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        return "unknown"
    return "editable" if direct.get("dir_info", {}).get("editable") else "wheel"


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
    images = sorted(a.lfw.resolve().glob("*/*.jpg"))
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
            store, rest = a.store.resolve(), images
        step = max(1, len(rest) // max(sizes))
        queries = [str(p) for p in rest[::step][: max(sizes)]]
        subprocess.run([*fv, "search", queries[0], "--store", str(store), "-k", "1", "--json"], check=True,
                       stdout=subprocess.DEVNULL)  # builds and saves the index; warms the page cache
        # run outside the repository, so an installed wheel is timed as installed (not the source tree beside it)
        warm_proc = subprocess.Popen([sys.executable, "-c", WARM, json.dumps([str(store), queries])], cwd=tmp,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        server = subprocess.Popen([*fv, "serve", "--store", str(store), "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        warm = {n: [] for n in sizes}
        cold = {n: [] for n in sizes}
        served = {n: [] for n in sizes}
        answers: dict[tuple[str, int], str] = {}

        def call(n: int, extra: list[str], kind: str) -> float:
            t = time.perf_counter()
            answers[kind, n] = subprocess.run([*fv, "search", *queries[:n], "--store", str(store), "-k", "1", "--json",
                                               *extra], check=True, capture_output=True, text=True).stdout
            return time.perf_counter() - t

        try:
            assert warm_proc.stdout.readline().strip() == "ready"
            json.loads(server.stdout.readline())  # one line once it listens
            for _ in range(a.reps):
                for n in sizes:
                    warm_proc.stdin.write(f"{n}\n")
                    warm_proc.stdin.flush()
                    warm[n].append(float(warm_proc.stdout.readline()))
                    cold[n].append(call(n, ["--no-server"], "cold"))
                    served[n].append(call(n, [], "served"))
        finally:
            server.terminate()
            server.wait(30)
            warm_proc.stdin.close()
            warm_proc.wait(30)
        rows = []
        for n in sizes:
            if answers["served", n] != answers["cold", n]:
                raise SystemExit(f"the served answer to {n} queries differs from the cold one")
            w = statistics.median(warm[n])
            c, sv = statistics.median(cold[n]), statistics.median(served[n])
            rows.append({"queries": n, "cold_s": cold[n], "served_s": served[n], "warm_s": warm[n],
                         "cold_median_s": c, "served_median_s": sv, "warm_median_s": w, "ratio": c / w,
                         "served_ratio": sv / w, "start_s": c - w, "served_start_s": sv - w})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    doc = {"command": " ".join([sys.executable, *sys.argv]), "store": str(a.store or f"{a.gallery} LFW images"),
           "facevault": f"{fv[-1] if len(fv) == 1 else ' '.join(fv)} ({install_kind()} install)",
           "machine": {"cpus": len(os.sched_getaffinity(0)), "platform": platform.platform(),
                       "load_avg": os.getloadavg()}, "rows": rows}
    a.out.write_text(json.dumps(doc, indent=2))
    print(f"store: {doc['store']}; {doc['facevault']}; {doc['machine']['cpus']} CPUs; "
          f"load {doc['machine']['load_avg'][0]:.2f}")
    print("| queries in one call | warm `Vault.search` (median) | cold `facevault search` (median; min-max) "
          "| cold / warm | served `facevault search` (median; min-max) | served / warm | served start-up (served - warm) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['queries']} | {r['warm_median_s']:.3f} s "
              f"| {r['cold_median_s']:.3f} s ({min(r['cold_s']):.2f}-{max(r['cold_s']):.2f}) | {r['ratio']:.2f}x "
              f"| {r['served_median_s']:.3f} s ({min(r['served_s']):.3f}-{max(r['served_s']):.3f}) "
              f"| **{r['served_ratio']:.2f}x** | {1000 * r['served_start_s']:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
