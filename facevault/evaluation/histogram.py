"""Verification curves from score histograms, for all-pairs protocols whose scores do not fit in memory.

Positive and negative scores are counted in fixed bins and the curves use the bin edges as thresholds, so
nothing is ever sorted; results are the same types that `facevault.evaluation.curves` returns for scored pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from facevault.evaluation.counts import check_far, check_pairs, frozen
from facevault.evaluation.curves import (
    Roc,
    TarAtFar,
    auc_from_counts,
    eer_from_counts,
    tar_at_far_from_counts,
)

__all__ = ["ScoreHistogram", "bin_index", "histogram", "histogram_accuracy_at", "histogram_auc",
           "histogram_best_threshold", "histogram_counts", "histogram_eer", "histogram_roc", "histogram_tar_at_far"]


@dataclass(frozen=True, eq=False)
class ScoreHistogram:
    """Positive and negative score counts in fixed bins [edges[j], edges[j+1]); out-of-range scores are clipped
    into the end bins. Curves from it use the bin edges as thresholds, so nothing is ever sorted."""

    edges: np.ndarray  # bins + 1, ascending
    pos: np.ndarray  # int64 per bin
    neg: np.ndarray  # int64 per bin

    @property
    def bins(self) -> int:
        return len(self.pos)

    @property
    def positives(self) -> int:
        return int(self.pos.sum())

    @property
    def negatives(self) -> int:
        return int(self.neg.sum())


def bin_index(scores: ArrayLike, lo: float, hi: float, bins: int) -> np.ndarray:
    """Bin of each score in `bins` equal bins over [lo, hi] (clipped), as int64."""
    x = (np.asarray(scores, dtype=np.float64) - lo) * (bins / (hi - lo))
    np.clip(x, 0, bins - 1, out=x)
    return x.astype(np.int64)


def histogram(scores: ArrayLike, labels: ArrayLike, lo: float, hi: float, bins: int = 20000) -> ScoreHistogram:
    """Histogram of scored pairs (for arrays that fit in memory; all-pairs scoring accumulates its own)."""
    s, lab = check_pairs(scores, labels, allow_empty=True)
    if not hi > lo or bins < 1:
        raise ValueError("need hi > lo and bins >= 1")
    idx = bin_index(s, lo, hi, bins)
    return ScoreHistogram(frozen(np.linspace(lo, hi, bins + 1)),
                          frozen(np.bincount(idx[lab], minlength=bins).astype(np.int64)),
                          frozen(np.bincount(idx[~lab], minlength=bins).astype(np.int64)))


def histogram_counts(h: ScoreHistogram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (true accepts, false accepts, thresholds) from the top bin down, as `roc_counts` gives them."""
    if h.positives == 0 or h.negatives == 0:
        raise ValueError(f"need both positive and negative pairs (got {h.positives} positive, {h.negatives} negative)")
    tps = np.r_[0, np.cumsum(h.pos[::-1])]
    fps = np.r_[0, np.cumsum(h.neg[::-1])]
    return tps, fps, np.r_[np.inf, h.edges[:-1][::-1]]


def histogram_roc(h: ScoreHistogram) -> Roc:
    """ROC with one point per bin edge (threshold = lower edge of the lowest accepted bin)."""
    tps, fps, thr = histogram_counts(h)
    return Roc(far=frozen(fps / fps[-1]), tar=frozen(tps / tps[-1]), thresholds=frozen(thr))


def histogram_auc(h: ScoreHistogram) -> float:
    """AUC by trapezoids over the bin-edge ROC (pairs sharing a bin count as ties)."""
    tps, fps, _ = histogram_counts(h)
    return auc_from_counts(tps, fps)


def histogram_eer(h: ScoreHistogram) -> tuple[float, float]:
    return eer_from_counts(*histogram_counts(h))


def histogram_tar_at_far(h: ScoreHistogram, far: float) -> TarAtFar:
    check_far(far)
    tps, fps, thr = histogram_counts(h)
    return tar_at_far_from_counts(tps, fps, thr, far, np.nextafter(h.edges[-1], np.inf))


def histogram_best_threshold(h: ScoreHistogram, missing_pos: int = 0, missing_neg: int = 0) -> tuple[float, float]:
    """(bin edge, accuracy) maximising accuracy; the median edge of the best plateau, as best_threshold."""
    neg_below = np.r_[0, np.cumsum(h.neg)]
    pos_from = h.positives - np.r_[0, np.cumsum(h.pos)]
    correct = neg_below + pos_from
    best = np.flatnonzero(correct == correct.max())
    j = int(best[(len(best) - 1) // 2])
    thr = h.edges[j] if j < h.bins else np.nextafter(h.edges[-1], np.inf)
    return float(thr), float(correct[j] / (h.positives + h.negatives + missing_pos + missing_neg))


def histogram_accuracy_at(h: ScoreHistogram, threshold: float, missing: int = 0) -> float:
    """Accuracy with the threshold rounded up to the next bin edge; missing pairs count as wrong."""
    j = int(np.searchsorted(h.edges[:-1], threshold, side="left"))
    correct = int(h.neg[:j].sum()) + int(h.pos[j:].sum())
    return correct / (h.positives + h.negatives + missing)
