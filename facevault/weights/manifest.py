"""The weights manifest (`facevault/weights/manifest.toml`, package data): every known weights file, where to
get it, how to check it.

`status()` says which files are present and whether their sha256 matches; `fetch()` downloads one, verifies
it and only then moves it into place; `add()` registers a user's own ONNX recognizer with the preprocessing of
an existing one. Files named by registry entries but missing from the manifest are listed too, so a new
model is never invisible here.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from facevault.core.errors import UnknownName, WeightsError
from facevault.weights import locate as weights

log = logging.getLogger(__name__)

MANIFEST = ("facevault.weights", "manifest.toml")  # package data, read with importlib.resources
MANIFEST_PATH = "facevault/weights/manifest.toml"  # as messages name it
HASH_LIMIT = 200 * 1024 * 1024  # larger files are hashed only when asked (`verify=True`)
_KEYS = {"name", "sha256", "size", "url", "mirrors", "archive", "member", "home", "licence", "preprocessing",
         "used_by", "notes"}
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class WeightFile:
    """One manifest entry (see the header of weights/manifest.toml for the fields)."""

    name: str
    sha256: str = ""
    size: int = 0
    url: str = ""
    mirrors: tuple[str, ...] = ()
    archive: str = ""
    member: str = ""
    home: str = "facevault"
    licence: str = ""
    preprocessing: str = ""
    used_by: tuple[str, ...] = ()
    notes: str = ""


@dataclass
class WeightStatus:
    """One row of `facevault weights`: a known file, the copy found (if any) and its checksum verdict."""

    name: str
    path: Path | None  # the copy found, or None
    target: Path  # where `fetch` would place it
    checksum: str | None  # ok | mismatch | unknown (no digest known) | unchecked (large) | None (absent)
    size: int | None
    licence: str
    used_by: tuple[str, ...]
    url: str
    sha256: str = ""  # the expected digest ("" when unknown)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(path=str(self.path) if self.path else None, target=str(self.target), used_by=list(self.used_by),
                 present=self.path is not None)
        return d


@dataclass
class Fetched:
    """What `fetch` did: the file's place, its sha256, and whether it was downloaded now."""

    name: str
    path: Path
    sha256: str
    downloaded: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256, "downloaded": self.downloaded,
                "notes": self.notes}


# ---------------------------------------------------------------- the manifest


@lru_cache(maxsize=1)
def entries() -> dict[str, WeightFile]:
    """The manifest's entries by name, read once. A missing manifest gives {} (with a warning)."""
    from importlib import resources

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    resource = resources.files(MANIFEST[0]).joinpath(MANIFEST[1])
    if not resource.is_file():
        log.warning("weights manifest %s is missing from the installed package", MANIFEST_PATH)
        return {}
    try:
        doc = tomllib.loads(resource.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read the weights manifest {MANIFEST_PATH}: {exc}") from None
    out: dict[str, WeightFile] = {}
    for i, raw in enumerate(doc.get("file", [])):
        wf = _parse_entry(raw, i)
        if wf.name in out:
            raise WeightsError(f"weights manifest {MANIFEST_PATH}: {wf.name} is listed twice")
        out[wf.name] = wf
    return out


def _parse_entry(raw: dict[str, Any], i: int) -> WeightFile:
    where = f"weights manifest {MANIFEST_PATH}, entry {i + 1}"
    if not isinstance(raw, dict) or not raw.get("name"):
        raise WeightsError(f"{where}: no name")
    unknown = set(raw) - _KEYS
    if unknown:
        raise WeightsError(f"{where} ({raw['name']}): unknown keys {sorted(unknown)}")
    wf = WeightFile(**{**raw, "mirrors": tuple(raw.get("mirrors", ())), "used_by": tuple(raw.get("used_by", ()))})
    problems = []
    if wf.sha256 and not _HEX64.fullmatch(wf.sha256):
        problems.append("sha256 must be 64 lowercase hex digits or \"\"")
    if not isinstance(wf.size, int) or wf.size < 0:
        problems.append("size must be a byte count (0 when unknown)")
    if wf.archive not in ("", "bz2", "zip") or (wf.archive == "zip") != bool(wf.member):
        problems.append("archive must be \"\", \"bz2\" or \"zip\" (zip with a member)")
    if wf.home not in ("facevault", "deepface"):
        problems.append("home must be \"facevault\" or \"deepface\"")
    if problems:
        raise WeightsError(f"{where} ({wf.name}): {'; '.join(problems)}")
    return wf


def _registry_users() -> dict[str, list[tuple[str, Any]]]:
    """Weights file name -> [(entry name, entry)] over every registry entry."""
    from facevault.zoo import registry

    users: dict[str, list[tuple[str, Any]]] = {}
    for e in list(registry.models().values()) + list(registry.detectors().values()):
        for f in e.weights:
            users.setdefault(f, []).append((e.name, e))
    return users


def known() -> dict[str, WeightFile]:
    """The manifest plus every file a registry entry names that the manifest lacks (built from its spec)."""
    out = dict(entries())
    for fname, users in _registry_users().items():
        names = tuple(n for n, _ in users)
        if fname in out:
            wf = out[fname]
            extra = tuple(n for n in names if n not in wf.used_by)
            if extra:
                out[fname] = WeightFile(**{**asdict(wf), "used_by": wf.used_by + extra})
            continue
        spec = next((e.kwargs["spec"] for _, e in users if isinstance(e.kwargs.get("spec"), dict)), {})
        out[fname] = WeightFile(
            name=fname, sha256=str(spec.get("sha256") or ""), url=str(spec.get("url") or ""),
            licence=str(spec.get("licence") or ""), used_by=names, notes=str(spec.get("notes") or ""),
            home="deepface" if all(e.source == "deepface" for _, e in users) else "facevault")
    return out


def lookup(name: str) -> WeightFile:
    """The entry for a file name (or for a unique base name, e.g. `webface_r50.onnx`)."""
    table = known()
    if name in table:
        return table[name]
    by_base = [wf for wf in table.values() if Path(wf.name).name == name]
    if len(by_base) == 1:
        return by_base[0]
    raise UnknownName("weights file", name, [n for n in table if not os.path.isabs(n)])


# ---------------------------------------------------------------- where files are


deepface_dir = weights.deepface_dir
default_dir = weights.default_dir


def target_path(wf: WeightFile, dest_dir: str | os.PathLike | None = None) -> Path:
    """Where `fetch` places the file: `dest_dir`, else deepface's folder for deepface's files, else the
    weights folder ($FACEVAULT_WEIGHTS, or the per-user data folder)."""
    if os.path.isabs(wf.name):
        return Path(wf.name)
    if dest_dir:
        return Path(dest_dir).expanduser() / wf.name
    return (deepface_dir() if wf.home == "deepface" else default_dir()) / wf.name


def locate(name: str, weights_dir: str | os.PathLike | None = None) -> Path | None:
    """The first copy facevault would use, or None."""
    try:
        return weights.find(name, weights_dir)
    except WeightsError:
        return None


def _checksum(path: Path, wf: WeightFile, verify: bool) -> str:
    size = path.stat().st_size
    if not wf.sha256:
        return "unknown"
    if wf.size and size != wf.size:
        return "mismatch"
    if size > HASH_LIMIT and not verify:
        return "unchecked"
    return "ok" if weights.sha256_file(path) == wf.sha256 else "mismatch"


def status(weights_dir: str | os.PathLike | None = None, verify: bool = False) -> list[WeightStatus]:
    """Every known weights file: where it is (or would be placed) and whether its checksum matches.

    Files over 200 MB are hashed only with `verify=True`.
    """
    rows = []
    for wf in sorted(known().values(), key=lambda w: (w.home, w.name.lower())):
        path = locate(wf.name, weights_dir)
        rows.append(WeightStatus(
            name=wf.name, path=path, target=target_path(wf, weights_dir if wf.home == "facevault" else None),
            checksum=_checksum(path, wf, verify) if path else None,
            size=path.stat().st_size if path else (wf.size or None), licence=wf.licence, used_by=wf.used_by,
            url=wf.url, sha256=wf.sha256))
    return rows


# ---------------------------------------------------------------- fetch


def fetch(name: str, dest_dir: str | os.PathLike | None = None, force: bool = False,
          progress: Callable[[int, int | None], None] | None = None) -> Fetched:
    """Download a weights file, verify its sha256 and move it into place (see `facevault.weights.fetch`).

    A copy already present (and matching) is kept unless `force`. The URL, then each mirror, is tried in order;
    nothing is left behind on failure, and a checksum mismatch is one error naming both digests.
    """
    from facevault.weights.fetch import ChecksumMismatch, DownloadFailed, download

    wf = lookup(name)
    target = target_path(wf, dest_dir)
    if not force:
        existing = target if target.is_file() else (None if dest_dir else locate(wf.name))
        if existing is not None:
            got = weights.sha256_file(existing)
            if wf.sha256 and got != wf.sha256:
                raise WeightsError(f"{existing} is present but fails its checksum (expected sha256 {wf.sha256}, "
                                   f"got {got}); run `facevault weights fetch {wf.name} --force` to replace it")
            return Fetched(wf.name, existing, got, downloaded=False)
    if not wf.url:
        raise WeightsError(f"no download URL is known for {wf.name}; place the file at {target} by hand")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"cannot write to {target.parent}: {exc.strerror or exc}; choose another place with "
                           "--dest") from None
    mismatch: str | None = None
    first_failure: str | None = None
    for url in (wf.url, *wf.mirrors):
        try:
            digest = download(url, target, wf.sha256, wf.archive, wf.member, progress)
        except ChecksumMismatch as exc:
            mismatch = mismatch or str(exc)
            continue
        except DownloadFailed as exc:
            first_failure = first_failure or f"could not download {wf.name} from {url}: {exc}"
            continue
        notes = []
        if not wf.sha256:
            notes.append(f"no sha256 is known for {wf.name}: the downloaded file has sha256 {digest}")
            log.warning(notes[-1])
        return Fetched(wf.name, target, digest, downloaded=True, notes=notes)
    if mismatch is not None:
        raise WeightsError(mismatch)
    raise WeightsError(f"{first_failure}; place the file at {target} by hand")


# ---------------------------------------------------------------- what each registry entry needs


def availability(entry: Any, weights_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """For each weights file of a registry entry: the copy found, or how to get it."""
    rows = []
    for fname in entry.weights:
        if entry.source == "deepface":
            p = deepface_dir() / fname
            path = p if p.is_file() else None
            how = "downloaded by deepface on first use"
        else:
            path = locate(fname, weights_dir)
            wf = known().get(fname)
            if fname in weights.DLIB_FILES.values():
                how = "package face-recognition-models"
            elif wf is not None and wf.url:
                how = f"fetch: facevault weights fetch {fname}"
            else:
                how = f"by hand: {target_path(wf or WeightFile(fname), weights_dir)}"
        rows.append({"file": fname, "path": str(path) if path else None, "present": path is not None,
                     "how": str(path) if path else how})
    return rows
