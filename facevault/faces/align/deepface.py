"""The "deepface" aligner: deepface's eye rotation crop (`detection.extract_face`), resized and padded.

For deepface's models it reproduces exactly what `DeepFace.represent(..., align=True, expand_percentage=0,
normalization="base")` feeds the model; for ONNX models it gives the same crop as a uint8 RGB chip of the
model's size, to compare deepface's alignment with the ArcFace template on one model.
"""

from __future__ import annotations

import numpy as np

from facevault.core.types import Detection
from facevault.faces.align.base import check_input
from facevault.faces.deepface_backend import PREFIX, SKIP, face_crop, model_input
from facevault.faces.embed.base import DEEPFACE_BGR01
from facevault.faces.landmarks import ArcfacePoints


class DeepfaceAligner:
    """Eyes from the detection's ARCFACE5 points as the detector gave them (deepface's backends: eyes or none),
    else from dlib's 68 points reduced to five; the crop is rotated by the eyes as deepface does."""

    name = "deepface"

    def __init__(self, input_size: tuple[int, int], input_kind: str = DEEPFACE_BGR01,
                 weights_dir: str | None = None) -> None:
        self.input_size, self.input_kind = check_input(self.name, input_size, input_kind)
        self.points = ArcfacePoints(weights_dir)

    def align(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """This face as the recognizer takes it (see the module doc)."""
        if self.input_kind == DEEPFACE_BGR01:
            return self._represent_input(rgb, det)
        return self._uint8_chip(rgb, det)

    def _represent_input(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        if det.source == PREFIX + SKIP:
            # represent's "skip" branch: the decoded BGR image itself, resized as uint8
            return model_input(rgb[..., ::-1], self.input_size)
        face = face_crop(rgb, det, self.points.as_given(rgb, det))[:, :, ::-1]  # extract_faces: RGB in [0, 1]
        if face.max() > 1:
            face = face / 255
        return model_input(face[:, :, ::-1], self.input_size)

    def _uint8_chip(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        from deepface.modules import preprocessing

        face = face_crop(rgb, det, self.points.as_given(rgb, det))  # BGR crop
        if face.max() <= 1:
            face = face * 255
        img = preprocessing.resize_image(img=np.ascontiguousarray(face), target_size=self.input_size)[0]
        if img.max() <= 1.0 + 1e-6:
            img = img * 255
        return np.ascontiguousarray(np.clip(np.rint(img[..., ::-1]), 0, 255).astype(np.uint8))


