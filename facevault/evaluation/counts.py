"""The primitives every verification metric shares: input validation and cumulative accept counts.

Conventions: `scores` are similarities (higher = more alike); `labels` are bools (True = same person); a pair
is predicted "same" iff score >= threshold. Curves are computed from cumulative counts of true and false
accepts at descending thresholds, whether those come from sorted scores (`roc_counts`) or from score bins
(`facevault.evaluation.histogram`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["allowed_false_accepts", "check_far", "check_pairs", "enough_negatives", "frozen", "missing_mask",
           "need_both", "roc_counts"]


def frozen(a: np.ndarray) -> np.ndarray:
    """`a`, made read-only (results hand out arrays that callers must not change)."""
    a.setflags(write=False)
    return a


def check_pairs(scores: ArrayLike, labels: ArrayLike, allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to (float scores, bool labels): 1-D, same length, finite scores."""
    s = np.asarray(scores, dtype=float)
    lab = np.asarray(labels)
    if s.ndim != 1 or lab.ndim != 1:
        raise ValueError("scores and labels must be 1-D arrays")
    if len(s) != len(lab):
        raise ValueError(f"scores and labels differ in length ({len(s)} vs {len(lab)})")
    if len(s) == 0 and not allow_empty:
        raise ValueError("no scored pairs: scores and labels are empty")
    if lab.dtype != bool:
        if lab.size and not np.isin(lab, (0, 1)).all():
            raise ValueError("labels must be bool (or 0/1)")
        lab = lab.astype(bool)
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf; mark pairs without a score as missing instead")
    return s, lab


def need_both(lab: np.ndarray) -> tuple[int, int]:
    """(positives, negatives); ValueError unless there are some of each."""
    p = int(lab.sum())
    n = len(lab) - p
    if p == 0 or n == 0:
        raise ValueError(f"need both positive and negative pairs (got {p} positive, {n} negative)")
    return p, n


def missing_mask(mask: ArrayLike | None, size: int) -> np.ndarray:
    """The pairs without a score, as a bool array of `size` (none when `mask` is None)."""
    if mask is None:
        return np.zeros(size, dtype=bool)
    m = np.asarray(mask, dtype=bool)
    if m.shape != (size,):
        raise ValueError(f"missing_mask must have length {size}, got shape {m.shape}")
    return m


def roc_counts(s: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (true accepts, false accepts, thresholds) at each distinct score, descending, after (0, 0, +inf)."""
    order = np.argsort(-s, kind="mergesort")
    ss, ll = s[order], lab[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]  # last index of each run of tied scores
    tps = np.cumsum(ll)[last]
    fps = last + 1 - tps
    return np.r_[0, tps], np.r_[0, fps], np.r_[np.inf, ss[last]]


def check_far(far: float) -> None:
    if not 0.0 < far <= 1.0:
        raise ValueError(f"far must be in (0, 1], got {far}")


def enough_negatives(n: int, far: float) -> bool:
    """Whether n different-person pairs can resolve a false accept rate of `far` (n >= 1 / far)."""
    return n >= math.ceil(1.0 / far - 1e-9)


def allowed_false_accepts(n: int, far: float) -> int:
    """The most false accepts among n negatives that keep the rate <= far."""
    return math.floor(far * n + 1e-9)
