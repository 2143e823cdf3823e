"""Score metrics: cosine, and Euclidean distance on unit or raw vectors, as similarities.

Distances enter as negative distances so that "same iff score >= threshold" holds for every metric; reports
convert thresholds back to the metric's own units with `in_metric_units`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

METRICS = ("cosine", "euclidean", "euclidean_l2")

__all__ = ["METRICS", "check_metric", "in_metric_units", "metric_range", "metric_rule", "metric_scores"]


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (valid: {', '.join(METRICS)})")
    return metric


def metric_scores(
    cos: ArrayLike, metric: str = "cosine", norms_a: ArrayLike | None = None, norms_b: ArrayLike | None = None
) -> np.ndarray:
    """Similarity scores for `metric` from cosines of unit vectors (and raw norms for euclidean).

    cosine: cos. euclidean_l2 (unit vectors): -sqrt(2 - 2 cos). euclidean (raw vectors, norms na, nb):
    -sqrt(na^2 + nb^2 - 2 na nb cos). Norms broadcast against `cos` (pass na[:, None], nb[None, :] for blocks).
    """
    check_metric(metric)
    c = np.asarray(cos)
    if not np.issubdtype(c.dtype, np.floating):
        c = c.astype(np.float64)
    if metric == "cosine":
        return c
    if metric == "euclidean_l2":
        return -np.sqrt(np.maximum(2.0 - 2.0 * c, 0.0))
    if norms_a is None or norms_b is None:
        raise ValueError("euclidean distance needs the raw norms of both vectors")
    na, nb = np.asarray(norms_a, c.dtype), np.asarray(norms_b, c.dtype)
    if not (np.isfinite(na).all() and np.isfinite(nb).all()):
        raise ValueError("euclidean distance is unavailable: some vectors have no stored raw norm (NaN)")
    return -np.sqrt(np.maximum(na * na + nb * nb - 2.0 * na * nb * c, 0.0))


def metric_range(metric: str, max_norm: float | None = None) -> tuple[float, float]:
    """The interval every score of `metric` lies in (for fixed histogram bins)."""
    check_metric(metric)
    if metric == "cosine":
        return -1.0, 1.0
    if metric == "euclidean_l2":
        return -2.0, 0.0
    if max_norm is None or not math.isfinite(max_norm) or max_norm <= 0:
        raise ValueError("euclidean range needs the largest raw norm")
    return -2.0 * max_norm * (1 + 1e-6), 0.0


def in_metric_units(threshold: float | None, metric: str) -> float | None:
    """A score threshold in the metric's own units: a cosine, or a distance (same iff distance <= it)."""
    if threshold is None or metric == "cosine":
        return threshold
    return -float(threshold) + 0.0  # + 0.0 turns -0.0 into 0.0


def metric_rule(metric: str) -> str:
    return "same if cosine >= threshold" if metric == "cosine" else f"same if {metric} distance <= threshold"
