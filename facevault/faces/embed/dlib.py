"""dlib's ResNet recognizer: 150 px dlib chips in, 128-d descriptors out."""

from __future__ import annotations

import numpy as np

from facevault.faces.embed.base import RGB_UINT8, BatchedRecognizer
from facevault.weights import locate as weights


class DlibResNet(BatchedRecognizer):
    """dlib's 128-d ResNet (the model behind dlib's 99.38% LFW figure), fed `get_face_chip` chips (the
    "dlib-chip" aligner: 150x150 px, padding 0.25).

    With `flip`, the vector is the mean of the chip's and its mirror's descriptors (about twice the cost).
    `batch_size` None computes every chip of a call in one dlib call.
    """

    dim = 128
    input_size = (150, 150)
    input_kind = RGB_UINT8

    def __init__(self, flip: bool = False, weights_dir: str | None = None, batch_size: int | None = None) -> None:
        import dlib

        self.flip = flip
        self.batch_size = int(batch_size) if batch_size else None
        self.weights_path = weights.dlib_file("dlib-resnet", weights_dir)
        self._net = dlib.face_recognition_model_v1(str(self.weights_path))

    @property
    def weights_sha256(self) -> str:
        return weights.sha256_file(self.weights_path)

    def forward(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw 128-d descriptors of one batch (mean with the mirror's when `flip`)."""
        batch = [np.ascontiguousarray(c) for c in chips]
        if self.flip:
            batch += [np.ascontiguousarray(c[:, ::-1]) for c in chips]
        out = np.array([np.asarray(d, dtype=np.float32) for d in self._net.compute_face_descriptor(batch)])
        if self.flip:
            n = len(chips)
            out = (out[:n] + out[n:]) / 2.0
        return out
