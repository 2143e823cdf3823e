"""Native face detectors. Each returns `Detection`s in full-resolution coordinates.

`dlib-hog` is a cascade, not a single pass: HOG with one upsampling, then HOG upsampled twice, then dlib's
MMOD CNN, stopping at the first pass that finds a face near the centre of the image (faces found on the way are
merged in). A face one pass misses is not lost while a larger scale or another detector finds it, and a
bystander found by an early pass does not hide a subject that a later pass finds.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from facevault.weights import locate as weights
from facevault.core.types import Detection

log = logging.getLogger(__name__)

DETECT_MAX_SIDE = 1024  # detection runs on a copy no larger than this; boxes are mapped back


CENTRAL = 0.25  # a face whose centre is within this fraction of the half-diagonal from the image centre


def has_central(dets: list[Detection], w: int, h: int) -> bool:
    """Whether any face lies near the image centre."""
    half_diag = 0.5 * float(np.hypot(w, h)) or 1.0
    return any(np.hypot(d.x + d.w / 2 - w / 2, d.y + d.h / 2 - h / 2) / half_diag < CENTRAL for d in dets)


def merge(dets: list[Detection], iou: float = 0.4) -> list[Detection]:
    """One detection per face from several passes: the first found of overlapping boxes is kept
    (passes run from the most to the least precise)."""
    kept: list[Detection] = []
    for d in dets:
        if all(_iou(d, k) <= iou for k in kept):
            kept.append(d)
    return kept


def _iou(a: Detection, b: Detection) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


class Detector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...


def _downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / float(max(h, w)))
    if scale >= 1.0:
        return rgb, 1.0
    import cv2

    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small), scale


def _from_rect(rect, scale: float, score: float, source: str, width: int, height: int) -> Detection:
    x0, y0 = max(0.0, rect.left() / scale), max(0.0, rect.top() / scale)
    x1, y1 = min(float(width), (rect.right() + 1) / scale), min(float(height), (rect.bottom() + 1) / scale)
    return Detection(x0, y0, x1 - x0, y1 - y0, float(score), source)


class DlibHog:
    """dlib's HOG detector with fallbacks to twice upsampling and the MMOD CNN (see module doc)."""

    name = "dlib-hog"

    def __init__(self, fallback: bool = True, weights_dir: str | None = None) -> None:
        import dlib

        self._hog = dlib.get_frontal_face_detector()
        self._fallback = fallback
        self._cnn: DlibCnn | None = DlibCnn(weights_dir) if fallback else None
        self._shape = DlibShape5(weights_dir)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Passes in order until one finds a face near the centre (where a dataset's subject usually is);
        faces found on the way are kept and merged, so a bystander never hides a subject a later pass finds."""
        h, w = rgb.shape[:2]
        small, scale = _downscale(rgb, DETECT_MAX_SIDE)
        found: list[Detection] = []
        passes = (1, 2) if self._fallback else (1,)
        for upsample in passes:
            if upsample == 2 and max(small.shape[:2]) > 640:
                continue  # a face too small for one upsampling of a large image is not the subject
            rects, scores, _ = self._hog.run(small, upsample, 0.0)
            found = merge(found + [_from_rect(r, scale, s, f"hog-up{upsample}", w, h) for r, s in zip(rects, scores)])
            if has_central(found, w, h) or (found and not self._fallback):
                return self._shape.fill(rgb, found)
        if self._cnn is not None:
            found = merge(found + self._cnn.detect(rgb))
        return self._shape.fill(rgb, found)


class DlibCnn:
    """dlib's MMOD CNN detector (slow on a CPU; the HOG cascade uses it only as a last resort)."""

    name = "dlib-cnn"
    MAX_SIDE = 640

    def __init__(self, weights_dir: str | None = None) -> None:
        import dlib

        self._net = dlib.cnn_face_detection_model_v1(str(weights.dlib_file("dlib-mmod", weights_dir)))
        self._shape = DlibShape5(weights_dir)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        small, scale = _downscale(rgb, self.MAX_SIDE)
        upsample = 1 if max(small.shape[:2]) <= self.MAX_SIDE // 2 + 64 else 0
        found = self._net(small, upsample)
        return self._shape.fill(rgb, [_from_rect(d.rect, scale, d.confidence, "mmod", w, h) for d in found])


DLIB_SOURCES = ("hog-up1", "hog-up2", "mmod")  # detections whose landmarks are dlib's 5 points


class DlibShape5:
    """dlib's 5-point shape predictor: eye corners and nose base (dlib's order)."""

    name = "dlib-sp5"

    def __init__(self, weights_dir: str | None = None) -> None:
        import dlib

        self._dlib = dlib
        self._sp = dlib.shape_predictor(str(weights.dlib_file("dlib-sp5", weights_dir)))

    def shape(self, rgb: np.ndarray, det: Detection):
        rect = self._dlib.rectangle(
            int(round(det.x)), int(round(det.y)), int(round(det.x + det.w)) - 1, int(round(det.y + det.h)) - 1
        )
        return self._sp(rgb, rect)

    def landmarks(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        s = self.shape(rgb, det)
        return np.array([[s.part(i).x, s.part(i).y] for i in range(s.num_parts)], dtype=np.float32)

    def fill(self, rgb: np.ndarray, dets: list[Detection]) -> list[Detection]:
        """Give dlib detections their 5 points (dlib's order: eye corners, nose base), stored with the face."""
        for d in dets:
            if d.landmarks is None:
                d.landmarks = self.landmarks(rgb, d)
        return dets

    def from_points(self, det: Detection):
        """dlib's shape object from stored 5 points, for `get_face_chip` without running the predictor again."""
        rect = self._dlib.rectangle(
            int(round(det.x)), int(round(det.y)), int(round(det.x + det.w)) - 1, int(round(det.y + det.h)) - 1
        )
        return self._dlib.full_object_detection(rect, [self._dlib.point(int(round(x)), int(round(y)))
                                                       for x, y in det.landmarks])
