"""ONNX recognizers described by data: an `OnnxSpec` (in `facevault.zoo.onnx_specs`) says the input size,
layout, colour order and mean/std.

One wrapper runs every ArcFace-family model (insightface, AdaFace, SFace, MobileFaceNet). The wrapper never
guesses the preprocessing from the graph's shapes; the spec states it, and the graph's declared input is only
checked against the spec so that a wrong spec fails at load time with a clear message. It takes uint8 RGB
chips of the spec's size from whichever aligner the space uses. Importing this module imports neither
onnxruntime nor OpenCV.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from facevault.core.errors import FacevaultError, WeightsError
from facevault.core.optional import require
from facevault.faces.embed.base import RGB_UINT8, BatchedRecognizer
from facevault.weights import locate as weights
from facevault.zoo.onnx_specs import SPECS, OnnxSpec

__all__ = ["CPU_BATCH", "CUDA_BATCH", "SPECS", "OnnxRecognizer", "OnnxSpec", "preprocess"]

log = logging.getLogger(__name__)

CPU_BATCH, CUDA_BATCH = 32, 256
_announced: set[str] = set()  # providers already logged in this process


def preprocess(chips: list[np.ndarray], spec: OnnxSpec) -> np.ndarray:
    """RGB uint8 HxWx3 chips -> one float32 batch in the model's layout, colour order and scaling."""
    s = spec.input_size
    batch = np.empty((len(chips), s, s, 3), dtype=np.float32)
    for i, chip in enumerate(chips):
        chip = np.asarray(chip)
        if chip.ndim != 3 or chip.shape[2] != 3:
            raise FacevaultError(f"a face chip must be HxWx3 RGB, got shape {chip.shape}")
        if chip.shape[:2] != (s, s):
            import cv2

            shrink = max(chip.shape[:2]) > s
            chip = cv2.resize(chip, (s, s), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        batch[i] = chip
    if spec.color == "BGR":
        batch = batch[..., ::-1]
    batch = (batch - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    if spec.layout == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32)


def ort_session(model: os.PathLike | str | bytes, threads: int | None = None) -> Any:
    """An onnxruntime session on CUDA when this onnxruntime offers it, else on the CPU, of a model file (or the
    model's bytes); `threads` caps the CPU threads of one call (default: onnxruntime's, every core)."""
    ort = require("onnxruntime", "to run ONNX recognizers")

    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # quantized graphs warn about unused initializers and shapes
    if threads:
        options.intra_op_num_threads = threads
    what = "a converted graph" if isinstance(model, bytes) else str(model)
    try:
        session = ort.InferenceSession(model if isinstance(model, bytes) else what, sess_options=options,
                                       providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise WeightsError(f"cannot load {what} with onnxruntime: {str(exc).splitlines()[0]}") from exc
    used = session.get_providers()[0]
    if used not in _announced:
        _announced.add(used)
        log.info("ONNX recognizers run on %s (available: %s)", used, ", ".join(ort.get_available_providers()))
    return session


def _declared_int(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class OnnxRecognizer(BatchedRecognizer):
    """An ArcFace-family recognizer run by onnxruntime, as its `OnnxSpec` describes it (uint8 RGB chips in)."""

    input_kind = RGB_UINT8

    def __init__(self, spec: OnnxSpec | dict, weights_dir: str | None = None, batch_size: int | None = None) -> None:
        self.spec = spec if isinstance(spec, OnnxSpec) else OnnxSpec.from_dict(spec)
        self.dim = self.spec.dim
        self.input_size = (self.spec.input_size, self.spec.input_size)
        self.weights_path = weights.find(self.spec.file, weights_dir)
        self._sha256 = self._verify()
        self._session = ort_session(self.weights_path)
        self.provider = self._session.get_providers()[0]
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise FacevaultError(f"{self.spec.file}: the graph has {len(inputs)} inputs ({names}); need exactly one")
        self.input_name = inputs[0].name
        self.output_name = self._session.get_outputs()[0].name
        self._check_graph(inputs[0].shape, self._session.get_outputs()[0].shape)
        default = CUDA_BATCH if self.provider == "CUDAExecutionProvider" else CPU_BATCH
        self.fixed_batch = self.spec.fixed_batch
        self.batch_size = self.spec.fixed_batch or max(1, int(batch_size or default))
        self._one_at_a_time = False

    def _verify(self) -> str:
        digest = weights.sha256_file(self.weights_path)
        expected = self.spec.sha256
        if expected and not digest.startswith(expected.lower()):
            raise WeightsError(
                f"{self.spec.file} fails its checksum: sha256 {digest[:16]}... but the spec expects "
                f"{expected[:16]}... ({self.weights_path}); replace the file or register it with its own sha256"
            )
        return digest

    def _check_graph(self, in_shape: list, out_shape: list) -> None:
        """Refuse a spec the graph's declared input contradicts (fixed dims only; dynamic dims pass)."""
        s, spec = self.spec.input_size, self.spec
        want = [spec.fixed_batch, 3, s, s] if spec.layout == "NCHW" else [spec.fixed_batch, s, s, 3]
        declared = [_declared_int(d) for d in in_shape]
        bad = len(in_shape) != 4 or any(
            d is not None and w is not None and d != w for d, w in zip(declared[1:], want[1:])
        )
        if declared and declared[0] is not None and declared[0] != spec.fixed_batch:
            bad = True  # a graph with a fixed batch only runs that batch
        if bad:
            raise FacevaultError(
                f"{spec.file}: the spec says input {spec.input_label()} but the graph's input "
                f"{self.input_name!r} is {list(in_shape)}; fix the spec"
            )
        feat = [_declared_int(d) for d in out_shape[1:]]
        if feat and all(d is not None for d in feat) and int(np.prod(feat)) != spec.dim:
            raise FacevaultError(
                f"{spec.file}: the spec says {spec.dim}-d but the graph's output {self.output_name!r} "
                f"is {list(out_shape)}; fix the spec"
            )

    @property
    def weights_sha256(self) -> str:
        return self._sha256

    def _run(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if self._one_at_a_time and n > 1:
            return np.concatenate([self._run(x[i : i + 1]) for i in range(n)])
        out = np.asarray(self._session.run([self.output_name], {self.input_name: x})[0], dtype=np.float32)
        if out.shape[0] != n:
            if n > 1 and out.shape[0] == 1:
                # some quantized graphs hard-wire batch 1 in a reshape: their batched output is not per face
                log.warning("%s returned 1 row for a batch of %d; running it one face at a time", self.spec.file, n)
                self._one_at_a_time = True
                return self._run(x)
            raise FacevaultError(f"{self.spec.file}: output {self.output_name!r} has shape {out.shape} for {n} faces")
        out = out.reshape(n, -1)
        if out.shape[1] != self.dim:
            raise FacevaultError(f"{self.spec.file}: got {out.shape[1]}-d embeddings, the spec says {self.dim}")
        return out

    def forward(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw embeddings of one batch (the base class pads it to the graph's fixed batch)."""
        return self._run(preprocess(chips, self.spec))
