#!/usr/bin/env python
"""CPU seconds of an in-process ingest split into the networks (onnxruntime `run`) and everything else (decode,
hashing, pre- and post-processing, alignment, catalog writes): the part that stays on a GPU node's CPUs when the
networks move to its GPU. Run it at two sizes and difference them to drop the one-time start-up.

    OMP_NUM_THREADS=1 python scripts/profile_ingest.py DATASET --model arcface-mbf --detector scrfd --limit 40
    OMP_NUM_THREADS=1 python scripts/profile_ingest.py DATASET --model arcface-mbf --detector scrfd --limit 120

CPU time is `process_time` (every thread of the process), so the split holds on a loaded machine too.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import tempfile
import time

import facevault
from facevault.services.ingest.runner import InProcessRunner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--model", default="arcface-mbf")
    ap.add_argument("--detector", default="scrfd")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--weights", default=None)
    a = ap.parse_args()
    store = tempfile.mkdtemp(prefix="fvprof-")
    vault = facevault.open(store, weights=a.weights)
    try:
        prof = cProfile.Profile(time.process_time)
        c0 = time.process_time()
        prof.enable()
        summary = vault.ingest(a.dataset, model=a.model, detector=a.detector, runner=InProcessRunner(), limit=a.limit)
        prof.disable()
        cpu = time.process_time() - c0
        nets = sum(t[3] for k, t in pstats.Stats(prof).stats.items() if "onnxruntime_pybind11_state.run" in k[2])
        n = max(1, summary.processed)
        print(f"{summary.processed} images: {cpu:.2f} CPU s; networks {nets:.2f} s ({1000 * nets / n:.1f} ms/image); "
              f"the rest {cpu - nets:.2f} s ({1000 * (cpu - nets) / n:.1f} ms/image, start-up included)")
    finally:
        vault.close()
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
