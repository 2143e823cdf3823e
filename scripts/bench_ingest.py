#!/usr/bin/env python
"""Benchmark `facevault ingest` throughput against its two natural peers, in one run, on the same files.

What it measures (images/s over the first N LFW images in sorted order, copied to a temp dataset):

  (a) `facevault ingest DATA --store STORE --workers W --json` as a subprocess: wall clock of the whole
      command (interpreter start, imports, model load, W worker processes, catalog writes), plus the
      `images_per_second` the command reports about itself.
  (b) a plain single-process loop of `DeepFace.represent(model_name="Dlib", detector_backend="dlib")`: what
      a user would write without facevault, with the same dlib models (deepface's weights folder is a
      temp DEEPFACE_HOME whose files link to the `face_recognition_models` package, so nothing downloads).
      Model build is excluded (one warm-up call on the first image, reported apart).
  (c) one process of the bare dlib pipeline facevault's default space runs (HOG detect, 5-point shape,
      150px face chip, ResNet descriptor on the engine facevault uses: onnxruntime on the converted graph, or
      dlib with FACEVAULT_DLIB_ENGINE=dlib) with OMP_NUM_THREADS=1 and no storage: the per-core compute
      ceiling. W times that is the most W workers could reach, so a/(W*c) is ingest's parallel efficiency
      including all of its overheads. Model load is excluded.

Targets: a/b >= 2 (ingest beats the hand-written deepface loop) and a/(W*c) >= 0.85.
(b) and (c) run in subprocesses of this script so deepface's import-time side effects and thread
settings never touch the parent or each other.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SP5 = "shape_predictor_5_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"


def models_dir() -> Path:
    """The `face_recognition_models` weights folder, located without importing the package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("face_recognition_models is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def ingest_command() -> list[str]:
    """`python -m facevault.cli` if runnable, else the console script, else `python -m facevault`.

    Looked up on disk (the repo first: children run from the repo root), without importing facevault.
    """
    spec = importlib.machinery.PathFinder.find_spec("facevault", [str(REPO), *sys.path])
    pkg = Path(list(spec.submodule_search_locations)[0]) if spec and spec.submodule_search_locations else None
    if pkg is not None and (pkg / "cli" / "__main__.py").exists():
        return [sys.executable, "-m", "facevault.cli"]
    script = Path(sys.executable).parent / "facevault"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "facevault"]


def run_child(cmd: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run from the repo root (so `python -m facevault...` finds this checkout) with extra env variables."""
    proc = subprocess.run(cmd, env=dict(os.environ, **env), capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{tail}")
    return proc


# ---------------------------------------------------------------- workers (run in child processes)
def deepface_worker(list_file: Path) -> dict[str, Any]:
    paths = list_file.read_text().splitlines()
    from deepface import DeepFace  # env (DEEPFACE_HOME, engine) was set by the parent

    def represent(p: str) -> None:
        DeepFace.represent(img_path=p, model_name="Dlib", detector_backend="dlib", enforce_detection=False)

    t0 = time.perf_counter()
    represent(paths[0])  # builds both models; excluded from the timing
    warmup = time.perf_counter() - t0
    raised = 0
    t0 = time.perf_counter()
    for p in paths:
        try:
            represent(p)
        except Exception:  # noqa: BLE001 - counted, like a real loop would have to
            raised += 1
    return {"images": len(paths), "seconds": time.perf_counter() - t0, "failures": raised, "warmup_s": warmup}


def native_worker(list_file: Path) -> dict[str, Any]:
    paths = list_file.read_text().splitlines()
    import dlib

    t0 = time.perf_counter()
    md = models_dir()
    detector = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(md / SP5))
    from facevault.faces.embed.dlib import DlibResNet

    net = DlibResNet()  # the engine facevault's default space runs the ResNet on (FACEVAULT_DLIB_ENGINE)
    load = time.perf_counter() - t0
    no_face = 0
    t0 = time.perf_counter()
    for p in paths:
        img = dlib.load_rgb_image(p)
        dets = detector(img, 1)
        if len(dets) == 0:
            no_face += 1
            continue
        rect = max(dets, key=lambda r: r.area())
        chip = dlib.get_face_chip(img, sp(img, rect), size=150, padding=0.25)
        net.forward([chip])
    return {"images": len(paths), "seconds": time.perf_counter() - t0, "failures": no_face, "warmup_s": load,
            "engine": net.engine}


# ---------------------------------------------------------------- the three methods
def bench_ingest(data: Path, store: Path, n: int, workers: int) -> dict[str, Any]:
    cmd = ingest_command() + ["ingest", str(data), "--store", str(store), "--workers", str(workers), "--json"]
    t0 = time.perf_counter()
    proc = run_child(cmd)
    wall = time.perf_counter() - t0
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    errors = summary.get("errors") or {}
    n_err = sum(errors.values()) if isinstance(errors, dict) else int(errors)
    return {"images": n, "seconds": wall, "failures": int(summary.get("no_face", 0)) + n_err,
            "failure_detail": f"no_face={summary.get('no_face')} errors={errors}", "command": shlex.join(cmd),
            "summary_seconds": summary.get("seconds"), "summary_images_per_second": summary.get("images_per_second"),
            "processed": summary.get("processed"), "embedded": summary.get("embedded")}


def bench_worker(kind: str, list_file: Path, **env: str) -> dict[str, Any]:
    out = list_file.with_suffix(f".{kind}.json")
    run_child([sys.executable, str(Path(__file__).resolve()), f"--_{kind}-worker", str(list_file)], **env)
    return json.loads(out.read_text())


def deepface_home(root: Path) -> Path:
    """A DEEPFACE_HOME whose weights link to face_recognition_models' files, so deepface downloads nothing."""
    weights = root / ".deepface" / "weights"
    weights.mkdir(parents=True)
    for name in (RESNET, SP5):
        (weights / name).symlink_to(models_dir() / name)
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="images to use (first N of DIR/*/*.jpg, sorted)")
    ap.add_argument("--lfw", type=Path, default=REPO.parent / "shared" / "datasets" / "lfw" / "images",
                    metavar="DIR", help="LFW images root (DIR/<identity>/<file>.jpg)")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="W (default: cores available)")
    ap.add_argument("--skip-deepface", action="store_true", help="skip method (b)")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    ap.add_argument("--_deepface-worker", dest="deepface_worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_native-worker", dest="native_worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for kind, fn in (("deepface", deepface_worker), ("native", native_worker)):
        list_file: Path | None = getattr(args, f"{kind}_worker")
        if list_file is not None:
            list_file.with_suffix(f".{kind}.json").write_text(json.dumps(fn(list_file)))
            return 0

    command = shlex.join([sys.executable] + sys.argv)
    images = sorted(args.lfw.glob("*/*.jpg"))[: args.n]
    if not images:
        raise SystemExit(f"no images under {args.lfw}/*/*.jpg")
    if not args.json:
        print(f"command: {command}")
        print(f"{len(images)} images from {args.lfw}, workers={args.workers}\n", flush=True)

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp_s:
        tmp = Path(tmp_s)
        data = tmp / "data"
        for src in images:
            (data / src.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, data / src.parent.name / src.name)
        list_file = tmp / "images.txt"
        list_file.write_text("\n".join(str(data / p.parent.name / p.name) for p in images) + "\n")

        plan: list[tuple[str, Any]] = [("a ingest", lambda: bench_ingest(data, tmp / "store", len(images), args.workers))]
        if not args.skip_deepface:
            home = str(deepface_home(tmp / "deepface_home"))
            plan.append(("b deepface loop", lambda: bench_worker("deepface", list_file, DEEPFACE_HOME=home,
                                                                 DEEPFACE_BACKEND_ENGINE="onnx")))
        plan.append(("c native x1", lambda: bench_worker("native", list_file, OMP_NUM_THREADS="1")))
        for name, fn in plan:
            try:
                r = fn()
                r["images_per_second"] = r["images"] / r["seconds"] if r["seconds"] else 0.0
            except Exception as exc:  # noqa: BLE001 - report and go on with the other methods
                r = {"error": str(exc)}
            results[name] = r

    ips = {k[0]: v.get("images_per_second") for k, v in results.items()}
    a_self = results["a ingest"].get("summary_images_per_second")

    def ratio(num: float | None, den: float | None) -> float | None:
        return num / den if num and den else None

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    peers = {"a/b ingest vs deepface loop (target >= 2)": ips.get("b"),
             f"a/(W x c) ingest vs the {args.workers}-core compute limit (target >= 0.85)":
                 args.workers * ips["c"] if ips.get("c") else None}
    # each ratio from ingest's wall clock (the headline) and from its self-reported images/s
    ratios = {label: {"wall": ratio(ips.get("a"), den), "self_reported": ratio(a_self, den)}
              for label, den in peers.items()}
    if args.json:
        print(json.dumps({"command": command, "n": len(images), "workers": args.workers, "lfw": str(args.lfw),
                          "results": results, "ratios": ratios}, indent=2))
        return 0

    print(f"{'method':<18}{'images':>8}{'seconds':>10}{'images/s':>10}{'failures':>10}")
    for name, r in results.items():
        if "error" in r:
            lines = r["error"].strip().splitlines()  # the command and the exception; --json has the whole tail
            print(f"{name:<18}  FAILED: {lines[0]}\n{'':<20}{lines[-1]}")
            continue
        print(f"{name:<18}{r['images']:>8}{r['seconds']:>10.2f}{r['images_per_second']:>10.2f}{r['failures']:>10}")
    a = results.get("a ingest", {})
    if "error" not in a:
        print(f"\n(a) {a['command']}\n    self-reported: {a['summary_images_per_second']:.2f} images/s over "
              f"{a['summary_seconds']:.2f} s; processed={a['processed']} embedded={a['embedded']} {a['failure_detail']}")
    for name in ("b deepface loop", "c native x1"):
        if name in results and "error" not in results[name]:
            engine = f"; ResNet on {results[name]['engine']}" if results[name].get("engine") else ""
            print(f"({name[0]}) warm-up / model load excluded: {results[name]['warmup_s']:.2f} s{engine}")
    print()
    for label, v in ratios.items():
        print(f"{label}: {fmt(v['wall'])}   (from ingest's self-reported images/s: {fmt(v['self_reported'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
