"""Recognizers: aligned face crops in, L2-normalised float32 vectors out.

Each recognizer owns its alignment (`align`), because a model only works on the crops it was trained on.
"""

from __future__ import annotations

import numpy as np

from facevault.weights import locate as weights
from facevault.core.types import Detection


def l2_normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32)


class DlibResNet:
    """dlib's 128-d ResNet (the model behind dlib's 99.38% LFW figure).

    Alignment is dlib's `get_face_chip` on the 5-point shape: 150x150 px, padding 0.25.
    With `flip`, the vector is the mean of the chip's and its mirror's descriptors (about twice the cost).
    """

    dim = 128
    aligner = "dlib-chip"
    CHIP_SIZE = 150
    CHIP_PADDING = 0.25

    def __init__(self, flip: bool = False, weights_dir: str | None = None, aligner: str | None = None,
                 batch_size: int | None = None) -> None:
        import dlib

        from facevault.faces.detect.dlib import DlibShape5

        self._dlib = dlib
        self.flip = flip
        self.weights_path = weights.dlib_file("dlib-resnet", weights_dir)
        self._net = dlib.face_recognition_model_v1(str(self.weights_path))
        self.landmarker = DlibShape5(weights_dir)

    @property
    def weights_sha256(self) -> str:
        return weights.sha256_file(self.weights_path)

    def align(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        from facevault.faces.detect.dlib import DLIB_SOURCES

        if det.source in DLIB_SOURCES and det.landmarks is not None and np.isfinite(det.landmarks).all():
            shape = self.landmarker.from_points(det)  # the detector's own dlib 5 points
        else:
            shape = self.landmarker.shape(rgb, det)  # other detectors' boxes: dlib's predictor on the box
        return np.asarray(self._dlib.get_face_chip(rgb, shape, size=self.CHIP_SIZE, padding=self.CHIP_PADDING))

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw 128-d descriptors (the pipeline normalises them and keeps the norms)."""
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        batch = [np.ascontiguousarray(c) for c in chips]
        if self.flip:
            batch += [np.ascontiguousarray(c[:, ::-1]) for c in chips]
        out = np.array([np.asarray(d, dtype=np.float32) for d in self._net.compute_face_descriptor(batch)])
        if self.flip:
            n = len(chips)
            out = (out[:n] + out[n:]) / 2.0
        return out
