"""deepface's detector backends as a facevault detector, with deepface's exact boxes and eyes."""

from __future__ import annotations

import numpy as np

from facevault.core.errors import UnknownName
from facevault.core.types import ARCFACE5, Detection, Landmarks
from facevault.faces.deepface_backend import PREFIX, SKIP, build_model, engine
from facevault.faces.landmarks import nan5
from facevault.zoo.deepface import DETECTORS, detector_files


class DeepfaceDetector:
    """A deepface detector backend; boxes and points in full-resolution image coordinates.

    Like `detection.detect_faces` with align=True, the backend sees the image inside a black border of half
    its size (so the box and eyes are deepface's exactly). Landmarks are ARCFACE5: deepface's right_eye (the
    subject's right, smaller x), left_eye, nose, mouth_right, mouth_left; NaN where the backend gives no point
    (most give eyes only). "skip" returns the whole image as one face with no points.
    """

    def __init__(self, backend: str, weights_dir: str | None = None) -> None:
        if backend not in DETECTORS:
            raise UnknownName("deepface detector backend", backend, list(DETECTORS))
        self.backend = backend
        self.name = PREFIX + backend
        self._model = None
        if backend != SKIP:
            files = detector_files(backend, engine())
            self._model = build_model("face_detector", backend, files, weights_dir, f"detector {self.name}")

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """deepface's faces of this RGB image."""
        h, w = rgb.shape[:2]
        if self._model is None:
            return [Detection(0.0, 0.0, float(w), float(h), 1.0, self.name, Landmarks(nan5(), ARCFACE5))]
        import cv2

        hb, wb = int(0.5 * h), int(0.5 * w)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        framed = cv2.copyMakeBorder(bgr, hb, hb, wb, wb, cv2.BORDER_CONSTANT, value=[0, 0, 0])
        out = []
        for r in self._model.detect_faces(framed):
            lm = nan5()
            for i, p in enumerate((r.right_eye, r.left_eye, r.nose, r.mouth_right, r.mouth_left)):
                if p is not None:
                    lm[i] = (float(p[0]) - wb, float(p[1]) - hb)
            out.append(Detection(float(r.x) - wb, float(r.y) - hb, float(r.w), float(r.h),
                                 float(r.confidence or 0.0), self.name, Landmarks(lm, ARCFACE5)))
        return out
