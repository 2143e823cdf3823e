"""`DETECTOR+frame`: any detector, with the whole image as the face when it finds none.

This is deepface's `enforce_detection=False`, the setting the study ran every model with: an image whose face
the detector misses is still embedded, from the whole frame, instead of being left out. The whole-frame face
is a `Detection` of the full image with source "whole-frame" and no landmarks, so the space's aligner treats it
as it treats any box without points (dlib's chip runs dlib's 5-point predictor on it, the ArcFace template
dlib's 68 points; deepface's own aligners crop the box, which is the whole image). Images where the detector
does find a face get exactly its detections, so they embed as in the detector's own space.

A `+frame` detector is a detector of its own name: its detections, spaces and evaluations are kept apart from
the plain detector's, and the ingest summary counts the images embedded whole.
"""

from __future__ import annotations

import numpy as np

from facevault.core.types import Detection
from facevault.zoo.registry import FRAME_SUFFIX as SUFFIX

SOURCE = "whole-frame"  # the Detection.source of a whole-frame face (stored in the faces table)


def whole_frame(rgb: np.ndarray) -> Detection:
    """The whole image as one face (score 0: nothing was detected)."""
    h, w = rgb.shape[:2]
    return Detection(0.0, 0.0, float(w), float(h), 0.0, SOURCE)


class WholeFrameFallback:
    """The inner detector's faces, or the whole image when there are none."""

    def __init__(self, inner: str, weights_dir: str | None = None) -> None:
        from facevault.zoo import registry

        self.name = inner + SUFFIX
        self.inner = registry.detector(inner).build(weights_dir=weights_dir)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        return self.inner.detect(rgb) or [whole_frame(rgb)]
