"""Verify: are two images the same person? Answered in a store's embedding space, at its calibrated threshold.

Each image's subject face (the largest face nearest the centre, as at ingest) is embedded with the space's
own detector, aligner and recognizer, so the score is comparable with the stored vectors and with the
threshold `facevault evaluate` chose for that space.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from facevault.core.errors import FacevaultError, ImageError, NoFace
from facevault.core.types import Detection, SpaceRecord, subject_index
from facevault.faces import imageio
from facevault.faces.pipeline import Pipeline

log = logging.getLogger(__name__)


@dataclass
class FaceInfo:
    """The subject face used for one image, and how many faces the image has."""

    path: str
    faces: int
    subject: int
    box: list[int]
    detector_score: float


@dataclass
class VerifyResult:
    a: str
    b: str
    score: float  # cosine similarity of the two subject faces
    threshold: float | None
    threshold_source: str | None
    verdict: str | None  # "same", "different", or None without a calibrated threshold
    space: str
    faces_a: int
    faces_b: int
    face_a: FaceInfo
    face_b: FaceInfo

    @property
    def margin(self) -> float | None:
        """How far the score is from the threshold (positive: on the "same" side)."""
        return None if self.threshold is None else self.score - self.threshold

    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"] = round(self.score, 6)
        d["margin"] = None if self.margin is None else round(self.margin, 6)
        return d


def subject_vector(pipeline: Pipeline, path: Path) -> tuple[np.ndarray, FaceInfo]:
    """The unit vector of an image's subject face; NoFace (naming the file) when it has none."""
    try:
        rgb = imageio.load(path).rgb
    except ImageError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except OSError as exc:
        raise FacevaultError(f"cannot read {path}: {exc.strerror or exc}") from None
    dets: list[Detection] = pipeline.faces(rgb)
    h, w = rgb.shape[:2]
    i = subject_index(dets, w, h)
    if i is None:
        raise NoFace(f"no face found in {path}")
    d = dets[i]
    vec = pipeline.embed_faces(rgb, [d])[0]
    if len(dets) > 1:
        log.info("%s has %d faces; using face %d (largest nearest the centre)", path, len(dets), i)
    info = FaceInfo(str(path), len(dets), i, d.box, round(float(d.score), 4))
    return vec, info


def verify(record: SpaceRecord, pipeline: Pipeline, a: Path, b: Path, threshold: float | None = None) -> VerifyResult:
    """Cosine score of the subject faces of `a` and `b`, and the verdict at the space's calibrated threshold
    (or at `threshold` when given)."""
    va, fa = subject_vector(pipeline, Path(a))
    vb, fb = subject_vector(pipeline, Path(b))
    score = float(np.dot(va.astype(np.float64), vb.astype(np.float64)))
    thr = record.threshold if threshold is None else float(threshold)
    source = (record.threshold_source if threshold is None else "given with --threshold") if thr is not None else None
    verdict = None if thr is None else ("same" if score >= thr else "different")
    return VerifyResult(str(a), str(b), score, thr, source, verdict, record.label, fa.faces, fb.faces, fa, fb)
