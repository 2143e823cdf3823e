"""The "dlib-chip" aligner: dlib's `get_face_chip` on 5 dlib points (150 px, padding 0.25), what dlib's ResNet
was trained on."""

from __future__ import annotations

import numpy as np

from facevault.core.types import DLIB5, Detection
from facevault.faces.align.base import check_input
from facevault.faces.embed.base import RGB_UINT8


class DlibChipAligner:
    """dlib's face chip from the detection's DLIB5 points (dlib detectors give them: no second predictor run),
    else from dlib's 5-point predictor run on the box (other detectors), built on first need."""

    name = "dlib-chip"
    PADDING = 0.25

    def __init__(self, input_size: tuple[int, int] = (150, 150), input_kind: str = RGB_UINT8,
                 weights_dir: str | None = None) -> None:
        import dlib

        self.input_size, self.input_kind = check_input(self.name, input_size, input_kind, (RGB_UINT8,))
        self._dlib = dlib
        self._weights_dir = weights_dir
        self._predictor = None

    @property
    def predictor(self):
        """dlib's 5-point shape predictor, for faces that carry no DLIB5 points."""
        if self._predictor is None:
            from facevault.faces.detect.dlib import DlibShape5

            self._predictor = DlibShape5(self._weights_dir)
        return self._predictor

    def align(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """The uint8 RGB chip, `input_size` px square."""
        from facevault.faces.detect.dlib import shape_from_points

        own = det.points(DLIB5)
        shape = shape_from_points(self._dlib, det, own) if own is not None else self.predictor.shape(rgb, det)
        return np.asarray(self._dlib.get_face_chip(rgb, shape, size=self.input_size[0], padding=self.PADDING))
