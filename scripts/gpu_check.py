"""What accelerators facevault's engines see, and whether GPU results match the CPU's.

    python scripts/gpu_check.py [--model dlib | --model arcface-mbf] [--batch 64] [--json]

Reports the providers onnxruntime offers, the GPUs faiss sees and whether dlib was built with CUDA; embeds one
batch of face crops (from tests/data, centre-cropped to the model's input) with the ONNX recognizer on the CUDA
provider and on the CPU, and compares the vectors (max |cos - 1| per row) and the times; does the same for a
faiss flat search. On a machine without a GPU it says what is missing and exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent


def _crops(size: int, n: int) -> list[np.ndarray]:
    from PIL import Image

    files = sorted((HERE / "tests" / "data" / "lfw").rglob("*.jpg"))
    out = []
    for i in range(n):
        im = Image.open(files[i % len(files)]).convert("RGB")
        w, h = im.size
        c = min(w, h) // 2
        im = im.crop((w // 2 - c // 2, h // 2 - c // 2, w // 2 + c // 2, h // 2 + c // 2)).resize((size, size))
        out.append(np.asarray(im))
    return out


def _timed(fn, repeat: int = 3) -> tuple[object, float]:
    out = fn()  # warm-up (CUDA kernels, allocations)
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return out, (time.perf_counter() - t) / repeat


def check_onnx(model: str, batch: int) -> dict:
    try:
        import onnxruntime as ort
    except ImportError:
        return {"available": False, "missing": "onnxruntime is not installed (pip install 'facevault[cpu]' or [gpu])"}
    from facevault.api import weights_path
    from facevault.faces.embed.onnx import preprocess
    from facevault.zoo.onnx_specs import SPECS

    providers = ort.get_available_providers()
    doc: dict = {"available": True, "version": ort.__version__, "providers": providers, "model": model}
    fixed_batch = None
    if model == "dlib":  # dlib's ResNet, converted from its weights file (facevault.faces.embed.dlib_onnx)
        from facevault.faces.embed.dlib_onnx import cached_graph, nchw
        from facevault.weights import locate

        path = cached_graph(locate.dlib_file("dlib-resnet", None))  # the graph's bytes
        x = nchw(_crops(150, batch))
    else:
        spec = SPECS[model]
        path = weights_path(spec.file)
        if path is None:
            doc["missing"] = f"weights {spec.file} not found (set FACEVAULT_WEIGHTS or `facevault weights fetch`)"
            return doc
        x = preprocess(_crops(spec.input_size, batch), spec)
        fixed_batch = spec.fixed_batch
        if fixed_batch:
            x = x[: (len(x) // fixed_batch) * fixed_batch]
        path = str(path)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3

    def run(session) -> np.ndarray:
        name, out = session.get_inputs()[0].name, session.get_outputs()[0].name
        step = fixed_batch or len(x)
        return np.concatenate([session.run([out], {name: x[i:i + step]})[0].reshape(len(x[i:i + step]), -1)
                               for i in range(0, len(x), step)])

    cpu = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    v_cpu, t_cpu = _timed(lambda: run(cpu))
    doc["cpu"] = {"batch": len(x), "seconds": round(t_cpu, 4), "faces_per_s": round(len(x) / t_cpu, 1)}
    if "CUDAExecutionProvider" not in providers:
        doc["gpu"] = None
        doc["missing"] = ("onnxruntime has no CUDAExecutionProvider: install onnxruntime-gpu (facevault[gpu]) on a "
                          "machine with an NVIDIA GPU and CUDA 12 / cuDNN 9")
        return doc
    gpu = ort.InferenceSession(path, sess_options=opts, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    if gpu.get_providers()[0] != "CUDAExecutionProvider":
        doc["gpu"] = None
        doc["missing"] = f"CUDAExecutionProvider offered but the session fell back to {gpu.get_providers()[0]}"
        return doc
    v_gpu, t_gpu = _timed(lambda: run(gpu))
    a = v_cpu / np.linalg.norm(v_cpu, axis=1, keepdims=True)
    b = v_gpu / np.linalg.norm(v_gpu, axis=1, keepdims=True)
    doc["gpu"] = {"batch": len(x), "seconds": round(t_gpu, 4), "faces_per_s": round(len(x) / t_gpu, 1),
                  "speedup": round(t_cpu / t_gpu, 2), "max_abs_cos_minus_1": float(np.max(np.abs((a * b).sum(1) - 1)))}
    return doc


def check_faiss(n: int = 200_000, dim: int = 512, nq: int = 256) -> dict:
    try:
        import faiss
    except ImportError:
        return {"available": False, "missing": "faiss is not installed (faiss-cpu or faiss-gpu-cu12)"}
    gpus = int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    doc: dict = {"available": True, "version": getattr(faiss, "__version__", "?"), "gpus": gpus}
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((n, dim)).astype(np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    xq = xb[:nq]
    cpu = faiss.IndexFlatIP(dim)
    cpu.add(xb)
    (d_cpu, i_cpu), t_cpu = _timed(lambda: cpu.search(xq, 10), repeat=1)
    doc["cpu"] = {"vectors": n, "dim": dim, "queries": nq, "seconds": round(t_cpu, 4)}
    if gpus == 0:
        doc["gpu"] = None
        doc["missing"] = "faiss sees no GPU (faiss-cpu build, or no CUDA device): install faiss-gpu-cu12"
        return doc
    res = faiss.StandardGpuResources()
    gpu = faiss.index_cpu_to_gpu(res, 0, cpu)
    (d_gpu, i_gpu), t_gpu = _timed(lambda: gpu.search(xq, 10), repeat=3)
    doc["gpu"] = {"seconds": round(t_gpu, 4), "speedup": round(t_cpu / t_gpu, 2),
                  "same_top10": float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i_cpu, i_gpu)])),
                  "max_abs_score_diff": float(np.max(np.abs(d_cpu - d_gpu)))}
    return doc


def check_dlib() -> dict:
    try:
        import dlib
    except ImportError:
        return {"available": False, "missing": "dlib is not installed"}
    cuda = bool(getattr(dlib, "DLIB_USE_CUDA", False))
    doc = {"available": True, "version": dlib.__version__, "cuda": cuda}
    if not cuda:
        doc["missing"] = "this dlib was built without CUDA (the dlib model and MMOD CNN detector run on the CPU)"
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="dlib", help="ONNX recognizer to compare: dlib (the default model's ResNet, "
                    "converted from dlib's weights; no weights folder needed) or an ONNX zoo name such as arcface-mbf")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--faiss-n", type=int, default=200_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    doc = {"onnxruntime": check_onnx(a.model, a.batch), "faiss": check_faiss(a.faiss_n), "dlib": check_dlib()}
    if a.json:
        print(json.dumps(doc, indent=2))
        return 0
    for engine, d in doc.items():
        print(f"{engine}: " + ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("missing",)))
        if d.get("missing"):
            print(f"  missing: {d['missing']}")
    if not any((d.get("gpu") or d.get("cuda")) for d in doc.values()):
        print("no GPU path available here: every engine runs on the CPU (exit 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
