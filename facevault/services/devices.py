"""Which device each engine will run on, said once per command (GPU when present, CPU otherwise)."""

from __future__ import annotations

import os
from importlib.util import find_spec

from facevault.zoo import registry


def _onnxruntime() -> str:
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime not installed (pip install 'facevault[cpu]')"

    providers = onnxruntime.get_available_providers()
    return "onnxruntime CUDA" if "CUDAExecutionProvider" in providers else "onnxruntime CPU"


def _dlib() -> str:
    import dlib

    return "dlib CUDA" if getattr(dlib, "DLIB_USE_CUDA", False) else "dlib CPU"


def _dlib_resnet() -> str:
    """Where dlib's ResNet runs: onnxruntime on the graph converted from dlib's weights when it can (see
    facevault.faces.embed.dlib), else dlib (said without building the network)."""
    from facevault.faces.embed.dlib import engine_setting

    if engine_setting() != "dlib" and find_spec("onnxruntime") is not None and find_spec("onnx") is not None:
        return _onnxruntime() + " (dlib's weights, converted)"
    return _dlib()


def _tensorflow() -> str:
    import tensorflow as tf  # only reached when the user chose deepface's TensorFlow engine

    return "tensorflow GPU" if tf.config.list_physical_devices("GPU") else "tensorflow CPU"


def recognizer_device(model: str) -> str:
    entry = registry.model(model)
    if entry.source == "native":
        return _dlib_resnet()
    if entry.source == "deepface":
        engine = (os.environ.get("DEEPFACE_BACKEND_ENGINE") or "onnx").lower()
        if engine == "tensorflow" and find_spec("tensorflow") is not None:
            return "deepface " + _tensorflow()
        return "deepface " + _onnxruntime()
    return _onnxruntime()


def detector_device(detector: str) -> str:
    """Where a detector runs: dlib's HOG/MMOD, OpenCV's DNN (YuNet), onnxruntime, or deepface's engine."""
    entry = registry.detector(detector)
    if "inner" in entry.kwargs:  # DETECTOR+frame runs where DETECTOR does
        return detector_device(entry.kwargs["inner"])
    if entry.source == "deepface":
        return "deepface (its backend's own framework)"
    target = entry.target.split(":")[-1]
    if target.startswith("Dlib"):
        return _dlib()
    if target == "YuNet":
        return "OpenCV CPU"
    return _onnxruntime()


def index_device() -> str:
    try:
        import faiss
    except ImportError:
        return "faiss not installed (pip install 'facevault[cpu]')"

    try:
        return "faiss GPU" if faiss.get_num_gpus() > 0 else "faiss CPU"
    except AttributeError:
        return "faiss CPU"
