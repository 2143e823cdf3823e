"""One image through detect -> align -> embed, for one embedding space.

`Pipeline` receives its three stages (a `Detector`, an `Aligner`, a `Recognizer`), so a test or a runner can
swap any of them; `build_pipeline` builds them from the zoo registry for a `Space`. Importing this module
imports no framework: the stages import theirs when built.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from facevault.core.errors import FacevaultError, NoFace
from facevault.core.types import Detection, ImageResult, Space, subject_index, unit
from facevault.faces import imageio
from facevault.faces.align.base import Aligner, display_chip
from facevault.faces.detect.base import Detector
from facevault.faces.embed.base import Recognizer
from facevault.zoo import registry

__all__ = ["ImageResult", "Pipeline", "build_pipeline", "unit"]

log = logging.getLogger(__name__)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Pipeline:
    """The stages of one space: find faces, align them as the recognizer needs, embed them (unit vectors)."""

    def __init__(self, space: Space, detector: Detector, aligner: Aligner, recognizer: Recognizer) -> None:
        self.space = space
        self.detector = detector
        self.aligner = aligner
        self.recognizer = recognizer

    @property
    def weights_sha256(self) -> str | None:
        """sha256 of the recognizer's main weights file (None when it has none)."""
        return getattr(self.recognizer, "weights_sha256", None)

    def faces(self, rgb: np.ndarray) -> list[Detection]:
        """Every face the detector finds, with the landmarks it gives."""
        return self.detector.detect(rgb)

    def embed_faces(self, rgb: np.ndarray, dets: list[Detection]) -> np.ndarray:
        """Unit vectors of these faces of `rgb`, embedded in one batched call."""
        return unit(self.recognizer.embed([self.aligner.align(rgb, d) for d in dets]))[0]

    def thumbnail(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """The face as this space's aligner makes it, as uint8 RGB HxWx3 (for reports)."""
        return display_chip(self.aligner.align(rgb, det), self.aligner.input_kind)

    def query(self, rgb: np.ndarray) -> tuple[list[Detection], np.ndarray]:
        """Every face of a query image and its vector (search embeds them all); NoFace when there is none."""
        dets = self.faces(rgb)
        if not dets:
            raise NoFace("no face found in the query image")
        return dets, self.embed_faces(rgb, dets)

    def process_file(self, path: Path, sha256: str, known: list[Detection] | None = None) -> ImageResult:
        """`process_files` for one image."""
        return self.process_files([(path, sha256, known)])[0]

    def process_files(self, items: list[tuple[Path, str, list[Detection] | None]]) -> list[ImageResult]:
        """Decode, detect (unless the faces are known) and align each image's subject, then embed every subject
        chip in one batched call. A bad image marks only its own result; an embedding failure marks the batch."""
        results: list[ImageResult] = []
        chips: list[np.ndarray] = []
        owners: list[int] = []
        for path, sha256, known in items:
            res, rgb = self._detect_one(Path(path), sha256, known)
            results.append(res)
            if rgb is None or res.subject is None or res.error_kind:
                continue
            try:
                chips.append(self.aligner.align(rgb, res.faces[res.subject]))
                owners.append(len(results) - 1)
            except Exception as exc:  # a face that cannot be aligned loses that image only
                log.debug("alignment failure on %s", path, exc_info=True)
                res.fail("align", _why(exc))
        if not chips:
            return results
        try:
            vecs, norms = unit(self.recognizer.embed(chips))
        except Exception as exc:
            log.debug("embedding failure", exc_info=True)
            for i in owners:
                results[i].fail("embed", _why(exc))
            return results
        for i, v, n in zip(owners, vecs, norms):
            results[i].vectors = {results[i].subject: v}
            results[i].norms = {results[i].subject: float(n)}
        return results

    def _detect_one(self, path: Path, sha256: str,
                    known: list[Detection] | None) -> tuple[ImageResult, np.ndarray | None]:
        try:
            decoded = imageio.load(path)
        except FacevaultError as exc:
            return ImageResult(sha256=sha256).fail(exc.kind, str(exc)), None
        except OSError as exc:
            return ImageResult(sha256=sha256).fail("unreadable", f"cannot read file: {exc.strerror or exc}"), None
        h, w = decoded.rgb.shape[:2]
        res = ImageResult(sha256=sha256, width=w, height=h)
        try:
            res.faces = list(known) if known is not None else self.faces(decoded.rgb)
        except FacevaultError as exc:
            return res.fail(exc.kind, str(exc)), None
        except Exception as exc:  # one bad image must not stop a dataset; the kind is recorded
            log.debug("detection failure on %s", path, exc_info=True)
            return res.fail("detect", _why(exc)), None
        res.reused_faces = known is not None
        res.subject = subject_index(res.faces, w, h)
        return res, decoded.rgb


def build_pipeline(space: Space, weights_dir: str | None = None, batch_size: int | None = None) -> Pipeline:
    """The pipeline of `space` with its detector, recognizer and aligner built from the zoo registry.

    The aligner is the space's (refused when the model cannot use it) and is built for the recognizer's input
    size and kind. Unknown names raise UnknownName listing the valid ones; missing weights raise WeightsError.
    """
    aligner_name = registry.aligner_for(space.model, space.aligner)
    detector = registry.detector(space.detector).build(weights_dir=weights_dir)
    extra: dict = {"weights_dir": weights_dir}
    if batch_size:
        extra["batch_size"] = batch_size
    recognizer = registry.model(space.model).build(**extra)
    aligner = registry.aligner(aligner_name).build(input_size=tuple(recognizer.input_size),
                                                   input_kind=recognizer.input_kind, weights_dir=weights_dir)
    return Pipeline(space, detector, aligner, recognizer)
