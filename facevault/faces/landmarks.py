"""5-point ArcFace-order landmarks for detectors that give none (dlib HOG / MMOD).

dlib's 68-point shape predictor runs on the detection box; its eye contours, nose tip and mouth corners
give the five points the ArcFace template expects: left eye centre (smaller x in the image), right eye
centre, nose tip, left mouth corner, right mouth corner.
"""

from __future__ import annotations

import os

import numpy as np

from facevault.weights import locate as weights
from facevault.core.types import Detection

# Detector sources whose `Detection.landmarks` are already ArcFace-order 5 points.
FIVE_POINT_SOURCES = frozenset({"yunet", "scrfd", "retinaface"})

SP68_FILE = "shape_predictor_68_face_landmarks.dat"

# iBUG 300-W 68-point indices (0-based): 36-41 the eye on the image's left (the subject's right eye),
# 42-47 the other eye, 30 the nose tip, 48 and 54 the mouth corners.
_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)
_NOSE_TIP = 30
_MOUTH_LEFT = 48
_MOUTH_RIGHT = 54


def has_five_points(det: Detection) -> bool:
    """True when the detection's own landmarks are usable ArcFace-order 5 points."""
    lm = det.landmarks
    return (
        det.source in FIVE_POINT_SOURCES
        and lm is not None
        and np.shape(lm) == (5, 2)
        and bool(np.isfinite(lm).all())
    )


def five_from_68(points68: np.ndarray) -> np.ndarray:
    """ArcFace-order 5 points (5x2 float32) from the 68 iBUG points."""
    p = np.asarray(points68, dtype=np.float32).reshape(68, 2)
    return np.stack(
        [
            p[_LEFT_EYE].mean(axis=0),
            p[_RIGHT_EYE].mean(axis=0),
            p[_NOSE_TIP],
            p[_MOUTH_LEFT],
            p[_MOUTH_RIGHT],
        ]
    ).astype(np.float32)


class Dlib68To5:
    """dlib's 68-point shape predictor on the detection box, reduced to ArcFace-order 5 points."""

    name = "dlib-sp68"

    def __init__(self, weights_dir: str | os.PathLike | None = None) -> None:
        import dlib

        self._dlib = dlib
        self.weights_path = weights.find(SP68_FILE, weights_dir)
        self._sp = dlib.shape_predictor(str(self.weights_path))

    def points68(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """The 68 (x, y) points, float32, in image coordinates."""
        rect = self._dlib.rectangle(
            int(round(det.x)), int(round(det.y)), int(round(det.x + det.w)) - 1, int(round(det.y + det.h)) - 1
        )
        shape = self._sp(np.ascontiguousarray(rgb), rect)
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float32)

    def landmarks(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """ArcFace-order 5x2 float32 landmarks for this detection."""
        return five_from_68(self.points68(rgb, det))
