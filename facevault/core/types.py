"""The values every layer passes around: an embedding space, a detection with its landmarks, one image's
result, and the stored vectors of a space. Plain data; no I/O, no framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# ---------------------------------------------------------------- spaces


@dataclass(frozen=True)
class Space:
    """An embedding space: recognizer + detector + aligner. Vectors from different spaces never mix.

    `dim` and `metric` describe the vectors; they are facts of the model, not part of the space's identity
    (two spaces are the same space when model, detector and aligner are).
    """

    model: str
    detector: str
    aligner: str
    dim: int = 0
    metric: str = "cosine"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model, self.detector, self.aligner)

    @property
    def label(self) -> str:
        return f"{self.model} / {self.detector} / {self.aligner}"

    def __str__(self) -> str:
        return self.label

    def same_as(self, other: "Space") -> bool:
        return self.key == other.key


@dataclass(frozen=True)
class SpaceRecord:
    """A space as the catalog holds it: the space plus what was learnt about it."""

    id: int
    space: Space
    revision: int = 0
    threshold: float | None = None  # cosine; "same" iff score >= threshold
    threshold_source: str | None = None  # which protocol and rule produced it
    images_per_second: float | None = None
    weights_sha256: str | None = None
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    # the space's own fields, for brevity at the call sites
    @property
    def model(self) -> str:
        return self.space.model

    @property
    def detector(self) -> str:
        return self.space.detector

    @property
    def aligner(self) -> str:
        return self.space.aligner

    @property
    def dim(self) -> int:
        return self.space.dim

    @property
    def label(self) -> str:
        return self.space.label


# ---------------------------------------------------------------- detections

#: Landmark schemes: what each point of a `Landmarks` array means.
ARCFACE5 = "arcface5"  # left eye (smaller x in the image), right eye, nose tip, left and right mouth corners
DLIB5 = "dlib5"  # dlib's 5-point shape predictor: eye corners (2 per eye) and the base of the nose
IBUG68 = "ibug68"  # the iBUG 300-W 68 points
SCHEMES = (ARCFACE5, DLIB5, IBUG68)
_SIZES = {ARCFACE5: 5, DLIB5: 5, IBUG68: 68}


@dataclass(frozen=True, eq=False)
class Landmarks:
    """Facial points set by the detector that found the face, and what they mean (`scheme`).

    `points` is (n, 2) float32 (x, y) in full-resolution image pixels; a point the detector does not give
    is NaN (deepface's backends give eyes only, for example). Stages read landmarks; they never change them.
    """

    points: np.ndarray
    scheme: str

    def __post_init__(self) -> None:
        if self.scheme not in _SIZES:
            raise ValueError(f"unknown landmark scheme {self.scheme!r} (valid: {', '.join(SCHEMES)})")
        pts = np.array(self.points, dtype=np.float32).reshape(-1, 2)
        if len(pts) != _SIZES[self.scheme]:
            raise ValueError(f"{self.scheme} landmarks need {_SIZES[self.scheme]} points, got {len(pts)}")
        pts.setflags(write=False)
        object.__setattr__(self, "points", pts)

    @property
    def complete(self) -> bool:
        """Every point is known (no NaN)."""
        return bool(np.isfinite(self.points).all())

    def to_list(self) -> list[float | None]:
        """JSON-ready x1, y1, ... xn, yn; a point the detector does not give is null."""
        return [None if np.isnan(v) else round(float(v), 2) for v in self.points.reshape(-1)]

    @classmethod
    def from_list(cls, values: list | None, scheme: str | None) -> "Landmarks | None":
        if values is None or scheme is None:
            return None
        return cls(np.array([np.nan if v is None else v for v in values], np.float32), scheme)


@dataclass(frozen=True)
class Detection:
    """One face in full-resolution pixel coordinates, as the detector found it."""

    x: float
    y: float
    w: float
    h: float
    score: float
    source: str  # which detector pass found it, e.g. "hog-up1", "mmod", "yunet"
    landmarks: Landmarks | None = field(default=None, repr=False, compare=False)

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    @property
    def box(self) -> list[int]:
        return [round(self.x), round(self.y), round(self.w), round(self.h)]

    def points(self, scheme: str) -> np.ndarray | None:
        """The detector's points when they are complete and in `scheme`, else None."""
        lm = self.landmarks
        if lm is None or lm.scheme != scheme or not lm.complete:
            return None
        return lm.points


def subject_index(dets: list[Detection], width: int, height: int) -> int | None:
    """The subject is the largest face nearest the centre.

    Size and centrality are combined: area times a weight that falls from 1 at the centre to 0
    at the corners, so a large face near the centre beats a slightly larger one at the edge.
    """
    if not dets:
        return None
    cx, cy = width / 2.0, height / 2.0
    half_diag = 0.5 * float(np.hypot(width, height)) or 1.0
    best, best_key = 0, -1.0
    for i, d in enumerate(dets):
        dist = float(np.hypot(d.x + d.w / 2.0 - cx, d.y + d.h / 2.0 - cy)) / half_diag
        key = d.area * (1.0 - min(dist, 1.0)) ** 2
        if key > best_key:
            best, best_key = i, key
    return best


# ---------------------------------------------------------------- one image through the pipeline


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

    @property
    def status(self) -> str:
        if self.error_kind:
            return "error"
        return "ok" if self.subject is not None else "no-face"

    def fail(self, kind: str, message: str) -> "ImageResult":
        self.error_kind, self.error = kind, message
        return self


# ---------------------------------------------------------------- stored vectors


@dataclass
class StoredVectors:
    """The subject vector of every usable image in one space, as aligned arrays."""

    space_id: int
    vector_ids: np.ndarray  # int64
    paths: list[str]
    identities: list[str | None]
    matrix: np.ndarray  # n x dim float32, L2-normalised
    norms: np.ndarray | None = None  # raw L2 norm per row (NaN where unknown)

    def __len__(self) -> int:
        return len(self.paths)

    def by_path(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.paths)}

    def groups(self) -> dict[str, list[int]]:
        return identity_groups(self.identities)


def identity_groups(identities: list[str | None]) -> dict[str, list[int]]:
    """Row indices per identity, in row order; unlabelled rows (None) are left out."""
    groups: dict[str, list[int]] = {}
    for i, ident in enumerate(identities):
        if ident is not None:
            groups.setdefault(ident, []).append(i)
    return groups


def unit(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised rows and their norms (recognizers return raw embeddings)."""
    raw = np.asarray(raw, dtype=np.float32)
    norms = np.linalg.norm(raw, axis=1) if raw.size else np.zeros(len(raw), np.float32)
    return (raw / np.maximum(norms, 1e-12)[:, None]).astype(np.float32), norms
