"""Walk a folder-per-identity dataset: DATASET/<identity>/**/<image>.

Images directly under the root have no identity: they are ingested and searchable, but left out of
identity-based protocols. Hidden files and folders are ignored.

A dataset folder is hostile input: only regular files are read (FIFOs, sockets, devices and folders named like
images are reported and skipped, never opened); a file over the size cap is reported before it is read; names
that are not valid UTF-8 are stored percent-encoded (lossless); symlinks are followed once per real target, a
link loop or a link to an ancestor is reported, and a file or folder reachable under two identities is reported
as a conflict and taken only under its real name.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from facevault.core.errors import EmptyDataset, FacevaultError, ImageError
from facevault.faces.imageio import IMAGE_SUFFIXES, file_kind, read_bytes, sha256_bytes

# kinds of skipped directory entries (counted in the ingest summary)
NOT_REGULAR = "not-a-regular-file"
TOO_LARGE = "too-large"
NOT_IMAGE_FILE = "not-an-image-file"
SYMLINK_LOOP = "symlink-loop"
SYMLINK_CONFLICT = "symlink-conflict"
UNREADABLE = "unreadable"
NAME_CONFLICT = "name-conflict"
NAME_NOT_UTF8 = "name-not-utf8"  # not a skip: the file is ingested under its percent-encoded name


@dataclass(frozen=True, slots=True)
class DatasetFile:
    """One image file (slots and plain strings: a plan holds one per file, so a big dataset costs ~0.3 kB a file)."""

    rel: str  # path relative to the root, with forward slashes (non-UTF-8 names percent-encoded)
    identity: str | None  # one shared string per identity
    abspath: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A directory entry that is not ingested, and why."""

    rel: str
    kind: str
    message: str


@dataclass
class Walked:
    files: list[DatasetFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    renamed: list[Skipped] = field(default_factory=list)  # ingested under a stored form of a non-UTF-8 name


@dataclass(frozen=True, slots=True)
class HashedFile:
    file: DatasetFile
    sha256: str
    size: int
    error: str | None = None  # unreadable file (permissions, vanished, too large, not regular)
    kind: str | None = None


def stored_name(name: str) -> str:
    """`name` as stored in the catalog: itself when it is valid UTF-8, else its bytes percent-encoded
    (`urllib.parse.unquote_to_bytes` gives the bytes back)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return quote(os.fsencode(name), safe="/!$&'()+,;=@[]^`{}~ ")


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _rel(parts: tuple[str, ...]) -> str:
    return "/".join(stored_name(p) for p in parts)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def walk_all(root: Path, max_bytes: int | None = None) -> Walked:
    """Every image file under `root`, and every entry skipped with its reason; never opens a file."""
    root = Path(root)
    if not root.is_dir():
        raise FacevaultError(f"dataset folder {root} does not exist or is not a folder")
    out = Walked()
    claimed: dict[tuple[int, int], str] = {}  # real file -> rel that took it
    links: list[tuple[tuple[str, ...], str, tuple[int, int], int]] = []  # symlinked files, resolved last
    identities: dict[str, str] = {}  # one stored-name string per identity, shared by its files

    def identity_of(ep: tuple[str, ...]) -> str | None:
        if len(ep) < 2:
            return None
        got = identities.get(ep[0])
        if got is None:
            got = identities[ep[0]] = stored_name(ep[0])
        return got

    real_root = os.path.realpath(root)
    root_st = os.stat(root)
    # (dirpath, parts, ancestors' real (dev, ino))
    stack: list[tuple[Path, tuple[str, ...], tuple[tuple[int, int], ...]]] = [
        (root, (), ((root_st.st_dev, root_st.st_ino),))]
    seen_dirs = {(root_st.st_dev, root_st.st_ino)}
    while stack:
        dirpath, parts, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(dirpath), key=lambda e: e.name)
        except OSError as exc:
            out.skipped.append(Skipped(_rel(parts) or ".", UNREADABLE, f"cannot list folder: {exc.strerror or exc}"))
            continue
        subdirs = []
        for e in entries:
            if e.name.startswith("."):
                continue
            ep = parts + (e.name,)
            rel = _rel(ep)
            try:
                is_link = e.is_symlink()
                st = os.stat(e.path)  # follows links; never blocks, whatever the file is
            except OSError as exc:
                kind = SYMLINK_LOOP if getattr(exc, "errno", None) == 40 else UNREADABLE  # ELOOP
                out.skipped.append(Skipped(rel, kind, f"cannot stat: {exc.strerror or exc}"))
                continue
            key = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                if _suffix(e.name) in IMAGE_SUFFIXES:
                    out.skipped.append(Skipped(rel, NOT_REGULAR, "a folder named like an image"))
                    continue
                if key in ancestors:
                    out.skipped.append(Skipped(rel, SYMLINK_LOOP, "links back to a folder that contains it"))
                    continue
                if is_link:
                    real = os.path.realpath(e.path)
                    if real == real_root or real.startswith(real_root + os.sep):
                        target = os.path.relpath(real, real_root)
                        if not any(p.startswith(".") for p in Path(target).parts):
                            out.skipped.append(Skipped(rel, SYMLINK_CONFLICT, f"same folder as {stored_name(target)}; "
                                                       "taken there only"))
                            continue
                if key in seen_dirs:
                    out.skipped.append(Skipped(rel, SYMLINK_CONFLICT, "a folder already walked under another name"))
                    continue
                seen_dirs.add(key)
                subdirs.append((Path(e.path), ep, ancestors + (key,)))
                continue
            if _suffix(e.name) not in IMAGE_SUFFIXES:
                if parts:  # inside an identity folder (loose files beside them are ignored)
                    out.skipped.append(Skipped(rel, NOT_IMAGE_FILE, f"suffix {_suffix(e.name) or '(none)'} is not "
                                               "an image format"))
                continue
            if not stat.S_ISREG(st.st_mode):
                what = file_kind(st.st_mode)
                out.skipped.append(Skipped(rel, NOT_REGULAR, f"{what}{' (through a symlink)' if is_link else ''}; "
                                           "not read"))
                continue
            if max_bytes is not None and st.st_size > max_bytes:
                out.skipped.append(Skipped(rel, TOO_LARGE, f"{_mb(st.st_size)} is over the {_mb(max_bytes)} cap "
                                           "(FACEVAULT_MAX_FILE_MB)"))
                continue
            if is_link:
                links.append((ep, e.path, key, st.st_size))
                continue
            claimed.setdefault(key, rel)
            out.files.append(DatasetFile(rel, identity_of(ep), e.path))
        stack.extend(reversed(subdirs))
    for ep, path, key, _size in links:  # a real file is taken under its real name first
        rel = _rel(ep)
        if key in claimed:
            other = claimed[key]
            same = other.split("/")[0] == rel.split("/")[0] and "/" in other and "/" in rel
            out.skipped.append(Skipped(rel, SYMLINK_CONFLICT, f"the same file as {other}"
                                       + ("" if same else " under another identity") + "; taken once"))
            continue
        claimed[key] = rel
        out.files.append(DatasetFile(rel, identity_of(ep), path))
    out.files.sort(key=lambda f: f.rel)
    unique: list[DatasetFile] = []
    for f in out.files:  # a real name that reads like the percent-encoded form of another
        if unique and unique[-1].rel == f.rel:
            out.skipped.append(Skipped(f.rel, NAME_CONFLICT, "two files store under this name (one is not "
                                       "UTF-8); the first is taken"))
            continue
        unique.append(f)
    out.files = unique
    out.renamed = [Skipped(f.rel, NAME_NOT_UTF8, "the name is not valid UTF-8: stored percent-encoded")
                   for f in out.files if f.rel != os.path.relpath(f.abspath, root).replace(os.sep, "/")]
    return out


def walk(root: Path, max_bytes: int | None = None) -> list[DatasetFile]:
    """The image files under `root` (EmptyDataset when there are none)."""
    found = walk_all(root, max_bytes)
    if not found.files:
        raise EmptyDataset(no_images_message(root))
    return found.files


def no_images_message(root: Path) -> str:
    return (f"no images ({' '.join(sorted(IMAGE_SUFFIXES))}) under {root}; expected DATASET/<identity>/<image>")


HASH_WINDOW = 256  # files in flight while hashing


def _hash(f: DatasetFile, max_bytes: int | None = None) -> HashedFile:
    try:
        data = read_bytes(f.abspath, max_bytes, allow_empty=True)
    except ImageError as exc:
        return HashedFile(f, "unreadable:" + f.rel, 0, str(exc), exc.kind)
    except OSError as exc:
        return HashedFile(f, "unreadable:" + f.rel, 0, f"cannot read file: {exc.strerror or exc}", UNREADABLE)
    return HashedFile(f, sha256_bytes(data), len(data))


def hash_all(files: list[DatasetFile], threads: int = 4, max_bytes: int | None = None) -> list[HashedFile]:
    """Content hashes; hashlib releases the GIL, so threads overlap reading and hashing. Files are submitted a
    window at a time (a future per file for the whole dataset would cost ~1.5 kB a file)."""
    out: list[HashedFile] = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for start in range(0, len(files), HASH_WINDOW):
            out.extend(pool.map(lambda f: _hash(f, max_bytes), files[start: start + HASH_WINDOW]))
    return out
