"""The registry: names to import paths, so naming one model imports only what it needs.

Entries are plain data, declared per source in `facevault.zoo.<source>` (native, onnx, deepface); reading
them imports no framework. `Entry.build()` imports the implementing module only when a model is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from facevault.core.errors import UnknownName

if TYPE_CHECKING:  # core.types imports numpy; naming entries (TAB completion) must not
    from facevault.core.types import Space

ZOO_MODULES = (
    "facevault.zoo.aligners",
    "facevault.zoo.native",
    "facevault.zoo.native_onnx",
    "facevault.zoo.onnx",
    "facevault.zoo.deepface",
    "facevault.zoo.user",
)


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # detector | recognizer | aligner
    source: str  # native | onnx | deepface
    target: str  # "module:attr"
    kwargs: dict = field(default_factory=dict)
    dim: int | None = None
    aligner: str | None = None  # recognizers: default aligner
    aligners: tuple[str, ...] = ()  # recognizers: aligners it accepts (default first)
    input: str = ""  # e.g. "1x3x112x112 RGB"
    weights: tuple[str, ...] = ()  # weights file names (see weights/manifest.toml)
    description: str = ""

    def build(self, **extra: Any) -> Any:
        module, _, attr = self.target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        return cls(**{**self.kwargs, **extra})


def refresh() -> None:
    """Forget the cached entries (after `facevault weights add` registers a model)."""
    _all.cache_clear()


@lru_cache(maxsize=1)
def _all() -> tuple[dict[str, Entry], dict[str, Entry], dict[str, Entry]]:
    detectors: dict[str, Entry] = {}
    models: dict[str, Entry] = {}
    aligners: dict[str, Entry] = {}
    by_kind = {"detector": detectors, "recognizer": models, "aligner": aligners}
    for mod in ZOO_MODULES:
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
            continue
        # a zoo module may compute its entries on demand (e.g. user-registered weights read from disk)
        entries = module.entries() if hasattr(module, "entries") else module.ENTRIES
        for e in entries:
            by_kind.get(e.kind, models)[e.name] = e
    return detectors, models, aligners


def detectors() -> dict[str, Entry]:
    return _all()[0]


def models() -> dict[str, Entry]:
    return _all()[1]


def aligners() -> dict[str, Entry]:
    return _all()[2]


def aligner(name: str) -> Entry:
    """The aligner entry a space names (`Space.aligner`)."""
    try:
        return aligners()[name]
    except KeyError:
        raise UnknownName("aligner", name, list(aligners())) from None


FRAME_SUFFIX = "+frame"  # DETECTOR+frame: the whole image when DETECTOR finds no face (facevault.faces.detect.frame)


def detector(name: str) -> Entry:
    """The detector entry of `name`; `DETECTOR+frame` is DETECTOR with a whole-frame fallback."""
    try:
        return detectors()[name]
    except KeyError:
        pass
    base = name[: -len(FRAME_SUFFIX)] if name.endswith(FRAME_SUFFIX) else None
    if base and not base.endswith(FRAME_SUFFIX) and base in detectors():
        inner = detectors()[base]
        return Entry(name, "detector", inner.source, "facevault.faces.detect.frame:WholeFrameFallback",
                     kwargs={"inner": base}, input=inner.input, weights=inner.weights,
                     description=f"{inner.description}; the whole image when it finds no face")
    raise UnknownName("detector", name, list(detectors()),
                      also=f"or any of them + {FRAME_SUFFIX!r}: the whole image when it finds no face")


def model(name: str) -> Entry:
    try:
        return models()[name]
    except KeyError:
        raise UnknownName("model", name, list(models())) from None


def aligner_for(model_name: str, aligner: str | None) -> str:
    """The aligner a space uses: the one asked for (if the model accepts it) or the model's default."""
    entry = model(model_name)
    if aligner is None:
        return entry.aligner or "none"
    accepted = entry.aligners or ((entry.aligner,) if entry.aligner else ())
    if aligner not in accepted:
        raise UnknownName(f"aligner for {model_name}", aligner, list(accepted))
    return aligner


def space(model_name: str, detector_name: str, aligner: str | None = None) -> Space:
    """The space these names make, with the model's default aligner when none is given and its dimension.

    Unknown names raise UnknownName listing the valid ones; an aligner the model cannot use is refused.
    """
    entry = model(model_name)
    detector(detector_name)
    from facevault.core.types import Space

    return Space(model_name, detector_name, aligner_for(model_name, aligner), int(entry.dim or 0))
