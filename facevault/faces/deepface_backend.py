"""deepface's detectors and recognizers behind facevault's interfaces, with `DeepFace.represent` parity.

deepface runs on its ONNX engine unless the user chose another with DEEPFACE_BACKEND_ENGINE (tensorflow when
it is installed). deepface is imported lazily, inside these classes: importing it reads the environment and
may create folders. The "deepface" aligner reproduces what `DeepFace.represent(img, model_name,
detector_backend=..., align=True, expand_percentage=0, normalization="base")` feeds the model: the detector
runs on the image framed by a black border, the face is rotated by its eyes (`detection.extract_face`),
resized and padded (`preprocessing.resize_image`); deepface's own functions do each step.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from facevault.weights import locate as weights
from facevault.core.errors import FacevaultError, UnknownName, WeightsError
from facevault.core.types import Detection
from facevault.zoo.deepface import ARCFACE_FAMILY, DETECTORS, RECOGNIZER_FILES, RECOGNIZERS, detector_files, files_for

log = logging.getLogger(__name__)

ENGINE_VAR = "DEEPFACE_BACKEND_ENGINE"
DEFAULT_ENGINE = "onnx"
PREFIX = "deepface-"
SKIP = "skip"
DEFAULT_BATCH = 32
# deepface-* sources whose 5 landmarks are all real points (the others give eyes only, or nothing)
FIVE_POINT_SOURCES = frozenset({"deepface-retinaface"})

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


def weights_home() -> Path:
    """deepface's weights folder: $DEEPFACE_HOME/.deepface/weights (deepface's folder_utils rule)."""
    return Path(os.getenv("DEEPFACE_HOME", default=os.path.expanduser("~"))) / ".deepface" / "weights"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.encode("ascii", "ignore").decode().strip()


def _present(name: str) -> bool:
    if (weights_home() / name).is_file():
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
        dst = weights_home() / name
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
        f"{what}: weights file {', '.join(missing)} is not in {weights_home()} and deepface could not download it"
        f"{source} ({type(chain[-1]).__name__}: {cause[:200]}); download it there by hand"
    )


def _build(task: str, name: str, files: tuple[str, ...], weights_dir: str | None, what: str) -> Any:
    """deepface's (cached) model, with its failures turned into one-line facevault errors."""
    eng = engine()
    from deepface.modules import modeling

    _provide(files, weights_dir)
    missing = [f for f in files if not _present(f)]
    if missing:
        log.info("%s: deepface will try to download %s into %s", what, ", ".join(missing), weights_home())
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


def _nan5() -> np.ndarray:
    return np.full((5, 2), np.nan, np.float32)


class DeepfaceDetector:
    """A deepface detector backend; boxes and points in full-resolution image coordinates.

    Like `detection.detect_faces` with align=True, the backend sees the image inside a black border of half
    its size (so the box and eyes are deepface's exactly). Landmarks are in ArcFace order: deepface's
    right_eye (the subject's right, smaller x), left_eye, nose, mouth_right, mouth_left; NaN where the
    backend gives no point. "skip" returns the whole image as one face.
    """

    def __init__(self, backend: str, weights_dir: str | None = None) -> None:
        if backend not in DETECTORS:
            raise UnknownName("deepface detector backend", backend, list(DETECTORS))
        self.backend = backend
        self.name = PREFIX + backend
        self._model = None
        if backend != SKIP:
            files = detector_files(backend, engine())
            self._model = _build("face_detector", backend, files, weights_dir, f"detector {self.name}")

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        if self._model is None:
            return [Detection(0.0, 0.0, float(w), float(h), 1.0, self.name, _nan5())]
        import cv2

        hb, wb = int(0.5 * h), int(0.5 * w)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        framed = cv2.copyMakeBorder(bgr, hb, hb, wb, wb, cv2.BORDER_CONSTANT, value=[0, 0, 0])
        out = []
        for r in self._model.detect_faces(framed):
            lm = _nan5()
            for i, p in enumerate((r.right_eye, r.left_eye, r.nose, r.mouth_right, r.mouth_left)):
                if p is not None:
                    lm[i] = (float(p[0]) - wb, float(p[1]) - hb)
            out.append(Detection(float(r.x) - wb, float(r.y) - hb, float(r.w), float(r.h),
                                 float(r.confidence or 0.0), self.name, lm))
        return out


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


def deepface_face(rgb: np.ndarray, det: Detection, foreign_points: Any) -> np.ndarray:
    """`detection.extract_face` on deepface's bordered image: the eye-rotated BGR crop.

    `foreign_points(rgb, det)` gives ArcFace-order points for faces from non-deepface detectors.
    """
    from deepface.models.Detector import FacialAreaRegion
    from deepface.modules import detection

    h, w = rgb.shape[:2]
    hb, wb = int(0.5 * h), int(0.5 * w)
    if det.source.startswith(PREFIX):
        backend = det.source[len(PREFIX):]
        box = (_exact(det.x + wb), _exact(det.y + hb), _exact(det.w), _exact(det.h))
        lm = det.landmarks if det.landmarks is not None else _nan5()
    else:  # another facevault detector: its box, and eyes from its 5 points or the landmarker
        backend = det.source or "facevault"
        x0, y0 = int(round(det.x)), int(round(det.y))
        box = (x0 + wb, y0 + hb, int(round(det.x + det.w)) - x0, int(round(det.y + det.h)) - y0)
        lm = foreign_points(rgb, det)
    eyes = []
    for i in (1, 0):  # deepface's left_eye is the subject's left: ArcFace point 1
        p = lm[i]
        eyes.append(None if not np.isfinite(p).all() else (float(p[0]) + wb, float(p[1]) + hb))
    win, ox, oy = _framed_window(rgb[..., ::-1], box, hb, wb)
    left, right = ((None if p is None else (_exact(p[0] - ox), _exact(p[1] - oy))) for p in eyes)
    region = FacialAreaRegion(x=box[0] - ox, y=box[1] - oy, w=box[2], h=box[3], left_eye=left, right_eye=right)
    face = detection.extract_face(facial_area=region, img=win, align=True, expand_percentage=0,
                                  width_border=0, height_border=0, detector_backend=backend).img
    if face.shape[0] == 0 or face.shape[1] == 0:
        raise FacevaultError(f"empty face crop for the box {det.x:.0f},{det.y:.0f},{det.w:.0f},{det.h:.0f}")
    return face


class DeepfaceRecognizer:
    """A deepface recognition model; `embed` is the model's own forward pass (raw vectors, as deepface returns).

    Aligners: "deepface" (parity with `DeepFace.represent`, see the module doc) for every model, and
    "arcface" (5 landmarks onto the 112x112 ArcFace template) for the ArcFace-family models.
    """

    def __init__(self, model_name: str, weights_dir: str | None = None, aligner: str | None = None,
                 batch_size: int | None = None) -> None:
        if model_name not in RECOGNIZERS:
            raise UnknownName("deepface model", model_name, list(RECOGNIZERS))
        accepted = ("deepface", "arcface") if model_name in ARCFACE_FAMILY else ("deepface",)
        self.aligner = aligner or "deepface"
        if self.aligner not in accepted:
            raise UnknownName(f"aligner for {model_name}", self.aligner, list(accepted))
        self.model_name = model_name
        self.batch_size = max(1, int(batch_size or DEFAULT_BATCH))
        eng = engine()
        self._files = files_for(RECOGNIZER_FILES[model_name], eng)
        self._model = _build("facial_recognition", model_name, self._files, weights_dir, f"deepface model {model_name}")
        self.dim = int(self._model.output_shape)
        width, height = self._model.input_shape
        self._target = (int(height), int(width))  # rows, cols: represent's resize_image argument
        self._weights_dir = weights_dir
        self._landmarker: Any = None
        self._no_landmarker = False

    def _get_landmarker(self) -> Any:
        """dlib's 68-point landmarker reduced to 5 points, built when a face first needs it (or None)."""
        if self._landmarker is None and not self._no_landmarker:
            try:
                from facevault.faces.landmarks import Dlib68To5

                self._landmarker = Dlib68To5(self._weights_dir)
            except (ImportError, FacevaultError) as exc:  # then deepface's eye cascade finds the eyes
                log.warning("no 5-point landmarker for %s: %s", self.model_name, exc)
                self._no_landmarker = True
        return self._landmarker

    @property
    def landmarker(self) -> Any:
        """The pipeline's landmarker for detectors that give no points; absent (AttributeError) when unavailable."""
        found = self._get_landmarker()
        if found is None:
            raise AttributeError("landmarker")
        return found

    @property
    def weights_sha256(self) -> str | None:
        if not self._files:
            return None
        path = weights_home() / self._files[0]
        return weights.sha256_file(path) if path.is_file() else None

    def align(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """The model's input for this face: HxWx3 float32 BGR in [0, 1] (deepface's "base" normalisation)."""
        from deepface.modules import preprocessing

        if self.aligner == "arcface":
            from facevault.faces.align.arcface import arcface_crop

            chip = arcface_crop(rgb, self._five_points(rgb, det), size=self._target[0])
            img = preprocessing.resize_image(img=np.ascontiguousarray(chip[..., ::-1]), target_size=self._target)
        elif det.source == PREFIX + SKIP:
            # represent's "skip" branch: the decoded BGR image itself, resized as uint8
            img = preprocessing.resize_image(img=rgb[..., ::-1], target_size=self._target)
        else:
            face = self._deepface_face(rgb, det)[:, :, ::-1]  # extract_faces hands represent RGB in [0, 1]
            if face.max() > 1:
                face = face / 255
            img = preprocessing.resize_image(img=face[:, :, ::-1], target_size=self._target)
        return preprocessing.normalize_input(img=img, normalization="base")[0]

    def _deepface_face(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        return deepface_face(rgb, det, self._foreign_points)

    def _foreign_points(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        from facevault.faces.landmarks import has_five_points

        if has_five_points(det):
            return np.asarray(det.landmarks, np.float32)
        landmarker = self._get_landmarker()
        if landmarker is not None:
            return landmarker.landmarks(rgb, det)
        return _nan5()  # extract_face then looks for the eyes with opencv's eye cascade, as deepface does

    def _five_points(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """ArcFace-order 5 points: the detector's own when it gives all five, else the landmarker's."""
        from facevault.faces.landmarks import has_five_points

        lm = det.landmarks
        if has_five_points(det) or (
            det.source in FIVE_POINT_SOURCES and lm is not None and bool(np.isfinite(lm).all())
        ):
            return np.asarray(lm, np.float32)
        landmarker = self._get_landmarker()
        if landmarker is None:
            raise WeightsError(f"the arcface aligner needs 5 landmarks for {det.source!r} faces and no landmarker "
                               "is available (shape_predictor_68_face_landmarks.dat)")
        return landmarker.landmarks(rgb, det)

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw (n, dim) float32 vectors from the model's forward pass, `batch_size` chips at a time."""
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        out = []
        for i in range(0, len(chips), self.batch_size):
            batch = np.stack(chips[i:i + self.batch_size]).astype(np.float32, copy=False)
            vecs = np.asarray(self._model.forward(batch), dtype=np.float32)
            out.append(vecs.reshape(len(batch), self.dim))
        return np.concatenate(out, axis=0)


def deepface_chip(rgb: np.ndarray, det: Detection, size: int, landmarker: Any) -> np.ndarray:
    """deepface's alignment for any recognizer: the eye-rotated crop of the box, resized and padded to
    size x size as `DeepFace.represent` does, returned as uint8 RGB (so an ONNX model's own preprocessing
    applies). Used to compare deepface's alignment with the ArcFace template on the same model."""
    from deepface.modules import preprocessing

    from facevault.faces.landmarks import has_five_points

    def points(img: np.ndarray, d: Detection) -> np.ndarray:
        if has_five_points(d):
            return np.asarray(d.landmarks, np.float32)
        return landmarker.landmarks(img, d)

    face = deepface_face(rgb, det, points)  # BGR crop
    if face.max() <= 1:
        face = face * 255
    img = preprocessing.resize_image(img=np.ascontiguousarray(face), target_size=(size, size))[0]
    if img.max() <= 1.0 + 1e-6:
        img = img * 255
    return np.ascontiguousarray(np.clip(np.rint(img[..., ::-1]), 0, 255).astype(np.uint8))
