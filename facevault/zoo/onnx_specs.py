"""ONNX recognizer specs: how to feed each model (input size, layout, colour order, mean/std), as data.

`OnnxSpec` is what `facevault.faces.embed.onnx.OnnxRecognizer` runs a graph by; `SPECS` are the known models.
Data only: importing this module imports neither onnxruntime nor OpenCV, so the registry reads it freely.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from facevault.core.errors import FacevaultError

Channels = float | tuple[float, float, float]

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
        if 0 in (self.std if isinstance(self.std, tuple) else (self.std,)):  # plain floats: no numpy at import
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
