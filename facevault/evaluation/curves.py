"""Verification curves from scored pairs: ROC, DET, AUC, EER and TAR at a target FAR.

Each is computed from the cumulative accept counts of `facevault.evaluation.counts`; the `*_from_counts`
functions are shared with the histogram versions (`facevault.evaluation.histogram`). Conventions as in
`facevault.evaluation.counts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from facevault.evaluation.counts import (
    allowed_false_accepts,
    check_far,
    check_pairs,
    enough_negatives,
    frozen,
    need_both,
    roc_counts,
)

DEFAULT_FARS = (1e-1, 1e-2, 1e-3, 1e-4)
ALL_PAIRS_FARS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)

__all__ = ["ALL_PAIRS_FARS", "DEFAULT_FARS", "Det", "Roc", "TarAtFar", "auc", "auc_from_counts", "det",
           "det_from_roc", "eer", "eer_from_counts", "roc", "tar_at_far", "tar_at_far_from_counts"]


@dataclass(frozen=True, eq=False)
class Roc:
    """ROC curve: one point per distinct score (ties form one point), first point (0, 0) at +inf."""

    far: np.ndarray  # false accept rate, non-decreasing
    tar: np.ndarray  # true accept rate, non-decreasing
    thresholds: np.ndarray  # decreasing, thresholds[0] == +inf


@dataclass(frozen=True, eq=False)
class Det:
    """DET curve points: false accept rate against false reject rate (1 - TAR), same thresholds as the ROC."""

    far: np.ndarray
    frr: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class TarAtFar:
    """True accept rate at the lowest real threshold whose false accept rate is <= far_target."""

    far_target: float
    tar: float | None  # None when there are too few negatives to resolve far_target
    far_achieved: float | None
    threshold: float | None
    sufficient: bool  # False when negatives < 1 / far_target
    ci: tuple[float, float] | None = None  # bootstrap percentile interval of tar, when computed


def roc(scores: ArrayLike, labels: ArrayLike) -> Roc:
    """ROC points for every distinct threshold, identical to sklearn's roc_curve(drop_intermediate=False)."""
    s, lab = check_pairs(scores, labels)
    p, n = need_both(lab)
    tps, fps, thr = roc_counts(s, lab)
    return Roc(far=frozen(fps / n), tar=frozen(tps / p), thresholds=frozen(thr))


def det_from_roc(r: Roc) -> Det:
    return Det(far=r.far, frr=frozen(1.0 - r.tar), thresholds=r.thresholds)


def det(scores: ArrayLike, labels: ArrayLike) -> Det:
    """DET points (FAR, FRR) for every distinct threshold; plot on normal-deviate axes."""
    return det_from_roc(roc(scores, labels))


def auc_from_counts(tps: np.ndarray, fps: np.ndarray) -> float:
    """Trapezoidal area under the ROC given by cumulative counts."""
    far, tar = fps / fps[-1], tps / tps[-1]
    return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2.0))


def auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC (trapezoids), i.e. P(pos score > neg score) with ties counting 1/2."""
    s, lab = check_pairs(scores, labels)
    need_both(lab)
    tps, fps, _ = roc_counts(s, lab)
    return auc_from_counts(tps, fps)


def eer_from_counts(tps: np.ndarray, fps: np.ndarray, thr: np.ndarray) -> tuple[float, float]:
    """(EER, threshold) from cumulative counts, interpolating linearly between the two points around it."""
    p, n = int(tps[-1]), int(fps[-1])
    # sign of FAR - FRR computed exactly in integers: fps/n - (p - tps)/p
    diff = fps * p - (p - tps) * n
    i = int(np.argmax(diff >= 0))  # diff[0] = -p*n < 0 and diff[-1] = n*p > 0, so 1 <= i
    far, frr = fps / n, (p - tps) / p
    if diff[i] == 0:
        return float(far[i]), float(thr[i])
    d0, d1 = far[i - 1] - frr[i - 1], far[i] - frr[i]
    t = -d0 / (d1 - d0)
    rate = far[i - 1] + t * (far[i] - far[i - 1])
    threshold = thr[i] if np.isinf(thr[i - 1]) else thr[i - 1] + t * (thr[i] - thr[i - 1])
    return float(rate), float(threshold)


def eer(scores: ArrayLike, labels: ArrayLike) -> tuple[float, float]:
    """(equal error rate, threshold) where FAR = FRR, interpolating linearly between adjacent ROC points.

    If the crossing lies between the +inf start point and the first real threshold, that first
    real (highest) score is returned as the threshold, so the result is always finite.
    """
    s, lab = check_pairs(scores, labels)
    need_both(lab)
    return eer_from_counts(*roc_counts(s, lab))


def tar_at_far_from_counts(tps: np.ndarray, fps: np.ndarray, thr: np.ndarray, far: float,
                           reject_all: float) -> TarAtFar:
    """TAR@FAR from cumulative counts; `reject_all` is the threshold to report when no real one qualifies."""
    p, n = int(tps[-1]), int(fps[-1])
    if not enough_negatives(n, far):
        return TarAtFar(float(far), None, None, None, False)
    ok = np.flatnonzero((fps <= allowed_false_accepts(n, far)) & np.isfinite(thr))
    if len(ok) == 0:
        return TarAtFar(float(far), 0.0, 0.0, float(reject_all), True)
    j = ok[-1]  # tps and fps are non-decreasing, so the last qualifying point has the highest TAR
    return TarAtFar(float(far), float(tps[j] / p), float(fps[j] / n), float(thr[j]), True)


def tar_at_far(scores: ArrayLike, labels: ArrayLike, far: float) -> TarAtFar:
    """Highest TAR among score thresholds with FAR <= far; None values when negatives < 1/far.

    If even the highest score gives FAR > far, the result is TAR = FAR = 0 with a threshold
    just above the highest score (reject everything).
    """
    check_far(far)
    s, lab = check_pairs(scores, labels)
    need_both(lab)
    tps, fps, thr = roc_counts(s, lab)
    return tar_at_far_from_counts(tps, fps, thr, far, np.nextafter(thr[1], np.inf))
