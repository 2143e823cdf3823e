"""The weights manifest (`weights/manifest.toml`): every known weights file, where to get it, how to check it.

`status()` says which files are present and whether their sha256 matches; `fetch()` downloads one, verifies
it and only then moves it into place; `add()` registers a user's own ONNX recognizer with the preprocessing of
an existing one. Files named by registry entries but missing from the manifest are listed too, so a new
model is never invisible here.
"""

from __future__ import annotations

import bz2
import hashlib
import http.client
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from facevault.weights import locate as weights
from facevault.core.errors import UnknownName, WeightsError

log = logging.getLogger(__name__)

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.toml"
HASH_LIMIT = 200 * 1024 * 1024  # larger files are hashed only when asked (`verify=True`)
TIMEOUT_S = 60
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
    if not MANIFEST_PATH.is_file():
        log.warning("weights manifest not found at %s", MANIFEST_PATH)
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        doc = tomllib.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
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


def deepface_dir() -> Path:
    """Where deepface keeps (and downloads) its weights."""
    return Path(os.environ.get("DEEPFACE_HOME") or Path.home()).expanduser() / ".deepface" / "weights"


def default_dir() -> Path:
    env = os.environ.get("FACEVAULT_WEIGHTS")
    return Path(env).expanduser() if env else weights.REPO_WEIGHTS


def target_path(wf: WeightFile, dest_dir: str | os.PathLike | None = None) -> Path:
    """Where `fetch` places the file: `dest_dir`, else deepface's folder for deepface's files, else the
    weights folder ($FACEVAULT_WEIGHTS or the repository's `weights/`)."""
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
    """Download a weights file, verify its sha256 and move it into place.

    A copy already present (and matching) is kept unless `force`. Nothing is left behind on failure: the
    download goes to a temporary file beside the target and replaces it only once verified.
    """
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
        raise WeightsError(f"cannot write to {target.parent}: {_reason(exc)}; choose another place with --dest") \
            from None
    mismatch: WeightsError | None = None
    first_failure: str | None = None
    for url in (wf.url, *wf.mirrors):
        try:
            return _download(wf, url, target, progress)
        except _Mismatch as exc:
            mismatch = mismatch or WeightsError(str(exc))
        except _Failed as exc:
            first_failure = first_failure or f"could not download {wf.name} from {url}: {exc}"
    if mismatch is not None:
        raise mismatch
    raise WeightsError(f"{first_failure}; place the file at {target} by hand")


class _Failed(Exception):
    """The download or unpacking failed (try the next mirror)."""


class _Mismatch(Exception):
    """The downloaded file is not the one the manifest names."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        text = f"HTTP {exc.code} {exc.reason}"
    elif isinstance(exc, urllib.error.URLError):
        text = str(exc.reason)
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _download(wf: WeightFile, url: str, target: Path, progress: Callable | None) -> Fetched:
    temps: list[Path] = []

    def temp(tag: str) -> Path:
        fd, p = tempfile.mkstemp(prefix=f".{Path(wf.name).name}.", suffix=f".{tag}.part", dir=target.parent)
        os.close(fd)
        temps.append(Path(p))
        return temps[-1]

    try:
        raw = temp("download")
        try:
            req = urllib.request.Request(url, headers={"User-Agent": "facevault"})
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp, open(raw, "wb") as out:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                done = 0
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            raise _Failed(_reason(exc)) from None
        final = _unpack(wf, raw, temp) if wf.archive else raw
        digest = _sha256(final)
        if wf.sha256 and digest != wf.sha256:
            raise _Mismatch(f"checksum mismatch for {wf.name} from {url}: expected sha256 {wf.sha256}, "
                            f"got {digest}; the file was not kept")
        notes = []
        if not wf.sha256:
            with open(final, "rb") as fh:
                head = fh.read(512).lstrip().lower()
            if head.startswith((b"<!doctype html", b"<html")):
                raise _Failed("the server sent a web page, not the file (a link that needs a browser?)")
            notes.append(f"no sha256 is known for {wf.name}: the downloaded file has sha256 {digest}")
            log.warning(notes[-1])
        os.chmod(final, 0o644)
        os.replace(final, target)
        log.info("fetched %s from %s into %s", wf.name, url, target)
        return Fetched(wf.name, target, digest, downloaded=True, notes=notes)
    finally:
        for p in temps:
            if p.exists():
                p.unlink()


def _unpack(wf: WeightFile, raw: Path, temp: Callable[[str], Path]) -> Path:
    out_path = temp("unpacked")
    try:
        if wf.archive == "bz2":
            with bz2.open(raw, "rb") as src, open(out_path, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        else:
            with zipfile.ZipFile(raw) as zf:
                member = next((n for n in zf.namelist() if n == wf.member or n.endswith("/" + wf.member)), None)
                if member is None:
                    raise _Failed(f"{wf.member} is not in the zip archive")
                with zf.open(member) as src, open(out_path, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _Failed(f"cannot unpack the {wf.archive} archive: {_reason(exc)}") from None
    return out_path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


# ---------------------------------------------------------------- user-registered ONNX recognizers

INPUT_SIDES = range(96, 129)  # "112-ish": the ArcFace template scales, but not to any size


def add(file: str | os.PathLike, like: str, name: str | None = None) -> Any:
    """Register a user's own ONNX recognizer with the preprocessing of the ONNX model `like`.

    The file is probed with onnxruntime (one image input of about 112x112 px, its real output size), copied
    into the weights folder (where `user-models.json` lives) and recorded there as JSON. Returns the new
    registry entry.
    """
    from datetime import datetime, timezone

    from facevault.zoo import registry
    from facevault.core.errors import FacevaultError
    from facevault.faces.embed.onnx import OnnxRecognizer, OnnxSpec
    from facevault.zoo import user

    src = Path(file).expanduser()
    if not src.is_file():
        raise WeightsError(f"{src}: no such file")
    base = registry.model(like)
    spec = base.kwargs.get("spec") if isinstance(base.kwargs, dict) else None
    if base.source != "onnx" or not isinstance(spec, dict):
        onnx_models = [n for n, e in registry.models().items() if e.source == "onnx"]
        raise UnknownName("ONNX recognizer to copy the preprocessing of", like, onnx_models)
    name = name or re.sub(r"[^a-z0-9.+]+", "-", src.stem.lower()).strip("-") or "user-model"
    existing = registry.models().get(name)
    if existing is not None and name not in user.load():
        raise FacevaultError(f"a model named {name!r} already exists ({existing.description}); "
                             "choose another with --name")
    probe = _probe(src, spec)
    folder = user.folder()
    dest, copied = _place(src, folder)
    try:
        new = dict(spec, file=dest.name, sha256=_sha256(dest), input_size=probe["input_size"],
                   layout=probe["layout"], dim=probe["dim"], fixed_batch=probe["fixed_batch"], url=None,
                   licence="user-supplied",
                   notes=f"registered with `facevault weights add` from {src.resolve()}, preprocessing of {like}")
        checked = OnnxSpec.from_dict(new)
        OnnxRecognizer(checked, weights_dir=str(folder))  # the wrapper accepts the graph with this spec
    except BaseException:
        if copied:
            dest.unlink(missing_ok=True)
        raise
    user.save(name, {"like": like, "spec": checked.to_dict(), "dim": checked.dim, "input": checked.input_label(),
                     "added": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    registry.refresh()
    log.info("registered %s (%d-d, like %s) from %s", name, checked.dim, like, dest)
    return registry.model(name)


def _probe(path: Path, like_spec: dict[str, Any]) -> dict[str, Any]:
    """Input layout/size/batch and the real output size of an ONNX face recognizer; refuse anything else."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"{path.name} is not an ONNX model onnxruntime can load: {first}") from None
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise WeightsError(f"{path.name} takes {len(inputs)} inputs; a face recognizer takes one image")
    inp = inputs[0]
    shape = list(inp.shape)
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if inp.type != "tensor(float)" or len(shape) != 4 or 3 not in (dims[1], dims[3]):
        raise WeightsError(f"{path.name}: input {inp.name!r} is {inp.type} {shape}; need a float image "
                           "Nx3xHxW or NxHxWx3 of about 112x112 px")
    layout = "NCHW" if dims[1] == 3 else "NHWC"
    h, w = (dims[2], dims[3]) if layout == "NCHW" else (dims[1], dims[2])
    side = h or w or int(like_spec["input_size"])
    if (h and w and h != w) or side not in INPUT_SIDES:
        raise WeightsError(f"{path.name}: input {inp.name!r} is {shape}; need a square face chip of about "
                           f"112x112 px ({INPUT_SIDES.start}-{INPUT_SIDES.stop - 1})")
    batch = dims[0] or like_spec.get("fixed_batch") or None
    x = np.zeros((batch or 1, 3, side, side) if layout == "NCHW" else (batch or 1, side, side, 3), np.float32)
    try:
        out = np.asarray(sess.run(None, {inp.name: x})[0])
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"{path.name} fails on a {list(x.shape)} input: {first}") from None
    dim = int(np.prod(out.shape[1:])) if out.ndim >= 2 else 0
    if out.shape[0] != len(x) or dim < 16:
        raise WeightsError(f"{path.name}: output shape {list(out.shape)} is not one embedding per face")
    return {"layout": layout, "input_size": side, "fixed_batch": batch, "dim": dim}


def _place(src: Path, folder: Path) -> tuple[Path, bool]:
    """The copy in the weights folder and whether it was made now (a different file of that name is refused)."""
    dest = folder / src.name
    if dest.is_file() and (dest.resolve() == src.resolve() or _sha256(dest) == _sha256(src)):
        return dest, False
    if dest.exists():
        raise WeightsError(f"{dest} already exists and differs from {src}; rename your file")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{src.name}.", suffix=".part", dir=folder)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest, True
