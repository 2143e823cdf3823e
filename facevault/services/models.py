"""The registry as a user sees it: every recognizer and detector, its weights files, and where it runs; and
registering a user's own ONNX recognizer (`facevault weights add`)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from facevault.core.errors import FacevaultError, UnknownName, WeightsError
from facevault.core.optional import require
from facevault.services import devices
from facevault.weights import locate, manifest
from facevault.zoo import registry, user
from facevault.zoo.onnx_specs import OnnxSpec

log = logging.getLogger(__name__)


def describe(weights_dir: str | None = None) -> list[dict]:
    """One row per registry entry: name, kind, source, input, dim, aligners, each weights file (found where,
    or how to get it), whether all are here, and the device it will run on."""
    rows = []
    for e in list(registry.models().values()) + list(registry.detectors().values()):
        files = manifest.availability(e, weights_dir)
        device = devices.recognizer_device(e.name) if e.kind == "recognizer" else devices.detector_device(e.name)
        rows.append({"name": e.name, "kind": e.kind, "source": e.source, "input": e.input or None, "dim": e.dim,
                     "aligner": e.aligner, "aligners": list(e.aligners), "weights": files,
                     "ready": all(f["present"] for f in files), "device": device, "description": e.description})
    return rows


INPUT_SIDES = range(96, 129)  # "112-ish": the ArcFace template scales, but not to any size


def register_onnx_model(file: str | os.PathLike, like: str, name: str | None = None) -> Any:
    """Register a user's own ONNX recognizer with the preprocessing of the ONNX model `like`.

    The file is probed with onnxruntime (one image input of about 112x112 px, its real output size), copied
    into the weights folder ($FACEVAULT_WEIGHTS or the per-user data folder, where `user-models.json` lives)
    and recorded there as JSON. Returns the new registry entry.
    """
    from datetime import datetime, timezone

    from facevault.faces.embed.onnx import OnnxRecognizer

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
        new = dict(spec, file=dest.name, sha256=locate.sha256_file(dest), input_size=probe["input_size"],
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

    ort = require("onnxruntime", "to check an ONNX model")
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
    if dest.is_file() and (dest.resolve() == src.resolve() or locate.sha256_file(dest) == locate.sha256_file(src)):
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
