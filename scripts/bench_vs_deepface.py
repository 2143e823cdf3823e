#!/usr/bin/env python
"""facevault against what users would otherwise run (deepface), in one run, as ratios measured side by side.

    python scripts/bench_vs_deepface.py [--spaces dlib:dlib-hog-only,dlib:dlib-hog,Dlib:deepface-dlib]
        [--n-ingest 300] [--pairs 1000] [--gallery 100,200] [--queries 10] [--reps 2]
        [--scale 13223,100000 --real-store LFW_STORE] [--table saved.json]

1. ingest: `facevault ingest` (subprocess, wall clock of the whole command) in each --spaces space vs a
   `DeepFace.represent(model_name="Dlib", detector_backend="dlib")` loop over the same files (model build
   excluded, reported apart). `dlib:dlib-hog-only` is the same detector (dlib's HOG, one upsampling) and model
   (dlib's ResNet) with dlib's own alignment; `dlib:dlib-hog` the default cascade; `Dlib:deepface-dlib`
   deepface's own detection and alignment code run by facevault.
2. the study's accuracy job on seed-different (432 RGBA PNG, 6 identities): `DeepFace.verify` on each of P
   seeded, distinct, balanced pairs (timed; every pair extrapolated from its time per pair) vs one `facevault
   ingest` plus `facevault evaluate --pairs-file` on the same P pairs and `--protocol all` (wall clock,
   accuracy cross-validated over 10 folds).
3. identification: `DeepFace.find` against a gallery folder vs `Vault.search` in a warm process and
   `facevault search` cold, same gallery and queries (each query's identity has other images in the gallery),
   at each --gallery size (find embeds the gallery itself); rank-1 of both.
4. --scale: the same at gallery sizes find cannot embed here, with both tools given the same vectors (see
   `scale_part`); find's repeated-query cost is then fitted over every size measured.

deepface runs in child processes (its import sets up folders and threads) with DEEPFACE_HOME linked to the
face_recognition_models weights, so nothing downloads. Prints a table and writes --out JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import resource
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
MODEL, DETECTOR, PEER_DETECTOR = "Dlib", "deepface-dlib", "dlib"



def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


bench_ingest = _script("bench_ingest")


CPU: dict[str, float] = {}  # CPU seconds (user + sys) of the last child command, keyed by what it was


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def fv(*args: str) -> tuple[float, str]:
    """Wall seconds and stdout of one facevault command (CPU seconds in CPU[args[0]])."""
    cmd = bench_ingest.ingest_command() + list(args)
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = bench_ingest.run_child(cmd)
    CPU[args[0]] = _children_cpu() - c0
    return time.perf_counter() - t0, proc.stdout


def _json(text: str) -> Any:
    return json.loads(text[min(i for i in (text.find("{"), text.find("[")) if i >= 0):])


# ---------------------------------------------------------------- deepface children
def peer_ingest(job: dict) -> dict:
    from deepface import DeepFace

    paths = job["paths"]
    t0 = time.perf_counter()
    DeepFace.represent(img_path=paths[0], model_name=MODEL, detector_backend=PEER_DETECTOR, enforce_detection=False)
    warm = time.perf_counter() - t0
    c0, t0 = time.process_time(), time.perf_counter()
    for p in paths:
        DeepFace.represent(img_path=p, model_name=MODEL, detector_backend=PEER_DETECTOR, enforce_detection=False)
    return {"images": len(paths), "seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "warmup_s": warm}


def peer_verify(job: dict) -> dict:
    from deepface import DeepFace

    pairs = job["pairs"]
    a, b, _ = pairs[0]
    t0 = time.perf_counter()
    DeepFace.verify(a, b, model_name=MODEL, detector_backend=PEER_DETECTOR, enforce_detection=False)
    warm = time.perf_counter() - t0
    correct, t0, c0 = 0, time.perf_counter(), time.process_time()
    for a, b, same in pairs:
        r = DeepFace.verify(a, b, model_name=MODEL, detector_backend=PEER_DETECTOR, enforce_detection=False)
        correct += bool(r["verified"]) == bool(same)
    return {"pairs": len(pairs), "seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "warmup_s": warm,
            "accuracy": correct / len(pairs)}


def peer_find(job: dict) -> dict:
    """Per gallery size: the first find (embeds the new gallery files), then repeated finds of every query."""
    from deepface import DeepFace

    gallery, out = Path(job["gallery"]), []
    for size, files in job["stages"]:
        for src, ident in files:
            (gallery / ident).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, gallery / ident / Path(src).name)
        out.append({"gallery": size, **_finds(DeepFace, str(gallery), job["queries"], job["reps"])})
    return {"stages": out}


def _finds(DeepFace, gallery: str, queries: list, reps: int) -> dict:
    """A first `DeepFace.find` (whatever it embeds), then `reps` rounds of every query: mean wall and CPU
    seconds per repeated call, and rank-1 over the first round."""
    t0 = time.perf_counter()
    DeepFace.find(img_path=queries[0][0], db_path=gallery, model_name=MODEL, detector_backend=PEER_DETECTOR,
                  enforce_detection=False, silent=True)
    first = time.perf_counter() - t0
    times, cpus, hits = [], [], 0
    for rep in range(reps):
        for q, ident in queries:
            t0, c0 = time.perf_counter(), time.process_time()
            dfs = DeepFace.find(img_path=q, db_path=gallery, model_name=MODEL, detector_backend=PEER_DETECTOR,
                                enforce_detection=False, silent=True)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            if rep == 0 and dfs and len(dfs[0]):
                hits += Path(dfs[0].iloc[0]["identity"]).parent.name == ident
    return {"first_s": first, "repeat_s": sum(times) / len(times), "repeat_cpu_s": sum(cpus) / len(cpus),
            "rank1": hits / len(queries)}


def peer_find_seeded(job: dict) -> dict:
    """`DeepFace.find` on a big gallery whose datastore (deepface's own npz format, hashes from deepface's own
    function) is written here from the given vectors, so find embeds nothing and every call does what a repeated
    find does: list and stat the gallery, load the datastore, score every row."""
    import numpy as np
    from deepface import DeepFace
    from deepface.commons import image_utils

    gallery, files = job["gallery"], job["files"]
    vecs = np.load(job["vectors"]).astype(np.float64)
    n = len(files)
    name = f"ds_model_{MODEL}_detector_{PEER_DETECTOR}_aligned_normalization_base_expand_0".replace("-", "").lower()
    zeros = np.zeros(n, np.int64)
    np.savez(os.path.join(gallery, name + ".npz"), embedding=vecs, has_embedding=np.ones(n, bool),
             identity=np.array(files, dtype=np.str_),
             hash=np.array([image_utils.find_image_hash(f) for f in files], dtype=np.str_),
             target_x=zeros, target_y=zeros, target_w=zeros, target_h=zeros)
    return {"gallery": n, **_finds(DeepFace, gallery, job["queries"], job["reps"])}


def fv_search_warm(job: dict) -> dict:
    """A warm process: one vault, pipeline and index loaded by a first search, then timed repeated searches."""
    import facevault

    vault = facevault.open(job["store"])
    queries = job["queries"]
    t0 = time.perf_counter()
    vault.search(queries[0][0], k=1)
    first = time.perf_counter() - t0
    times, cpus, hits = [], [], 0
    for rep in range(job["reps"]):
        for q, ident in queries:
            t0, c0 = time.perf_counter(), time.process_time()
            res = vault.search(q, k=1)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            if rep == 0:
                m = res[0]["matches"] if res and res[0].get("matches") else []
                hits += bool(m) and m[0]["identity"] == ident
    t0 = time.perf_counter()
    vault.search([q for q, _ in queries], k=1)
    many = time.perf_counter() - t0
    return {"first_s": first, "repeat_s": sum(times) / len(times), "repeat_cpu_s": sum(cpus) / len(cpus),
            "rank1": hits / len(queries),
            "batch_per_query_s": many / len(queries)}


def child(kind: str, job: dict, env: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
    proc = bench_ingest.run_child([sys.executable, str(Path(__file__).resolve()), f"--_{kind}", f.name], **env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the plan
def lfw_split(lfw: Path, gallery_sizes: list[int], n_queries: int, seed: int):
    """Queries: one image each of identities with >= 3 images; the gallery: their other images first, then
    others, in growing stages."""
    rng = random.Random(seed)
    by_ident = {d.name: sorted(d.glob("*.jpg")) for d in sorted(lfw.iterdir()) if d.is_dir()}
    rich = [n for n, f in by_ident.items() if len(f) >= 3]
    rng.shuffle(rich)
    qids = rich[:n_queries]
    queries = [(str(by_ident[n][0]), n) for n in qids]
    pool = [(str(f), n) for n in qids for f in by_ident[n][1:4]]
    others = [n for n in by_ident if n not in set(qids)]
    rng.shuffle(others)
    pool += [(str(f), n) for n in others for f in by_ident[n]]
    stages, done = [], 0
    for size in gallery_sizes:
        stages.append((size, pool[done:size]))
        done = size
    return queries, stages


def seed_pairs(root: Path, n: int, seed: int) -> list[tuple[str, str, bool]]:
    """n distinct pairs, half same-identity and half different, seeded; paths relative to `root`."""
    files = sorted((p.relative_to(root).as_posix(), p.parent.name) for p in root.rglob("*.png"))
    if len({ident for _, ident in files}) < 2:
        raise SystemExit(f"no seed-different dataset at {root} (PNG files in two or more identity folders); "
                         "give --seed-dir")
    rng = random.Random(seed)
    pairs: list[tuple[str, str, bool]] = []
    seen: set[tuple[str, str]] = set()
    while len(pairs) < n:
        a = rng.choice(files)
        same = len(pairs) % 2 == 0
        b = rng.choice([f for f in files if (f[1] == a[1]) == same and f != a])
        key = (min(a[0], b[0]), max(a[0], b[0]))
        if key not in seen:
            seen.add(key)
            pairs.append((a[0], b[0], same))
    return pairs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for child_kind in ("peer_ingest", "peer_verify", "peer_find", "peer_find_seeded", "fv_search_warm"):
        ap.add_argument(f"--_{child_kind}", dest=child_kind, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--lfw", type=Path, default=SHARED / "lfw" / "images")
    ap.add_argument("--seed-dir", type=Path, default=SHARED / "seed-different")
    ap.add_argument("--n-ingest", type=int, default=100)
    ap.add_argument("--pairs", type=int, default=1000,
                    help="seeded pairs both tools score (DeepFace.verify on each; facevault ingest + evaluate "
                         "--pairs-file); every pair is extrapolated from deepface's time per pair")
    ap.add_argument("--gallery", default="100,200", help="gallery sizes for find vs search")
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--spaces", default="dlib:dlib-hog,Dlib:deepface-dlib",
                    help="facevault MODEL:DETECTOR pairs timed against deepface's Dlib + dlib loop; the first one "
                         "also serves identification")
    ap.add_argument("--scale", default="", help="big gallery sizes for seeded find vs search, e.g. 13223,100000")
    ap.add_argument("--real-store", type=Path, default=None,
                    help="a facevault store of all LFW (default dlib space) whose vectors fill the big galleries")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: ingest,accuracy,identify")
    ap.add_argument("--out", type=Path, default=Path("bench_vs_deepface.json"))
    ap.add_argument("--table", type=Path, default=None, help="print the table of a saved --out JSON, run nothing")
    a = ap.parse_args()
    if a.table is not None:
        doc = json.loads(a.table.read_text())
        measured = doc.get("identify", {}).get("rows", []) + doc.get("scale", [])
        if len(measured) >= 2 and "deepface_repeat_fit" not in doc:
            doc["deepface_repeat_fit"] = _fit([r["gallery"] for r in measured],
                                              [r["deepface_repeat_s"] for r in measured])
        _table(doc)
        return 0
    for kind in ("peer_ingest", "peer_verify", "peer_find", "peer_find_seeded", "fv_search_warm"):
        job = getattr(a, kind)
        if job is not None:
            print(json.dumps(globals()[kind](json.loads(job.read_text()))))
            return 0

    skip = set(filter(None, a.skip.split(",")))
    doc: dict[str, Any] = {"command": shlex.join([sys.executable] + sys.argv), "machine": {
        "cpus": len(os.sched_getaffinity(0)), "platform": platform.platform(), "python": platform.python_version(),
        "load_avg_start": os.getloadavg()}}
    tmp = Path(tempfile.mkdtemp(prefix="bench_vs_deepface_"))
    home = str(bench_ingest.deepface_home(tmp / "deepface_home"))
    denv = {"DEEPFACE_HOME": home, "DEEPFACE_BACKEND_ENGINE": "onnx"}
    spaces = [(f"{m}/{d}", ["--model", m, "--detector", d]) for m, d in
              (item.split(":") for item in a.spaces.split(","))]
    space = spaces[0][1]
    print(doc["command"], flush=True)

    if "ingest" not in skip:
        images = sorted(a.lfw.glob("*/*.jpg"))[: a.n_ingest]
        data = tmp / "ingest"
        for src in images:
            (data / src.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, data / src.parent.name / src.name)
        paths = [str(data / p.parent.name / p.name) for p in images]
        peer = child("peer_ingest", {"paths": paths}, denv)
        doc["ingest"] = []
        for label, sp in spaces:
            fv_s, out = fv("ingest", str(data), "--store", str(tmp / f"s_ingest_{label}"), *sp,
                           "--workers", str(a.workers), "--json")
            summ = _json(out)
            doc["ingest"].append({"space": label, "images": len(paths), "facevault_s": fv_s,
                                  "facevault_cpu_s": CPU["ingest"], "facevault_embedded": summ.get("embedded"),
                                  "facevault_no_face": summ.get("no_face"),
                                  "deepface_cpu_s": peer["cpu_s"], "deepface_s": peer["seconds"],
                                  "deepface_warmup_s": peer["warmup_s"], "speedup": peer["seconds"] / fv_s,
                                  "speedup_cpu": peer["cpu_s"] / CPU["ingest"]})
            print("ingest", json.dumps(doc["ingest"][-1]), flush=True)

    if "accuracy" not in skip:
        n_img = len(list(a.seed_dir.rglob("*.png")))
        all_pairs = n_img * (n_img - 1) // 2
        pairs = seed_pairs(a.seed_dir, a.pairs, 0)
        pairs_csv = tmp / "seed_pairs.csv"
        pairs_csv.write_text("file_a,file_b,same\n" + "".join(f"{x},{y},{int(z)}\n" for x, y, z in pairs))
        peer = child("peer_verify", {"pairs": [(str(a.seed_dir / x), str(a.seed_dir / y), z) for x, y, z in pairs]},
                     denv)
        per_pair = peer["seconds"] / peer["pairs"]
        doc["accuracy"] = []
        for label, sp in spaces:
            store = str(tmp / f"s_seed_{label}")
            ing_s, _ = fv("ingest", str(a.seed_dir), "--store", store, *sp, "--workers", str(a.workers), "--json")
            ing_cpu = CPU["ingest"]
            s1000, out1000 = fv("evaluate", "--store", store, "--pairs-file", str(pairs_csv), "--no-calibrate", "--json")
            e1000_cpu = CPU["evaluate"]
            sall, outall = fv("evaluate", "--store", store, "--protocol", "all", "--no-calibrate", "--json")
            eall_cpu = CPU["evaluate"]
            doc["accuracy"].append({
                "space": label, "images": n_img, "every_pair": all_pairs, "facevault_ingest_s": ing_s,
                "facevault_eval_1000_s": s1000, "facevault_eval_all_s": sall,
                "facevault_cpu_s": {"ingest": ing_cpu, "eval_1000": e1000_cpu, "eval_all": eall_cpu},
                "deepface_cpu_s_per_pair": peer["cpu_s"] / peer["pairs"], "facevault_1000": _accuracy(_json(out1000)),
                "facevault_all": _accuracy(_json(outall)), "deepface_pairs_timed": peer["pairs"],
                "deepface_s_per_pair": per_pair, "deepface_accuracy": peer["accuracy"],
                "deepface_1000_s": per_pair * peer["pairs"], "deepface_all_s_extrapolated": per_pair * all_pairs,
                "speedup_1000": per_pair * peer["pairs"] / (ing_s + s1000), "speedup_all": per_pair * all_pairs / (ing_s + sall),
                "speedup_1000_cpu": peer["cpu_s"] / (ing_cpu + e1000_cpu),
                "speedup_all_cpu": peer["cpu_s"] / peer["pairs"] * all_pairs / (ing_cpu + eall_cpu)})
            print("accuracy", json.dumps(doc["accuracy"][-1]), flush=True)

    if "identify" not in skip:
        sizes = [int(x) for x in a.gallery.split(",")]
        queries, stages = lfw_split(a.lfw, sizes, a.queries, 0)
        peer = child("peer_find", {"gallery": str(tmp / "g_peer"), "stages": stages, "queries": queries,
                                   "reps": a.reps}, denv)
        gal, store, rows = tmp / "g_fv", str(tmp / "s_gallery"), []
        for (size, files), pst in zip(stages, peer["stages"]):
            for src, ident in files:
                (gal / ident).mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, gal / ident / Path(src).name)
            ing_s, _ = fv("ingest", str(gal), "--store", store, *space, "--workers", str(a.workers), "--json")
            warm = child("fv_search_warm", {"store": store, "queries": queries, "reps": a.reps}, {})
            cold1, _ = fv("search", queries[0][0], "--store", store, "-k", "1", "--json")
            cold1_cpu = CPU["search"]
            coldn, _ = fv("search", *[q for q, _ in queries], "--store", store, "-k", "1", "--json")
            coldn_cpu = CPU["search"]
            rows.append({"gallery": size, "deepface_first_s": pst["first_s"], "deepface_repeat_s": pst["repeat_s"],
                         "deepface_rank1": pst["rank1"], "facevault_ingest_s": ing_s, "facevault_warm_s": warm["repeat_s"],
                         "facevault_rank1": warm["rank1"], "facevault_cold_1_s": cold1,
                         "facevault_cold_n_s": coldn, "n_queries": len(queries), "facevault_cold_1_cpu_s": cold1_cpu,
                         "facevault_cold_n_cpu_s": coldn_cpu, "facevault_warm_cpu_s": warm["repeat_cpu_s"],
                         "deepface_repeat_cpu_s": pst["repeat_cpu_s"],
                         "facevault_cold_n_per_query_s": coldn / len(queries),
                         "facevault_marginal_per_query_s": (coldn - cold1) / max(1, len(queries) - 1),
                         "facevault_api_batch_per_query_s": warm["batch_per_query_s"],
                         "speedup_repeat": pst["repeat_s"] / warm["repeat_s"]})
            print("identify", json.dumps(rows[-1]), flush=True)
        doc["identify"] = {"rows": rows}
    if a.scale and a.real_store:
        doc["scale"] = scale_part(a, tmp, denv, [int(x) for x in a.scale.split(",")])
    measured = doc.get("identify", {}).get("rows", []) + doc.get("scale", [])
    if len(measured) >= 2:  # find's repeated-query cost against the gallery size, over every size measured
        doc["deepface_repeat_fit"] = _fit([r["gallery"] for r in measured], [r["deepface_repeat_s"] for r in measured])
    doc["machine"]["load_avg_end"] = os.getloadavg()
    a.out.write_text(json.dumps(doc, indent=2))
    _table(doc)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def scale_part(a, tmp: Path, denv: dict, sizes: list[int]) -> list[dict]:
    """Identification at gallery sizes find cannot embed here: both tools get the same vectors (the real LFW
    vectors of --real-store, less the queries, then random unit vectors) and the same queries; facevault's store
    is written directly, find's datastore is seeded with the same vectors, and find's gallery folder holds a
    hard link per row (real rows link their own LFW file) because find lists and stats the folder on every call."""
    import numpy as np

    import facevault

    bench_index = _script("bench_index")
    queries, _ = lfw_split(a.lfw, [], a.queries, 0)
    sv = facevault.open(a.real_store).vectors(model="dlib", detector="dlib-hog")
    held = {Path(q).relative_to(a.lfw).as_posix() for q, _ in queries}
    keep = [i for i, p in enumerate(sv.paths) if p not in held]
    any_file = a.lfw / sv.paths[keep[0]]
    rows = []
    for n in sizes:
        real = keep[:n]
        store, gallery = tmp / f"s_scale_{n}", tmp / f"g_scale_{n}"
        t0 = time.perf_counter()
        bench_index.build(store, n, 128, None, 1, labels=[(sv.paths[i], sv.identities[i]) for i in real],
                          real_vecs=sv.matrix[real])
        built = facevault.open(store).vectors()
        files = []
        for p in built.paths:
            _link(a.lfw / p if (a.lfw / p).is_file() else any_file, gallery / p)
            files.append(str(gallery / p))
        np.save(tmp / "scale_vectors.npy", built.matrix)
        setup_s = time.perf_counter() - t0
        peer = child("peer_find_seeded", {"gallery": str(gallery), "files": files,
                                          "vectors": str(tmp / "scale_vectors.npy"), "queries": queries,
                                          "reps": a.reps}, denv)
        warm = child("fv_search_warm", {"store": str(store), "queries": queries, "reps": a.reps}, {})
        cold1, _ = fv("search", queries[0][0], "--store", str(store), "-k", "1", "--json")
        row = {"gallery": n, "real": len(real), "random": n - len(real), "setup_s": setup_s,
               "deepface_first_s": peer["first_s"], "deepface_repeat_s": peer["repeat_s"],
               "deepface_repeat_cpu_s": peer["repeat_cpu_s"], "deepface_rank1": peer["rank1"],
               "facevault_first_s": warm["first_s"], "facevault_warm_s": warm["repeat_s"],
               "facevault_warm_cpu_s": warm["repeat_cpu_s"], "facevault_rank1": warm["rank1"],
               "facevault_api_batch_per_query_s": warm["batch_per_query_s"], "facevault_cold_1_s": cold1,
               "facevault_cold_1_cpu_s": CPU["search"], "speedup_repeat": peer["repeat_s"] / warm["repeat_s"],
               "speedup_repeat_cpu": peer["repeat_cpu_s"] / warm["repeat_cpu_s"]}
        rows.append(row)
        print("scale", json.dumps(row), flush=True)
        shutil.rmtree(gallery, ignore_errors=True)
    return rows


def _accuracy(doc: Any, keys: tuple[str, ...] = ("accuracy", "accuracy_std", "auc", "eer", "pairs")) -> dict:
    """The first evaluation's accuracy (and its spread) from `evaluate --json`, wherever it sits."""
    found: dict = {}

    def walk(d: Any) -> None:
        if isinstance(d, dict):
            for k in keys:
                if k in d and k not in found and not isinstance(d[k], (dict, list)):
                    found[k] = d[k]
            for v in d.values():
                walk(v)
        elif isinstance(d, list):
            for v in d:
                walk(v)

    walk(doc)
    return found


def _fit(x: list[float], y: list[float]) -> tuple[float, float]:
    if len(x) < 2:
        return (y[0], 0.0)
    import numpy as np

    b, a = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    return (float(a), float(max(b, 0.0)))


def _table(doc: dict) -> None:
    print("\n| part | facevault | deepface | ratio (deepface time / facevault time) |\n|---|---|---|---|")
    for d in doc.get("ingest", []):
        print(f"| ingest {d['images']} LFW images, {d['space']} | {d['facevault_s']:.1f} s, "
              f"{d['facevault_cpu_s']:.1f} s CPU (whole command) | {d['deepface_s']:.1f} s, {d['deepface_cpu_s']:.1f} s "
              f"CPU (loop, +{d['deepface_warmup_s']:.1f} s model build) | **{d['speedup']:.2f}x** "
              f"({d['speedup_cpu']:.2f}x CPU) |")
    for d in doc.get("accuracy", []):
        f1, fa = d["facevault_1000"], d["facevault_all"]
        acc = f"{100 * f1['accuracy']:.1f}% +- {100 * f1.get('accuracy_std', 0):.1f}" if "accuracy" in f1 else "-"
        print(f"| seed-different, the same {d['deepface_pairs_timed']:,} pairs, {d['space']} | ingest "
              f"{d['facevault_ingest_s']:.1f} s + evaluate {d['facevault_eval_1000_s']:.1f} s; accuracy {acc} "
              f"(10-fold CV) | {d['deepface_1000_s']:.0f} s ({d['deepface_s_per_pair']:.3f} s/pair); accuracy "
              f"{100 * d['deepface_accuracy']:.1f}% (its default threshold) | **{d['speedup_1000']:.1f}x** "
              f"({d['speedup_1000_cpu']:.1f}x CPU) |")
        print(f"| seed-different, every pair ({d['every_pair']:,}), {d['space']} | ingest {d['facevault_ingest_s']:.1f} s "
              f"+ evaluate --protocol all {d['facevault_eval_all_s']:.1f} s; accuracy {100 * fa.get('accuracy', float('nan')):.1f}% | {d['deepface_all_s_extrapolated']:.0f} s "
              f"(extrapolated) | **{d['speedup_all']:.0f}x** ({d['speedup_all_cpu']:.0f}x CPU) |")
    if "identify" in doc:
        for r in doc["identify"]["rows"]:
            print(f"| identify, gallery {r['gallery']}, warm repeated query | {1000 * r['facevault_warm_s']:.0f} ms, "
                  f"rank-1 {r['facevault_rank1']:.2f} | {1000 * r['deepface_repeat_s']:.0f} ms, rank-1 "
                  f"{r['deepface_rank1']:.2f} (first call {r['deepface_first_s']:.1f} s) | **{r['speedup_repeat']:.2f}x** |")
            print(f"| identify, gallery {r['gallery']}, cold `facevault search` | 1 query {r['facevault_cold_1_s']:.2f} s; "
                  f"{r['n_queries']} queries {r['facevault_cold_n_s']:.2f} s (marginal "
                  f"{1000 * r['facevault_marginal_per_query_s']:.0f} ms/query) | | |")
    for r in doc.get("scale", []):
        print(f"| identify, gallery {r['gallery']:,} ({r['real']:,} real LFW + {r['random']:,} random), warm repeated "
              f"query | {1000 * r['facevault_warm_s']:.0f} ms ({1000 * r['facevault_warm_cpu_s']:.0f} ms CPU), rank-1 "
              f"{r['facevault_rank1']:.2f}; cold `facevault search` {r['facevault_cold_1_s']:.2f} s | "
              f"{1000 * r['deepface_repeat_s']:.0f} ms ({1000 * r['deepface_repeat_cpu_s']:.0f} ms CPU), rank-1 "
              f"{r['deepface_rank1']:.2f} (datastore seeded) | **{r['speedup_repeat']:.1f}x** "
              f"({r['speedup_repeat_cpu']:.1f}x CPU) |")
    if "deepface_repeat_fit" in doc:
        a, b = doc["deepface_repeat_fit"]
        print(f"\nDeepFace.find repeated query, least squares over the gallery sizes measured: {a * 1000:.0f} ms + "
              f"{b * 1e6:.1f} us x gallery (1M faces -> {(a + b * 1e6):.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
