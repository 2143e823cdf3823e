#!/usr/bin/env python
"""Ingest memory against dataset size: peak RSS of `facevault ingest` on the first N LFW images, per size.

    python scripts/bench_memory.py --sizes 1000,13233 [--workers 2] [--engine local] [--out bench_memory.json]
                                   [--keep DIR]

Each size gets its own dataset folder (hard links to the LFW files, in LFW's identity folders) and its own new
store. While the command runs, /proc is sampled every 0.2 s: the driver's RSS, each descendant's RSS (the
workers), and their sum. Reported per size: the driver's and the largest worker's high-water mark (VmHWM, read
on every sample, so nothing between samples is missed for a process's own peak) and the peak of the summed RSS
(sampled). The last line gives each peak at the biggest size divided by the same peak at the smallest.
With --keep DIR the datasets and stores are written under DIR and kept (to search or evaluate them afterwards);
otherwise they go to a temporary folder that is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LFW = REPO.parent / "shared" / "datasets" / "lfw" / "images"


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])  # kB
    except OSError:
        pass
    return out


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _tree(root: int) -> list[int]:
    kids, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def run(n: int, lfw: Path, tmp: Path, workers: int, engine: str) -> dict:
    files = sorted(lfw.glob("*/*.jpg"))[:n]
    if len(files) < n:
        raise SystemExit(f"{lfw} holds {len(files)} LFW images, fewer than {n} (pass --lfw)")
    data = tmp / f"data{n}"
    if (tmp / f"store{n}").exists() or data.exists():  # a --keep folder from an earlier run: not a new store
        raise SystemExit(f"{tmp} already holds data{n} or store{n}; give --keep an empty or new folder")
    for src in files:
        dst = data / src.parent.name / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    cmd = [sys.executable, "-m", "facevault", "ingest", str(data), "--store", str(tmp / f"store{n}"),
           "--workers", str(workers), "--engine", engine, "--json"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    driver_hwm, worker_hwm, tree_peak, samples = 0, 0, 0, 0
    while proc.poll() is None:
        pids = _tree(proc.pid)
        total = 0
        for pid in pids:
            st = _status(pid)
            total += st.get("VmRSS", 0)
            if pid == proc.pid:
                driver_hwm = max(driver_hwm, st.get("VmHWM", 0))
            else:
                worker_hwm = max(worker_hwm, st.get("VmHWM", 0))
        tree_peak = max(tree_peak, total)
        samples += 1
        time.sleep(0.2)
    out = proc.stdout.read() if proc.stdout else ""
    seconds = time.perf_counter() - t0
    summary = json.loads(out[out.find("{"):]) if "{" in out else {}
    return {"images": len(files), "seconds": round(seconds, 1), "embedded": summary.get("embedded"),
            "driver_hwm_mb": round(driver_hwm / 1024), "worker_hwm_mb": round(worker_hwm / 1024),
            "tree_rss_peak_mb": round(tree_peak / 1024), "samples": samples, "exit": proc.returncode}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,13233")
    ap.add_argument("--lfw", type=Path, default=LFW)
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--engine", default="local")
    ap.add_argument("--out", type=Path, default=Path("bench_memory.json"))
    ap.add_argument("--keep", type=Path, default=None, help="write datasets and stores here and keep them")
    a = ap.parse_args()
    if a.keep is not None:
        a.keep.mkdir(parents=True, exist_ok=True)
    tmp = a.keep if a.keep is not None else Path(tempfile.mkdtemp(prefix="bench_memory_"))
    rows = []
    try:
        for n in (int(x) for x in a.sizes.split(",")):
            rows.append(run(n, a.lfw, tmp, a.workers, a.engine))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\n| images | time | embedded | driver peak | largest worker peak | summed RSS peak |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['images']:,} | {r['seconds']:.0f} s | {r['embedded']} | {r['driver_hwm_mb']} MB | "
              f"{r['worker_hwm_mb']} MB | {r['tree_rss_peak_mb']} MB |")
    if len(rows) > 1:
        lo, hi = rows[0], rows[-1]
        ratios = {k: round(hi[k] / max(lo[k], 1), 3) for k in ("driver_hwm_mb", "worker_hwm_mb", "tree_rss_peak_mb")}
        print(f"\n{hi['images']:,} vs {lo['images']:,} images: " + ", ".join(f"{k} x{v}" for k, v in ratios.items()))
        rows.append({"ratios": ratios})
    a.out.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
