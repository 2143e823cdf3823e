"""Face records shared by every stage: a detection, and the choice of the subject face."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detection:
    """One face in full-resolution pixel coordinates."""

    x: float
    y: float
    w: float
    h: float
    score: float
    source: str  # which detector pass found it, e.g. "hog-up1", "mmod"
    landmarks: np.ndarray | None = field(default=None, repr=False)  # 5x2 float32 (x, y)

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    def landmark_list(self) -> list[float | None] | None:
        """JSON-ready x1, y1, ... x5, y5; a point a detector does not give (NaN) is stored as null."""
        if self.landmarks is None:
            return None
        return [None if np.isnan(v) else round(float(v), 2) for v in self.landmarks.reshape(-1)]

    @staticmethod
    def landmarks_from_list(values: list | None) -> np.ndarray | None:
        if values is None:
            return None
        return np.array([np.nan if v is None else v for v in values], np.float32).reshape(-1, 2)


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
