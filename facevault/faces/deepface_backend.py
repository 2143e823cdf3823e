"""deepface as an engine for facevault's stages: engine choice, model building, weights provision, and the
eye-rotated face crop of `DeepFace.represent`. Shared by `detect.deepface`, `align.deepface` and `embed.deepface`.

deepface runs on its ONNX engine unless the user chose another with DEEPFACE_BACKEND_ENGINE (tensorflow when
it is installed). deepface is imported lazily, inside these functions: importing it reads the environment and
may create folders. `face_crop` reproduces what `DeepFace.represent(img, model_name, detector_backend=...,
align=True, expand_percentage=0, normalization="base")` cuts out: the detector runs on the image framed by a
black border and the face is rotated by its eyes (`detection.extract_face`); deepface's own functions do it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from facevault.core.errors import FacevaultError, WeightsError
from facevault.core.types import Detection
from facevault.weights import locate as weights

log = logging.getLogger(__name__)

ENGINE_VAR = "DEEPFACE_BACKEND_ENGINE"
DEFAULT_ENGINE = "onnx"
PREFIX = "deepface-"
SKIP = "skip"

_engine: str | None = None


def engine() -> str:
    """deepface's backend engine for this process, chosen before deepface is first imported.

    DEEPFACE_BACKEND_ENGINE wins when the user set it; otherwise it is set to onnx here (deepface itself
    would prefer TensorFlow, then PyTorch, whichever is installed). deepface's logger prints to stdout, so it
    is quietened to errors unless DEEPFACE_LOG_LEVEL says otherwise (and retina-face's, which does the same).
    """
    global _engine
    if _engine is not None:
        return _engine
    if not os.environ.get(ENGINE_VAR):
        os.environ[ENGINE_VAR] = DEFAULT_ENGINE
    os.environ.setdefault("DEEPFACE_LOG_LEVEL", str(logging.ERROR))
    os.environ.setdefault("RETINAFACE_LOG_LEVEL", str(logging.ERROR))
    from deepface.commons import backend_utils

    try:
        name = backend_utils.get_backend_engine()
    except ValueError as exc:  # an engine that is asked for but not installed
        raise FacevaultError(f"deepface: {_one_line(exc)}") from None
    if name == backend_utils.TENSORFLOW:
        import deepface.DeepFace  # noqa: F401  (its import configures Keras and TensorFlow's logging)
    log.info("deepface %s runs on its %s engine", _version(), name)
    _engine = name
    return name


def _version() -> str:
    from deepface import __version__

    return __version__


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.encode("ascii", "ignore").decode().strip()


def _present(name: str) -> bool:
    if (weights.deepface_dir() / name).is_file():
        return True
    if name.startswith("haarcascade"):  # opencv < 5 ships its cascades, deepface reads them there
        import cv2

        return (Path(cv2.__file__).parent / "data" / name).is_file()
    return False


def _provide(files: tuple[str, ...], weights_dir: str | None) -> None:
    """Copy into deepface's folder the missing files facevault can find (weights dir, face-recognition-models)."""
    for name in files:
        if _present(name):
            continue
        try:
            src = weights.find(name, weights_dir)
        except WeightsError:
            continue
        dst = weights.deepface_dir() / name
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.name + ".part")
            shutil.copyfile(src, tmp)
            tmp.replace(dst)
            log.info("copied %s to %s for deepface", src, dst)
        except OSError as exc:
            log.warning("cannot copy %s into deepface's folder %s: %s", src, dst.parent, exc)


def _download_failure(what: str, missing: list[str], exc: BaseException) -> WeightsError:
    chain, cur = [], exc
    while cur is not None and len(chain) < 5:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    urls = []
    for e in chain:
        for url in re.findall(r"https?://[^\s,]+", str(e)):
            url = url.rstrip(".,;")
            if url not in urls:
                urls.append(url)
    cause = _one_line(chain[-1])
    source = f" from {', '.join(urls)}" if urls else ""
    return WeightsError(
        f"{what}: weights file {', '.join(missing)} is not in {weights.deepface_dir()} and deepface could not download it"
        f"{source} ({type(chain[-1]).__name__}: {cause[:200]}); download it there by hand"
    )


def build_model(task: str, name: str, files: tuple[str, ...], weights_dir: str | None, what: str) -> Any:
    """deepface's (cached) model, with its failures turned into one-line facevault errors."""
    eng = engine()
    from deepface.modules import modeling

    _provide(files, weights_dir)
    missing = [f for f in files if not _present(f)]
    if missing:
        log.info("%s: deepface will try to download %s into %s", what, ", ".join(missing), weights.deepface_dir())
    try:
        model = modeling.build_model(task=task, model_name=name)
        if missing and task == "face_detector" and name == "centerface":
            model.build_model()  # deepface's CenterFace loads (and downloads) its graph at every detection
        return model
    except ImportError as exc:
        raise FacevaultError(f"{what} needs a package that is not installed: {_one_line(exc)}") from None
    except Exception as exc:
        missing = [f for f in files if not _present(f)]
        if missing:
            raise _download_failure(what, missing, exc) from None
        raise FacevaultError(f"{what} ({eng} engine) cannot be built: {type(exc).__name__}: {_one_line(exc)}") from None


def _exact(v: float) -> int | float:
    """deepface's integer coordinates back as ints (a float box would change its slicing)."""
    return int(v) if float(v).is_integer() else float(v)


def _framed_window(bgr: np.ndarray, box: tuple, hb: int, wb: int) -> tuple[np.ndarray, int, int]:
    """The part of the bordered image `extract_face` reads for `box` (bordered coordinates), and its origin.

    `extract_face` reads the box grown by half its size on each side, black outside the image; a window
    with a margin of the box's full size holds all of it without framing the whole image for every face.
    """
    H, W = bgr.shape[:2]
    x, y, w, h = box
    x0, y0 = max(0, int(np.floor(x - w)) - 1), max(0, int(np.floor(y - h)) - 1)
    x1, y1 = min(W + 2 * wb, int(np.ceil(x + 2 * w)) + 2), min(H + 2 * hb, int(np.ceil(y + 2 * h)) + 2)
    win = np.zeros((max(0, y1 - y0), max(0, x1 - x0), 3), np.uint8)
    sx0, sy0 = max(x0 - wb, 0), max(y0 - hb, 0)
    sx1, sy1 = min(x1 - wb, W), min(y1 - hb, H)
    if sx1 > sx0 and sy1 > sy0:
        win[sy0 + hb - y0:sy1 + hb - y0, sx0 + wb - x0:sx1 + wb - x0] = bgr[sy0:sy1, sx0:sx1]
    return win, x0, y0


def face_crop(rgb: np.ndarray, det: Detection, points: np.ndarray) -> np.ndarray:
    """`detection.extract_face` on deepface's bordered image: the eye-rotated BGR crop of this face.

    `points` are ArcFace-order (5, 2) points, NaN where unknown; only the eyes are read (none: no rotation). A
    face from a deepface backend keeps deepface's exact box; other detectors' boxes are rounded to pixels.
    """
    from deepface.models.Detector import FacialAreaRegion
    from deepface.modules import detection

    h, w = rgb.shape[:2]
    hb, wb = int(0.5 * h), int(0.5 * w)
    if det.source.startswith(PREFIX):
        backend = det.source[len(PREFIX):]
        box = (_exact(det.x + wb), _exact(det.y + hb), _exact(det.w), _exact(det.h))
    else:  # another facevault detector: its box rounded to pixels
        backend = det.source or "facevault"
        x0, y0 = int(round(det.x)), int(round(det.y))
        box = (x0 + wb, y0 + hb, int(round(det.x + det.w)) - x0, int(round(det.y + det.h)) - y0)
    eyes = []
    for i in (1, 0):  # deepface's left_eye is the subject's left: ArcFace point 1
        p = points[i]
        eyes.append(None if not np.isfinite(p).all() else (float(p[0]) + wb, float(p[1]) + hb))
    win, ox, oy = _framed_window(rgb[..., ::-1], box, hb, wb)
    left, right = ((None if p is None else (_exact(p[0] - ox), _exact(p[1] - oy))) for p in eyes)
    region = FacialAreaRegion(x=box[0] - ox, y=box[1] - oy, w=box[2], h=box[3], left_eye=left, right_eye=right)
    face = detection.extract_face(facial_area=region, img=win, align=True, expand_percentage=0,
                                  width_border=0, height_border=0, detector_backend=backend).img
    if face.shape[0] == 0 or face.shape[1] == 0:
        raise FacevaultError(f"empty face crop for the box {det.x:.0f},{det.y:.0f},{det.w:.0f},{det.h:.0f}")
    return face




def model_input(bgr: np.ndarray, target: tuple[int, int]) -> np.ndarray:
    """What a deepface model is fed for this BGR face: `resize_image` (padded resize to rows x cols) then the
    "base" normalisation, as `DeepFace.represent` does; HxWx3 float32 BGR in [0, 1]."""
    from deepface.modules import preprocessing

    img = preprocessing.resize_image(img=bgr, target_size=target)
    return preprocessing.normalize_input(img=img, normalization="base")[0]
