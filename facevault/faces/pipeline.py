"""One image through detect -> landmarks -> align -> embed, for one embedding space."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facevault.faces import imageio
from facevault.zoo import registry
from facevault.core.errors import FacevaultError, NoFace
from facevault.core.types import Detection, subject_index

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpaceSpec:
    """What defines an embedding space; vectors from different specs never mix."""

    model: str
    detector: str
    aligner_choice: str | None = None  # None: the recognizer's default

    @property
    def aligner(self) -> str:
        return registry.aligner_for(self.model, self.aligner_choice)

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
    vectors: dict[int, np.ndarray] = field(default_factory=dict)  # face idx -> unit vector
    norms: dict[int, float] = field(default_factory=dict)  # face idx -> raw norm
    error_kind: str | None = None
    error: str | None = None
    reused_faces: bool = False
    _rgb: np.ndarray | None = field(default=None, repr=False)  # only while in the pipeline

    @property
    def status(self) -> str:
        if self.error_kind:
            return "error"
        return "ok" if self.subject is not None else "no-face"


def unit(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised rows and their norms (recognizers return raw embeddings)."""
    raw = np.asarray(raw, dtype=np.float32)
    norms = np.linalg.norm(raw, axis=1)
    return (raw / np.maximum(norms, 1e-12)[:, None]).astype(np.float32), norms


class Pipeline:
    def __init__(self, spec: SpaceSpec, weights_dir: str | None = None, batch_size: int | None = None) -> None:
        self.spec = spec
        self.detector = registry.detector(spec.detector).build(weights_dir=weights_dir)
        extra = {"weights_dir": weights_dir, "aligner": spec.aligner}
        if batch_size:
            extra["batch_size"] = batch_size
        self.recognizer = registry.model(spec.model).build(**extra)

    def faces(self, rgb: np.ndarray) -> list[Detection]:
        dets = self.detector.detect(rgb)
        for d in dets:
            if d.landmarks is None and hasattr(self.recognizer, "landmarker"):
                d.landmarks = self.recognizer.landmarker.landmarks(rgb, d)
        return dets

    def embed_faces(self, rgb: np.ndarray, dets: list[Detection]) -> np.ndarray:
        """Unit vectors of these faces."""
        return unit(self.recognizer.embed([self.recognizer.align(rgb, d) for d in dets]))[0]

    def process_file(self, path: Path, sha256: str, known: list[Detection] | None = None) -> ImageResult:
        return self.process_files([(path, sha256, known)])[0]

    def process_files(self, items: list[tuple[Path, str, list[Detection] | None]]) -> list[ImageResult]:
        """Decode, detect and align each image, then embed all subject chips in one batched call."""
        results: list[ImageResult] = []
        chips: list[np.ndarray] = []
        owners: list[int] = []
        for path, sha256, known in items:
            res = self._detect_one(Path(path), sha256, known)
            results.append(res)
            if res.subject is not None and not res.error_kind:
                try:
                    chips.append(self.recognizer.align(res._rgb, res.faces[res.subject]))
                    owners.append(len(results) - 1)
                except Exception as exc:  # a face that cannot be aligned loses that image only
                    log.debug("alignment failure on %s", path, exc_info=True)
                    res.error_kind, res.error = "align", f"{type(exc).__name__}: {exc}"
            res._rgb = None
        if chips:
            try:
                vecs, norms = unit(self.recognizer.embed(chips))
            except Exception as exc:
                log.debug("embedding failure", exc_info=True)
                for i in owners:
                    results[i].error_kind, results[i].error = "embed", f"{type(exc).__name__}: {exc}"
                return results
            for i, v, n in zip(owners, vecs, norms):
                results[i].vectors = {results[i].subject: v}
                results[i].norms = {results[i].subject: float(n)}
        return results

    def _detect_one(self, path: Path, sha256: str, known: list[Detection] | None) -> ImageResult:
        try:
            decoded = imageio.load(path)
        except FacevaultError as exc:
            return ImageResult(sha256=sha256, error_kind=exc.kind, error=str(exc))
        except OSError as exc:
            return ImageResult(sha256=sha256, error_kind="unreadable", error=f"cannot read file: {exc.strerror or exc}")
        h, w = decoded.rgb.shape[:2]
        res = ImageResult(sha256=sha256, width=w, height=h)
        try:
            res.faces = known if known is not None else self.faces(decoded.rgb)
        except FacevaultError as exc:
            res.error_kind, res.error = exc.kind, str(exc)
            return res
        except Exception as exc:  # one bad image must not stop a dataset; the kind is recorded
            log.debug("detection failure on %s", path, exc_info=True)
            res.error_kind, res.error = "detect", f"{type(exc).__name__}: {exc}"
            return res
        res.reused_faces = known is not None
        res.subject = subject_index(res.faces, w, h)
        res._rgb = decoded.rgb
        return res

    def query(self, rgb: np.ndarray) -> tuple[list[Detection], np.ndarray]:
        """Every face of a query image and its vector (search embeds them all)."""
        dets = self.faces(rgb)
        if not dets:
            raise NoFace("no face found in the query image")
        return dets, self.embed_faces(rgb, dets)
