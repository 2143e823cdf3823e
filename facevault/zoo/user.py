"""User-registered ONNX recognizers (`facevault weights add`), read from `user-models.json`.

The file lives in the weights folder ($FACEVAULT_WEIGHTS, else the per-user data folder; never site-packages).
It is JSON, one record per model: the preprocessing spec copied from an existing ONNX entry with the user's
file, its sha256 and the probed output dimension. The registry calls `entries()` lazily, so nothing is read at import.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from facevault.core import paths
from facevault.zoo.registry import Entry

log = logging.getLogger(__name__)

FILENAME = "user-models.json"
TARGET = "facevault.faces.embed.onnx:OnnxRecognizer"
VERSION = 1


def folder() -> Path:
    """The weights folder user models are registered in: $FACEVAULT_WEIGHTS, else the per-user data folder."""
    return paths.writable_weights_dir()


def path(weights_dir: str | os.PathLike | None = None) -> Path:
    return Path(weights_dir or folder()) / FILENAME


def load(weights_dir: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Records by model name; {} when the file is missing, and {} with a warning when it cannot be read."""
    p = path(weights_dir)
    if not p.is_file():
        return {}
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        models = doc["models"]
        if not isinstance(models, dict):
            raise TypeError("'models' is not an object")
        return {str(k): v for k, v in models.items() if isinstance(v, dict)}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring %s: %s", p, exc)
        return {}


def save(name: str, record: dict[str, Any], weights_dir: str | os.PathLike | None = None) -> Path:
    """Add or replace one record, writing the file atomically."""
    p = path(weights_dir)
    p.parent.mkdir(parents=True, exist_ok=True)
    models = load(weights_dir)
    models[name] = record
    text = json.dumps({"version": VERSION, "models": models}, indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".user-models.", suffix=".json", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p


def entry(name: str, record: dict[str, Any]) -> Entry:
    spec = dict(record["spec"])
    aligner = spec.get("aligner")
    return Entry(name, "recognizer", "onnx", TARGET, kwargs={"spec": spec}, dim=int(record["dim"]),
                 aligner=aligner, aligners=(aligner,) if aligner else (), input=str(record.get("input", "")),
                 weights=(str(spec["file"]),), description=f"user model like {record.get('like', '?')}")


def entries() -> list[Entry]:
    """Registry entries for every readable record (a broken record is skipped with a warning)."""
    out = []
    for name, record in load().items():
        try:
            out.append(entry(name, record))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("ignoring user model %r in %s: %s", name, path(), exc)
    return out
