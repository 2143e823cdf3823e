"""ONNX recognizers described by data: a spec says the input size, layout, colour order and mean/std.

One wrapper runs every ArcFace-template model (insightface, AdaFace, SFace, MobileFaceNet). The wrapper never
guesses the preprocessing from the graph's shapes; the spec states it, and the graph's declared input is only
checked against the spec so that a wrong spec fails at load time with a clear message.
Importing this module imports neither onnxruntime nor OpenCV (the registry reads `SPECS` as data).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from facevault.weights import locate as weights
from facevault.faces.align.arcface import arcface_crop
from facevault.core.errors import FacevaultError, UnknownName, WeightsError
from facevault.core.types import Detection
from facevault.faces.landmarks import Dlib68To5, has_five_points

log = logging.getLogger(__name__)

Channels = float | tuple[float, float, float]

ALIGNERS = ("arcface", "deepface")  # the template (default), or deepface's rotation crop for comparison
CPU_BATCH, CUDA_BATCH = 32, 256
_announced: set[str] = set()  # providers already logged in this process


def _channels(value: Any, what: str) -> Channels:
    if isinstance(value, (list, tuple)):
        if len(value) != 3:
            raise FacevaultError(f"onnx spec: {what} must be one number or three (one per channel), got {value!r}")
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    return float(value)


@dataclass(frozen=True)
class OnnxSpec:
    """How to feed one ONNX recognizer. Pixels are 0..255; the model sees (x - mean) / std.

    A 3-tuple mean/std is per channel in the model's colour order (`color`), after the RGB->BGR swap if any.
    `fixed_batch` is the batch every call must have (the graph's fixed batch, or 1 where batching changes
    the result, as with dynamically quantized graphs); None lets `batch_size` decide.
    """

    file: str
    sha256: str | None
    input_size: int
    layout: str  # "NCHW" | "NHWC"
    color: str  # "RGB" | "BGR"
    mean: Channels
    std: Channels
    dim: int
    fixed_batch: int | None = None
    aligner: str = "arcface"
    url: str | None = None
    licence: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        where = f"onnx spec for {self.file!r}"
        if not self.file or "/" in self.file or "\\" in self.file:
            raise FacevaultError(f"{where}: file must be a bare file name")
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{8,64}", self.sha256):
            raise FacevaultError(f"{where}: sha256 must be hex digits (or null), got {self.sha256!r}")
        if self.layout not in ("NCHW", "NHWC"):
            raise FacevaultError(f"{where}: layout must be NCHW or NHWC, got {self.layout!r}")
        if self.color not in ("RGB", "BGR"):
            raise FacevaultError(f"{where}: color must be RGB or BGR, got {self.color!r}")
        if self.aligner != "arcface":
            raise FacevaultError(f"{where}: aligner must be 'arcface', got {self.aligner!r}")
        for name in ("input_size", "dim"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise FacevaultError(f"{where}: {name} must be a positive integer")
        if self.fixed_batch is not None and (not isinstance(self.fixed_batch, int) or self.fixed_batch <= 0):
            raise FacevaultError(f"{where}: fixed_batch must be a positive integer or null")
        object.__setattr__(self, "mean", _channels(self.mean, "mean"))
        object.__setattr__(self, "std", _channels(self.std, "std"))
        if np.any(np.asarray(self.std, dtype=float) == 0):
            raise FacevaultError(f"{where}: std must not be zero")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OnnxSpec":
        """A spec from JSON-ready data (as `to_dict` writes it); unknown keys are refused."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise FacevaultError(f"onnx spec: unknown keys {', '.join(unknown)} (valid: {', '.join(sorted(valid))})")
        missing = sorted(f.name for f in fields(cls) if f.name not in data and f.name in _REQUIRED)
        if missing:
            raise FacevaultError(f"onnx spec: missing keys {', '.join(missing)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def input_label(self) -> str:
        """e.g. "Nx3x112x112 RGB (x-127.5)/127.5"."""
        b = str(self.fixed_batch) if self.fixed_batch else "N"
        s = self.input_size
        shape = f"{b}x3x{s}x{s}" if self.layout == "NCHW" else f"{b}x{s}x{s}x3"

        def fmt(v: Channels) -> str:
            return "(" + ",".join(f"{x:g}" for x in v) + ")" if isinstance(v, tuple) else f"{v:g}"

        if self.mean == 0.0 and self.std == 1.0:
            scaling = "raw 0..255"
        else:
            scaling = f"(x-{fmt(self.mean)})/{fmt(self.std)}"
        return f"{shape} {self.color} {scaling}"


_REQUIRED = frozenset({"file", "sha256", "input_size", "layout", "color", "mean", "std", "dim"})


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


def _session(path: os.PathLike) -> Any:
    """An onnxruntime session on CUDA when this onnxruntime offers it, else on the CPU."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # quantized graphs warn about unused initializers and shapes
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise WeightsError(f"cannot load {path} with onnxruntime: {str(exc).splitlines()[0]}") from exc
    used = session.get_providers()[0]
    if used not in _announced:
        _announced.add(used)
        log.info("ONNX recognizers run on %s (available: %s)", used, ", ".join(ort.get_available_providers()))
    return session


def _declared_int(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class OnnxRecognizer:
    """An ArcFace-template recognizer run by onnxruntime, as its `OnnxSpec` describes it."""

    def __init__(self, spec: OnnxSpec | dict, weights_dir: str | None = None, aligner: str | None = None,
                 batch_size: int | None = None) -> None:
        self.spec = spec if isinstance(spec, OnnxSpec) else OnnxSpec.from_dict(spec)
        if aligner not in (None,) + ALIGNERS:
            raise UnknownName(f"aligner for {self.spec.file}", aligner, list(ALIGNERS))
        self.dim = self.spec.dim
        self.aligner = aligner or self.spec.aligner
        self._weights_dir = weights_dir
        self._landmarker: Dlib68To5 | None = None
        self.weights_path = weights.find(self.spec.file, weights_dir)
        self._sha256 = self._verify()
        self._session = _session(self.weights_path)
        self.provider = self._session.get_providers()[0]
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise FacevaultError(f"{self.spec.file}: the graph has {len(inputs)} inputs ({names}); need exactly one")
        self.input_name = inputs[0].name
        self.output_name = self._session.get_outputs()[0].name
        self._check_graph(inputs[0].shape, self._session.get_outputs()[0].shape)
        default = CUDA_BATCH if self.provider == "CUDAExecutionProvider" else CPU_BATCH
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

    @property
    def landmarker(self) -> Dlib68To5:
        """ArcFace-order 5 points for detections that carry none (built on first use)."""
        if self._landmarker is None:
            self._landmarker = Dlib68To5(self._weights_dir)
        return self._landmarker

    def align(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """The ArcFace-template chip: the detector's 5 points when it gives ArcFace-order ones, else dlib's 68.

        With the "deepface" aligner, deepface's eye-rotation crop resized and padded instead (for comparison).
        """
        if self.aligner == "deepface":
            from facevault.faces.deepface_backend import deepface_chip

            return deepface_chip(rgb, det, self.spec.input_size, self.landmarker)
        if has_five_points(det):
            points = det.landmarks
        else:
            points = self.landmarker.landmarks(rgb, det)
            if det.landmarks is None:
                det.landmarks = points
        return arcface_crop(rgb, points, self.spec.input_size)

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

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw (n, dim) float32 embeddings (not normalised), in batches the graph accepts."""
        out = [np.zeros((0, self.dim), np.float32)]
        fixed = self.spec.fixed_batch
        for start in range(0, len(chips), self.batch_size):
            part = list(chips[start : start + self.batch_size])
            k = len(part)
            if fixed and k < fixed:
                part += [part[-1]] * (fixed - k)  # pad with a repeat; the padding rows are dropped
            out.append(self._run(preprocess(part, self.spec))[:k])
        return np.concatenate(out).astype(np.float32, copy=False)


_INSIGHTFACE_LICENCE = "InsightFace pretrained models: non-commercial research use only"
_ADAFACE_NOTES = ("exported from the official AdaFace checkpoint (github.com/mk-minchul/AdaFace) by "
                  "scripts/export_adaface_onnx.py with a dynamic batch axis; preprocessing as AdaFace's to_input "
                  "(BGR, (x/255-0.5)/0.5); no published ONNX file, so no sha256 here")


def _adaface(file: str, what: str) -> OnnxSpec:
    return OnnxSpec(file=file, sha256=None, input_size=112, layout="NCHW", color="BGR", mean=127.5, std=127.5,
                    dim=512, url=None, licence="MIT (AdaFace code and checkpoints)", notes=f"{what}; {_ADAFACE_NOTES}")


SPECS: dict[str, OnnxSpec] = {
    "sface": OnnxSpec(
        file="face_recognition_sface_2021dec_int8bq.onnx",
        sha256="487a139eb85ccd5ff30aef7d0add7f12d2bb7abb90c5f08a7f481b452a660e00",
        input_size=112, layout="NCHW", color="RGB", mean=0.0, std=1.0, dim=128, fixed_batch=1,
        url="https://github.com/opencv/opencv_zoo/raw/main/models/face_recognition_sface/"
            "face_recognition_sface_2021dec_int8bq.onnx",
        licence="Apache-2.0 (OpenCV zoo)",
        notes="SFace, int8 block-quantized, graph batch fixed to 1, input 'data'; the sha256 is of the copy "
              "checked here, the download at `url` was not verified against it",
    ),
    "sface-fp32": OnnxSpec(
        file="face_recognition_sface_2021dec.onnx", sha256=None,
        input_size=112, layout="NCHW", color="RGB", mean=0.0, std=1.0, dim=128, fixed_batch=1,
        url="https://github.com/opencv/opencv_zoo/raw/main/models/face_recognition_sface/"
            "face_recognition_sface_2021dec.onnx",
        licence="Apache-2.0 (OpenCV zoo)",
        notes="SFace fp32, the file deepface's SFace downloads (batch 1 as deepface runs it); not available "
              "here, so neither its checksum nor its shapes were verified",
    ),
    "arcface-mbf": OnnxSpec(
        file="w600k_mbf_int8.onnx",
        sha256="7caa7fb0ad6c37b33e6c59f6411084b487aaabd596bba645d2cce391a5871120",
        input_size=112, layout="NCHW", color="RGB", mean=127.5, std=127.5, dim=512, fixed_batch=1,
        url=None, licence=_INSIGHTFACE_LICENCE,
        notes="InsightFace MobileFaceNet, ArcFace loss, WebFace600K (buffalo_s recognizer), dynamic int8. "
              "Run one face at a time: dynamic quantization scales activations over the whole batch, so a "
              "batched face's vector depends on its batch-mates. The fp32 w600k_mbf.onnx is in "
              "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_s.zip",
    ),
    "mobilefacenet-192": OnnxSpec(
        file="mobilefacenet_192.onnx",
        sha256="21a2621c5a03c4fed8c5b8106dd53c11e7b30b307fec86610fb682bb135b9395",
        input_size=112, layout="NHWC", color="RGB", mean=127.5, std=128.0, dim=192, fixed_batch=2,
        url=None, licence="MIT",
        notes="MobileFaceNet 192-d, from an MIT-licensed npm package's TFLite converted with tf2onnx; "
              "graph batch fixed to 2",
    ),
    "arcface-r50": OnnxSpec(
        file="w600k_r50.onnx", sha256=None,
        input_size=112, layout="NCHW", color="RGB", mean=127.5, std=127.5, dim=512,
        url="https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",
        licence=_INSIGHTFACE_LICENCE,
        notes="InsightFace ResNet-50, ArcFace loss, WebFace600K (buffalo_l recognizer); `url` is the zip "
              "holding it; not available here, so neither its checksum nor its shapes were verified",
    ),
    "arcface-r100": OnnxSpec(
        file="glintr100.onnx", sha256=None,
        input_size=112, layout="NCHW", color="RGB", mean=127.5, std=127.5, dim=512,
        url="https://github.com/deepinsight/insightface/releases/download/v0.7/antelopev2.zip",
        licence=_INSIGHTFACE_LICENCE,
        notes="InsightFace ResNet-100, Glint360K (antelopev2 recognizer); `url` is the zip insightface's "
              "FaceAnalysis fetches; not available here, so neither the link, its checksum nor its shapes "
              "were verified",
    ),
    "adaface-ir18": _adaface("adaface_ir18_webface4m.onnx", "AdaFace IR-18, WebFace4M"),
    "adaface-ir50": _adaface("adaface_ir50_webface4m.onnx", "AdaFace IR-50, WebFace4M"),
    "adaface-ir101": _adaface("adaface_ir101_webface12m.onnx", "AdaFace IR-101, WebFace12M"),
}
