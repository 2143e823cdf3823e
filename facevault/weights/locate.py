"""Where weights files are found, and their checksums.

Search order: an explicit directory, $FACEVAULT_WEIGHTS, the repository's `weights/`,
$DEEPFACE_HOME/.deepface/weights. The dlib models come from the `face-recognition-models` package.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from facevault.core.errors import WeightsError

REPO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"

DLIB_FILES = {
    "dlib-resnet": "dlib_face_recognition_resnet_model_v1.dat",
    "dlib-sp5": "shape_predictor_5_face_landmarks.dat",
    "dlib-sp68": "shape_predictor_68_face_landmarks.dat",
    "dlib-mmod": "mmod_human_face_detector.dat",
}


def search_dirs(explicit: str | os.PathLike | None = None) -> list[Path]:
    dirs: list[Path] = []
    if explicit:
        dirs.append(Path(explicit))
    if os.environ.get("FACEVAULT_WEIGHTS"):
        dirs.append(Path(os.environ["FACEVAULT_WEIGHTS"]))
    dirs.append(REPO_WEIGHTS)
    home = os.environ.get("DEEPFACE_HOME") or str(Path.home())
    dirs.append(Path(home) / ".deepface" / "weights")
    return dirs


def _package_models_dir() -> Path | None:
    spec = find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def find(filename: str, explicit: str | os.PathLike | None = None) -> Path:
    """Return the first existing copy of `filename`; raise WeightsError naming where to put it."""
    candidates = [d / filename for d in search_dirs(explicit)]
    candidates += [d / sub / filename for d in search_dirs(explicit) for sub in ("dlib", "adaface", "onnx")]
    pkg = _package_models_dir()
    if pkg is not None:
        candidates.append(pkg / filename)
    for path in candidates:
        if path.is_file():
            return path
    raise WeightsError(
        f"weights file {filename} not found; place it at {REPO_WEIGHTS / filename} or in $FACEVAULT_WEIGHTS"
        + ("" if pkg else " (or `pip install face-recognition-models` for the dlib models)")
    )


def dlib_file(key: str, explicit: str | os.PathLike | None = None) -> Path:
    return find(DLIB_FILES[key], explicit)


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime)


def verify(path: Path, expected: str | None) -> str:
    """sha256 of `path`, refusing a mismatch with `expected` (a full or leading hex digest)."""
    digest = sha256_file(path)
    if expected and not digest.startswith(expected.lower()):
        raise WeightsError(f"checksum mismatch for {path}: sha256 {digest[:16]}..., expected {expected[:16]}...")
    return digest
