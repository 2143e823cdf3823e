"""Optional engines imported lazily (faiss, onnxruntime, torch, onnx): a missing one is one line naming the extra.

faiss and onnxruntime come from the alternative `cpu` / `gpu` extras, torch and onnx from `export`; the base
install has none of them, so every lazy import of them goes through `require()`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from facevault.core.errors import FacevaultError

CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
HINTS = {
    "faiss": "pip install 'facevault[cpu]' (faiss-cpu), or 'facevault[gpu]' (faiss-gpu-cu12) on a CUDA 12 machine",
    "onnxruntime": "pip install 'facevault[cpu]' (onnxruntime), or 'facevault[gpu]' (onnxruntime-gpu) on a CUDA 12 "
                   "machine",
    "torch": f"{CPU_TORCH} && pip install 'facevault[export]'",
    "onnx": "pip install 'facevault[export]'",
    "ray": "pip install 'facevault[ray]'",
    "psycopg": "pip install 'facevault[postgres]'",
}


class MissingDependency(FacevaultError):
    """An optional engine is not installed; the message says which extra installs it."""

    kind = "missing-dependency"


def require(module: str, purpose: str = "") -> ModuleType:
    """Import `module` or raise MissingDependency with the install command (a broken inner import is not masked)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        root = module.split(".")[0]
        if exc.name != root and not (exc.name or "").startswith(root + "."):
            raise
        why = f" (needed {purpose})" if purpose else ""
        hint = HINTS.get(root, f"pip install {root}")
        raise MissingDependency(f"{root} is not installed{why}: {hint}") from None
