"""Walk a folder-per-identity dataset: DATASET/<identity>/**/<image>.

Images directly under the root have no identity: they are ingested and searchable, but left out of
identity-based protocols. Hidden files and folders are ignored.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from facevault.core.errors import EmptyDataset, FacevaultError
from facevault.faces.imageio import IMAGE_SUFFIXES, sha256_bytes


@dataclass(frozen=True)
class DatasetFile:
    rel: str  # path relative to the root, with forward slashes
    identity: str | None
    abspath: Path


@dataclass(frozen=True)
class HashedFile:
    file: DatasetFile
    sha256: str
    size: int
    error: str | None = None  # unreadable file (permissions, vanished)


def walk(root: Path) -> list[DatasetFile]:
    root = Path(root)
    if not root.is_dir():
        raise FacevaultError(f"dataset folder {root} does not exist or is not a folder")
    out: list[DatasetFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(root)
        identity = rel_dir.parts[0] if rel_dir.parts else None
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            rel = (rel_dir / name).as_posix()
            out.append(DatasetFile(rel, identity, Path(dirpath) / name))
    if not out:
        raise EmptyDataset(f"no images (.jpg .jpeg .png .webp .bmp) under {root}; expected DATASET/<identity>/<image>")
    return out


def _hash(f: DatasetFile) -> HashedFile:
    try:
        data = f.abspath.read_bytes()
    except OSError as exc:
        return HashedFile(f, "unreadable:" + f.rel, 0, f"cannot read file: {exc.strerror or exc}")
    return HashedFile(f, sha256_bytes(data), len(data))


def hash_all(files: list[DatasetFile], threads: int = 4) -> list[HashedFile]:
    """Content hashes; hashlib releases the GIL, so threads overlap reading and hashing."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(_hash, files, chunksize=64))
