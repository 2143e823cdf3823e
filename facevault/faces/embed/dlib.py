"""dlib's ResNet recognizer: 150 px dlib chips in, 128-d descriptors out.

Two engines run the same weights: onnxruntime, on a graph converted from dlib's own weights file and checked
against dlib (`facevault.faces.embed.dlib_onnx`; ~3 ms a chip on one core, on CUDA where onnxruntime has it),
and dlib itself (~75-90 ms a chip with the `dlib-bin` wheel, which has no BLAS). `FACEVAULT_DLIB_ENGINE`
chooses: `auto` (default: onnxruntime when it and `onnx` are installed and the conversion checks out, else
dlib), `onnx` (fail when it cannot be used) or `dlib`. Their descriptors differ by float rounding (~4e-7 on real
faces), so a space's vectors stay comparable whichever engine made them.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from facevault.core.errors import FacevaultError, WeightsError
from facevault.faces.embed.base import RGB_UINT8, BatchedRecognizer
from facevault.weights import locate as weights

log = logging.getLogger(__name__)

ENGINES = ("auto", "onnx", "dlib")


def engine_setting() -> str:
    """FACEVAULT_DLIB_ENGINE, checked."""
    value = (os.environ.get("FACEVAULT_DLIB_ENGINE") or "auto").strip().lower()
    if value not in ENGINES:
        raise FacevaultError(f"FACEVAULT_DLIB_ENGINE={value!r}: valid values are {', '.join(ENGINES)}")
    return value


class DlibResNet(BatchedRecognizer):
    """dlib's 128-d ResNet (the model behind dlib's 99.38% LFW figure), fed `get_face_chip` chips (the
    "dlib-chip" aligner: 150x150 px, padding 0.25).

    With `flip`, the vector is the mean of the chip's and its mirror's descriptors (about twice the cost).
    `batch_size` None computes every chip of a call in one call of the engine.
    """

    dim = 128
    input_size = (150, 150)
    input_kind = RGB_UINT8

    def __init__(self, flip: bool = False, weights_dir: str | None = None, batch_size: int | None = None) -> None:
        self.flip = flip
        self.batch_size = int(batch_size) if batch_size else None
        self.weights_path = weights.dlib_file("dlib-resnet", weights_dir)
        self._net: Any = None
        self._session: Any = None
        choice = engine_setting()
        if choice != "dlib":
            try:
                self._session = self._onnx_session()
            except Exception as exc:  # noqa: BLE001 - any failure of the fast path leaves dlib's own engine
                if choice == "onnx":
                    raise WeightsError(f"FACEVAULT_DLIB_ENGINE=onnx, but dlib's ResNet cannot run on onnxruntime: "
                                       f"{exc}") from exc
                log.debug("dlib's ResNet runs on dlib: %s", exc)
        if self._session is None:
            import dlib

            self._net = dlib.face_recognition_model_v1(str(self.weights_path))
        self.engine = "dlib" if self._session is None else "onnxruntime " + self._session.get_providers()[0]

    def _onnx_session(self) -> Any:
        from facevault.faces.embed.dlib_onnx import cached_graph
        from facevault.faces.embed.onnx import ort_session

        # one thread: ingest runs a worker per core, and one query's few chips gain little from more
        return ort_session(cached_graph(self.weights_path), threads=1)

    @property
    def weights_sha256(self) -> str:
        return weights.sha256_file(self.weights_path)

    def forward(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw 128-d descriptors of one batch (mean with the mirror's when `flip`)."""
        batch = [np.ascontiguousarray(c) for c in chips]
        if self.flip:
            batch += [np.ascontiguousarray(c[:, ::-1]) for c in chips]
        if self._session is not None:
            from facevault.faces.embed.dlib_onnx import nchw

            out = np.asarray(self._session.run(None, {"image": nchw(batch)})[0], dtype=np.float32)
        else:
            out = np.array([np.asarray(d, dtype=np.float32) for d in self._net.compute_face_descriptor(batch)])
        if self.flip:
            n = len(chips)
            out = (out[:n] + out[n:]) / 2.0
        return out
