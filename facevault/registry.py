"""The registry: names to import paths, so naming one model imports only what it needs."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from .errors import UnknownName


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # detector | recognizer
    source: str  # native | onnx | deepface
    target: str  # "module:attr"
    kwargs: dict = field(default_factory=dict)
    dim: int | None = None
    aligner: str | None = None
    description: str = ""

    def build(self, **extra: Any) -> Any:
        module, _, attr = self.target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        return cls(**{**self.kwargs, **extra})


DETECTORS: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("dlib-hog", "detector", "native", "facevault.detectors:DlibHog",
              description="dlib HOG, falling back to 2x upsampling then the MMOD CNN"),
        Entry("dlib-hog-only", "detector", "native", "facevault.detectors:DlibHog", {"fallback": False},
              description="dlib HOG with one upsampling, no fallback"),
        Entry("dlib-cnn", "detector", "native", "facevault.detectors:DlibCnn",
              description="dlib MMOD CNN"),
    )
}

MODELS: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("dlib", "recognizer", "native", "facevault.recognizers:DlibResNet", dim=128, aligner="dlib-chip",
              description="dlib ResNet 128-d, 5-point chip 150 px"),
        Entry("dlib+flip", "recognizer", "native", "facevault.recognizers:DlibResNet", {"flip": True}, dim=128,
              aligner="dlib-chip", description="dlib ResNet, mean of the chip and its mirror (2x cost)"),
    )
}


def detector(name: str) -> Entry:
    try:
        return DETECTORS[name]
    except KeyError:
        raise UnknownName("detector", name, list(DETECTORS)) from None


def model(name: str) -> Entry:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownName("model", name, list(MODELS)) from None
