"""What every detector is, and the box arithmetic detectors share.

A detector takes an RGB image and returns `Detection`s in full-resolution pixel coordinates, each with the
`Landmarks` it found (or None) and their scheme, so aligners know what the points mean without knowing which
detector made them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from facevault.core.types import Detection

DETECT_MAX_SIDE = 1024  # detection runs on a copy no larger than this; boxes are mapped back
CENTRAL = 0.25  # a face whose centre is within this fraction of the half-diagonal from the image centre


@runtime_checkable
class Detector(Protocol):
    """Finds faces: boxes, scores and the landmarks the detector gives (never written afterwards)."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...


def has_central(dets: list[Detection], w: int, h: int) -> bool:
    """Whether any face lies near the image centre (where a dataset's subject usually is)."""
    half_diag = 0.5 * float(np.hypot(w, h)) or 1.0
    return any(np.hypot(d.x + d.w / 2 - w / 2, d.y + d.h / 2 - h / 2) / half_diag < CENTRAL for d in dets)


def iou(a: Detection, b: Detection) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def merge(dets: list[Detection], threshold: float = 0.4) -> list[Detection]:
    """One detection per face from several passes: the first found of overlapping boxes is kept
    (passes run from the most to the least precise)."""
    kept: list[Detection] = []
    for d in dets:
        if all(iou(d, k) <= threshold for k in kept):
            kept.append(d)
    return kept


def downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy no larger than `max_side` on its longer side and the scale applied (1.0: the image itself).

    Detectors run on it for speed and map their boxes back by dividing by the scale.
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / float(max(h, w)))
    if scale >= 1.0:
        return rgb, 1.0
    import cv2

    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small), scale
