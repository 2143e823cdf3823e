"""One image through detect -> landmarks -> align -> embed, for one embedding space."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import imageio, registry
from .errors import FacevaultError, NoFace
from .faces import Detection, subject_index

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpaceSpec:
    """What defines an embedding space; vectors from different specs never mix."""

    model: str
    detector: str

    @property
    def aligner(self) -> str:
        return registry.model(self.model).aligner or "none"

    @property
    def dim(self) -> int:
        return int(registry.model(self.model).dim or 0)

    @property
    def label(self) -> str:
        return f"{self.model} / {self.detector} / {self.aligner}"


@dataclass
class ImageResult:
    """What ingest stores for one image content; `error_kind` set when it could not be used."""

    sha256: str
    width: int = 0
    height: int = 0
    faces: list[Detection] = field(default_factory=list)
    subject: int | None = None
    vectors: dict[int, np.ndarray] = field(default_factory=dict)  # face idx -> vector
    error_kind: str | None = None
    error: str | None = None
    reused_faces: bool = False

    @property
    def status(self) -> str:
        if self.error_kind:
            return "error"
        return "ok" if self.subject is not None else "no-face"


class Pipeline:
    def __init__(self, spec: SpaceSpec, weights_dir: str | None = None) -> None:
        self.spec = spec
        self.detector = registry.detector(spec.detector).build(weights_dir=weights_dir)
        self.recognizer = registry.model(spec.model).build(weights_dir=weights_dir)

    def faces(self, rgb: np.ndarray) -> list[Detection]:
        dets = self.detector.detect(rgb)
        for d in dets:
            if d.landmarks is None and hasattr(self.recognizer, "landmarker"):
                d.landmarks = self.recognizer.landmarker.landmarks(rgb, d)
        return dets

    def embed_faces(self, rgb: np.ndarray, dets: list[Detection]) -> np.ndarray:
        chips = [self.recognizer.align(rgb, d) for d in dets]
        return self.recognizer.embed(chips)

    def process(self, rgb: np.ndarray, sha256: str, known: list[Detection] | None = None,
                all_faces: bool = False) -> ImageResult:
        h, w = rgb.shape[:2]
        res = ImageResult(sha256=sha256, width=w, height=h)
        res.faces = known if known is not None else self.faces(rgb)
        res.reused_faces = known is not None
        res.subject = subject_index(res.faces, w, h)
        if res.subject is None:
            return res
        idx = list(range(len(res.faces))) if all_faces else [res.subject]
        vecs = self.embed_faces(rgb, [res.faces[i] for i in idx])
        res.vectors = {i: v for i, v in zip(idx, vecs)}
        return res

    def process_file(self, path: Path, sha256: str, known: list[Detection] | None = None) -> ImageResult:
        try:
            decoded = imageio.load(path)
        except FacevaultError as exc:
            return ImageResult(sha256=sha256, error_kind=exc.kind, error=str(exc))
        except OSError as exc:
            return ImageResult(sha256=sha256, error_kind="unreadable", error=f"cannot read file: {exc.strerror or exc}")
        try:
            return self.process(decoded.rgb, sha256, known)
        except FacevaultError as exc:
            return ImageResult(sha256=sha256, error_kind=exc.kind, error=str(exc))
        except Exception as exc:  # one bad image must not stop a dataset; the kind is recorded
            log.debug("pipeline failure on %s", path, exc_info=True)
            return ImageResult(sha256=sha256, error_kind="pipeline", error=f"{type(exc).__name__}: {exc}")

    def query(self, rgb: np.ndarray) -> tuple[list[Detection], np.ndarray]:
        """Every face of a query image and its vector (search embeds them all)."""
        dets = self.faces(rgb)
        if not dets:
            raise NoFace("no face found in the query image")
        return dets, self.embed_faces(rgb, dets)
