"""dlib's detectors: the HOG cascade, the MMOD CNN, and the 5-point shape predictor that gives their faces points.

`dlib-hog` is a cascade, not a single pass: HOG with one upsampling, then HOG upsampled twice, then dlib's
MMOD CNN, stopping at the first pass that finds a face near the centre of the image (faces found on the way are
merged in). A face one pass misses is not lost while a larger scale or another detector finds it, and a
bystander found by an early pass does not hide a subject that a later pass finds.

Every dlib detection carries dlib's 5 points (`Landmarks(points, DLIB5)`: eye corners and nose base), so the
dlib chip aligner reuses them instead of running the predictor a second time.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from facevault.core import paths
from facevault.core.types import DLIB5, Detection, Landmarks
from facevault.faces.detect.base import DETECT_MAX_SIDE, downscale, has_central, merge
from facevault.weights import locate as weights

log = logging.getLogger(__name__)


def dlib_rect(dlib: Any, det: Detection) -> Any:
    """The detection's box as a dlib rectangle (inclusive corners, integer pixels)."""
    return dlib.rectangle(int(round(det.x)), int(round(det.y)),
                          int(round(det.x + det.w)) - 1, int(round(det.y + det.h)) - 1)


def _from_rect(rect: Any, scale: float, score: float, source: str, width: int, height: int) -> Detection:
    x0, y0 = max(0.0, rect.left() / scale), max(0.0, rect.top() / scale)
    x1, y1 = min(float(width), (rect.right() + 1) / scale), min(float(height), (rect.bottom() + 1) / scale)
    return Detection(x0, y0, x1 - x0, y1 - y0, float(score), source)


def frontal_face_detector(dlib: Any) -> Any:
    """dlib's HOG frontal face detector, as `dlib.get_frontal_face_detector()` makes it.

    Making it decodes a model compiled into dlib, which costs 0.3-0.5 s of CPU at every start; the same detector
    saved by this dlib (its own binary serialization: the same bytes, the same detections) loads in about a
    millisecond. That copy is kept in the per-user cache folder, keyed by dlib's version and checked against
    its sha256; a missing, stale or unreadable copy is made again, and a cache that cannot be written is skipped.
    """
    path = paths.user_cache_dir() / f"dlib-{getattr(dlib, '__version__', 'unknown')}-frontal-face-detector.svm"
    if paths.read_cached(path) is not None:
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError:
            pass
    detector = dlib.get_frontal_face_detector()
    try:
        paths.write_cached(path, detector.save)
    except (OSError, RuntimeError) as exc:
        log.debug("cannot cache dlib's frontal face detector at %s: %s", path, exc)
    return detector


class DlibShape5:
    """dlib's 5-point shape predictor: eye corners and nose base, in dlib's order (scheme DLIB5)."""

    name = "dlib-sp5"

    def __init__(self, weights_dir: str | None = None) -> None:
        import dlib

        self._dlib = dlib
        self._sp = dlib.shape_predictor(str(weights.dlib_file("dlib-sp5", weights_dir)))

    def shape(self, rgb: np.ndarray, det: Detection) -> Any:
        """dlib's shape object on the detection box (what `get_face_chip` takes)."""
        return self._sp(rgb, dlib_rect(self._dlib, det))

    def landmarks(self, rgb: np.ndarray, det: Detection) -> Landmarks:
        """The 5 points of this face as DLIB5 landmarks."""
        s = self.shape(rgb, det)
        return Landmarks(np.array([[s.part(i).x, s.part(i).y] for i in range(s.num_parts)], np.float32), DLIB5)

    def with_points(self, rgb: np.ndarray, dets: list[Detection]) -> list[Detection]:
        """The detections, each given its dlib 5 points where it has none (new values; detections are frozen)."""
        return [d if d.landmarks is not None else dataclasses.replace(d, landmarks=self.landmarks(rgb, d))
                for d in dets]


def shape_from_points(dlib: Any, det: Detection, points: np.ndarray) -> Any:
    """dlib's shape object from stored DLIB5 points, for `get_face_chip` without running the predictor again."""
    return dlib.full_object_detection(dlib_rect(dlib, det), [dlib.point(int(round(x)), int(round(y)))
                                                            for x, y in points])


class DlibCnn:
    """dlib's MMOD CNN detector (slow on a CPU; the HOG cascade uses it only as a last resort)."""

    name = "dlib-cnn"
    MAX_SIDE = 640

    def __init__(self, weights_dir: str | None = None, shape: DlibShape5 | None = None) -> None:
        import dlib

        self._net = dlib.cnn_face_detection_model_v1(str(weights.dlib_file("dlib-mmod", weights_dir)))
        self._shape = shape if shape is not None else DlibShape5(weights_dir)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """MMOD faces with their dlib 5 points."""
        h, w = rgb.shape[:2]
        small, scale = downscale(rgb, self.MAX_SIDE)
        upsample = 1 if max(small.shape[:2]) <= self.MAX_SIDE // 2 + 64 else 0
        found = self._net(small, upsample)
        return self._shape.with_points(rgb, [_from_rect(d.rect, scale, d.confidence, "mmod", w, h) for d in found])


class DlibHog:
    """dlib's HOG detector with fallbacks to twice upsampling and the MMOD CNN (see module doc)."""

    name = "dlib-hog"

    def __init__(self, fallback: bool = True, weights_dir: str | None = None) -> None:
        import dlib

        self._hog = frontal_face_detector(dlib)
        self._fallback = fallback
        self._weights_dir = weights_dir
        self._shape = DlibShape5(weights_dir)
        self._cnn: DlibCnn | None = None  # the last resort is loaded when an image first needs it
        if fallback:
            weights.dlib_file("dlib-mmod", weights_dir)  # but missing weights still fail here, not mid-dataset

    @property
    def cnn(self) -> DlibCnn:
        """The MMOD CNN fallback, sharing this detector's shape predictor, built on first need."""
        if self._cnn is None:
            self._cnn = DlibCnn(self._weights_dir, shape=self._shape)
        return self._cnn

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Passes in order until one finds a face near the centre (where a dataset's subject usually is);
        faces found on the way are kept and merged, so a bystander never hides a subject a later pass finds."""
        h, w = rgb.shape[:2]
        small, scale = downscale(rgb, DETECT_MAX_SIDE)
        found: list[Detection] = []
        passes = (1, 2) if self._fallback else (1,)
        for upsample in passes:
            if upsample == 2 and max(small.shape[:2]) > 640:
                continue  # a face too small for one upsampling of a large image is not the subject
            rects, scores, _ = self._hog.run(small, upsample, 0.0)
            found = merge(found + [_from_rect(r, scale, s, f"hog-up{upsample}", w, h) for r, s in zip(rects, scores)])
            if has_central(found, w, h) or (found and not self._fallback):
                return self._shape.with_points(rgb, found)
        if self._fallback:
            found = merge(found + self.cnn.detect(rgb))
        return self._shape.with_points(rgb, found)
