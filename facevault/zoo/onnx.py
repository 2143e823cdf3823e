"""ONNX recognizer entries: one `OnnxSpec` each, run by `facevault.faces.embed.onnx.OnnxRecognizer`.

Data only: the specs (`facevault.zoo.onnx_specs`) import neither onnxruntime nor OpenCV, nor anything of `faces`.
"""

from facevault.zoo.onnx_specs import SPECS, OnnxSpec
from facevault.zoo.registry import Entry

TARGET = "facevault.faces.embed.onnx:OnnxRecognizer"


def entry(name: str, spec: OnnxSpec, description: str | None = None) -> Entry:
    """The registry entry of one ONNX recognizer spec."""
    return Entry(
        name, "recognizer", "onnx", TARGET,
        kwargs={"spec": spec.to_dict()},
        dim=spec.dim,
        aligner=spec.aligner,
        aligners=(spec.aligner, "deepface"),
        input=spec.input_label(),
        weights=(spec.file,),
        description=description or DESCRIPTIONS.get(name, spec.file),
    )


DESCRIPTIONS = {
    "sface": "OpenCV SFace 128-d, int8 block-quantized (the shared offline copy)",
    "sface-fp32": "OpenCV SFace 128-d, fp32 (the file deepface's SFace uses)",
    "arcface-mbf": "InsightFace MobileFaceNet 512-d, WebFace600K, int8 (buffalo_s recognizer)",
    "mobilefacenet-192": "MobileFaceNet 192-d (TFLite converted to ONNX), NHWC, batch fixed to 2",
    "arcface-r50": "InsightFace ResNet-50 512-d, WebFace600K (buffalo_l recognizer)",
    "arcface-r100": "InsightFace ResNet-100 512-d, Glint360K (antelopev2 recognizer)",
    "adaface-ir18": "AdaFace IR-18 512-d, WebFace4M (exported to ONNX)",
    "adaface-ir50": "AdaFace IR-50 512-d, WebFace4M (exported to ONNX)",
    "adaface-ir101": "AdaFace IR-101 512-d, WebFace12M (exported to ONNX)",
}

ENTRIES = [entry(name, spec) for name, spec in SPECS.items()]
