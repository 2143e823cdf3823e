"""Where weights files are found, and their checksums: the one resolver every weights path goes through.

Search order: an explicit directory (`--weights DIR`), $FACEVAULT_WEIGHTS, the per-user data folder
(`user_dir()`, where `weights fetch` and `weights add` write), the repository's `weights/` drop folder when
running from a checkout (an installed wheel has none), $DEEPFACE_HOME/.deepface/weights, and the
`face-recognition-models` package for the dlib files. Each folder is also searched one level down in
`dlib/`, `adaface/` and `onnx/`.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from facevault.core import paths
from facevault.core.errors import WeightsError

SUBDIRS = ("dlib", "adaface", "onnx")

DLIB_FILES = {
    "dlib-resnet": "dlib_face_recognition_resnet_model_v1.dat",
    "dlib-sp5": "shape_predictor_5_face_landmarks.dat",
    "dlib-sp68": "shape_predictor_68_face_landmarks.dat",
    "dlib-mmod": "mmod_human_face_detector.dat",
}


def user_dir() -> Path:
    """The per-user data folder for weights (e.g. ~/.local/share/facevault/weights; honours XDG_DATA_HOME)."""
    return paths.user_weights_dir()


def default_dir() -> Path:
    """Where facevault writes weights (`fetch`, `add`, `user-models.json`): $FACEVAULT_WEIGHTS, else `user_dir()`."""
    return paths.writable_weights_dir()


@lru_cache(maxsize=1)
def repo_dir() -> Path | None:
    """The checkout's `weights/` drop folder, or None when facevault runs from an installed package.

    A checkout is recognised by its own pyproject.toml naming the project beside the `facevault/` package this
    module belongs to, outside any site-packages folder.
    """
    here = Path(__file__).resolve()
    root = here.parents[2]
    if {"site-packages", "dist-packages"} & set(here.parts):
        return None
    if here != root / "facevault" / "weights" / "locate.py":
        return None
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root / "weights" if 'name = "facevault"' in text else None


def deepface_dir() -> Path:
    """Where deepface keeps (and downloads) its weights: $DEEPFACE_HOME/.deepface/weights (deepface's rule)."""
    return Path(os.environ.get("DEEPFACE_HOME") or Path.home()).expanduser() / ".deepface" / "weights"


def search_dirs(explicit: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched, in order (the `face-recognition-models` package comes after them)."""
    dirs: list[Path] = []
    if explicit:
        dirs.append(Path(explicit).expanduser())
    if os.environ.get("FACEVAULT_WEIGHTS"):
        dirs.append(Path(os.environ["FACEVAULT_WEIGHTS"]).expanduser())
    dirs.append(user_dir())
    repo = repo_dir()
    if repo is not None:
        dirs.append(repo)
    dirs.append(deepface_dir())
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def _package_models_dir() -> Path | None:
    spec = find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def candidates(filename: str, explicit: str | os.PathLike | None = None) -> list[Path]:
    """Every place `find` looks for `filename`, in order."""
    if os.path.isabs(filename):
        return [Path(filename)]
    dirs = search_dirs(explicit)
    out = [p for d in dirs for p in (d / filename, *(d / sub / filename for sub in SUBDIRS))]
    pkg = _package_models_dir()
    if pkg is not None:
        out.append(pkg / filename)
    return out


def find(filename: str, explicit: str | os.PathLike | None = None) -> Path:
    """Return the first existing copy of `filename`; raise WeightsError naming where to put it."""
    for path in candidates(filename, explicit):
        if path.is_file():
            return path
    hint = "" if filename not in DLIB_FILES.values() or _package_models_dir() else \
        " (or `pip install face-recognition-models` for the dlib models)"
    place = Path(explicit).expanduser() if explicit else default_dir()
    raise WeightsError(f"weights file {filename} not found; place it at {place / filename}{hint}")


def dlib_file(key: str, explicit: str | os.PathLike | None = None) -> Path:
    return find(DLIB_FILES[key], explicit)


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file, streamed, cached by (path, size, mtime)."""
    st = os.stat(path)
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


def verify(path: Path, expected: str | None) -> str:
    """sha256 of `path`, refusing a mismatch with `expected` (a full or leading hex digest)."""
    digest = sha256_file(path)
    if expected and not digest.startswith(expected.lower()):
        raise WeightsError(f"checksum mismatch for {path}: sha256 {digest[:16]}..., expected {expected[:16]}...")
    return digest
