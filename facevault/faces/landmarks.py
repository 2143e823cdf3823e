"""ArcFace-order 5 points for any detection: the detector's own, or dlib's 68 points reduced to five.

Detectors set `Detection.landmarks` with their scheme; aligners that need ArcFace-order points (the ArcFace
template, deepface's eye rotation) read them through `ArcfacePoints`, which uses the detector's points when they
are ARCFACE5 and otherwise runs dlib's 68-point shape predictor on the box. The computed points are returned,
never stored into the (frozen) detection.

ArcFace order: left eye centre (smaller x in the image), right eye centre, nose tip, left mouth corner, right
mouth corner.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from facevault.core.errors import FacevaultError
from facevault.core.types import ARCFACE5, Detection
from facevault.weights import locate as weights

log = logging.getLogger(__name__)

SP68_FILE = "shape_predictor_68_face_landmarks.dat"

# iBUG 300-W 68-point indices (0-based): 36-41 the eye on the image's left (the subject's right eye),
# 42-47 the other eye, 30 the nose tip, 48 and 54 the mouth corners.
_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)
_NOSE_TIP = 30
_MOUTH_LEFT = 48
_MOUTH_RIGHT = 54


def nan5() -> np.ndarray:
    """Five unknown points (a detector that gives none, or a point it does not give)."""
    return np.full((5, 2), np.nan, np.float32)


def five_from_68(points68: np.ndarray) -> np.ndarray:
    """ArcFace-order 5 points (5x2 float32) from the 68 iBUG points."""
    p = np.asarray(points68, dtype=np.float32).reshape(68, 2)
    return np.stack(
        [p[_LEFT_EYE].mean(axis=0), p[_RIGHT_EYE].mean(axis=0), p[_NOSE_TIP], p[_MOUTH_LEFT], p[_MOUTH_RIGHT]]
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


class ArcfacePoints:
    """ArcFace-order points of a detection for an aligner; the 68-point landmarker is built on first need."""

    def __init__(self, weights_dir: str | os.PathLike | None = None) -> None:
        self._weights_dir = weights_dir
        self._landmarker: Dlib68To5 | None = None
        self._failure: Exception | None = None
        self._warned = False

    @property
    def built(self) -> bool:
        """Whether the 68-point landmarker has been needed (and built) so far."""
        return self._landmarker is not None

    def landmarker(self) -> Dlib68To5:
        """dlib's 68 -> 5 landmarker; raises (once built or failed, always the same) when it is not available."""
        if self._landmarker is None:
            if self._failure is not None:
                raise self._failure
            try:
                self._landmarker = Dlib68To5(self._weights_dir)
            except (ImportError, FacevaultError) as exc:
                self._failure = exc
                raise
        return self._landmarker

    def complete(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """All five points: the detector's when they are complete ARCFACE5, else dlib's 68 reduced to five.

        What the ArcFace template needs; raises WeightsError when no landmarker is available.
        """
        own = det.points(ARCFACE5)
        return own if own is not None else self.landmarker().landmarks(rgb, det)

    def as_given(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """The detector's ARCFACE5 points as given, unknown points NaN (deepface's backends give eyes or nothing,
        and deepface aligns with exactly those); other schemes: dlib's 68 reduced to five, or all NaN (with a
        warning) when no landmarker is available."""
        lm = det.landmarks
        if lm is not None and lm.scheme == ARCFACE5:
            return lm.points
        try:
            return self.landmarker().landmarks(rgb, det)
        except (ImportError, FacevaultError) as exc:
            if not self._warned:
                log.warning("no 5-point landmarker (%s); deepface's eye cascade finds the eyes", exc)
                self._warned = True
            return nan5()

