"""Verification curves from score histograms, for all-pairs protocols whose scores do not fit in memory.

Positive and negative scores are counted in fixed bins and the curves use the bin edges as thresholds, so
nothing is ever sorted; results are the same types that `facevault.evaluation.metrics` returns for scored pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from facevault.evaluation.bootstrap import bootstrap_histogram_tar_at_far, bootstrap_proportion_ci
from facevault.evaluation.metrics import (
    ALL_PAIRS_FARS,
    Roc,
    TarAtFar,
    VerificationReport,
    _auc_counts,
    _check,
    _ci_note,
    _eer_counts,
    _far_check,
    _frozen,
    _tar_counts,
    _with_units,
    check_metric,
    in_metric_units,
    metric_rule,
)


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
    s, lab = _check(scores, labels, allow_empty=True)
    if not hi > lo or bins < 1:
        raise ValueError("need hi > lo and bins >= 1")
    idx = bin_index(s, lo, hi, bins)
    return ScoreHistogram(_frozen(np.linspace(lo, hi, bins + 1)),
                          _frozen(np.bincount(idx[lab], minlength=bins).astype(np.int64)),
                          _frozen(np.bincount(idx[~lab], minlength=bins).astype(np.int64)))


def _hist_counts(h: ScoreHistogram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if h.positives == 0 or h.negatives == 0:
        raise ValueError(f"need both positive and negative pairs (got {h.positives} positive, {h.negatives} negative)")
    tps = np.r_[0, np.cumsum(h.pos[::-1])]
    fps = np.r_[0, np.cumsum(h.neg[::-1])]
    return tps, fps, np.r_[np.inf, h.edges[:-1][::-1]]


def histogram_roc(h: ScoreHistogram) -> Roc:
    """ROC with one point per bin edge (threshold = lower edge of the lowest accepted bin)."""
    tps, fps, thr = _hist_counts(h)
    return Roc(far=_frozen(fps / fps[-1]), tar=_frozen(tps / tps[-1]), thresholds=_frozen(thr))


def histogram_auc(h: ScoreHistogram) -> float:
    """AUC by trapezoids over the bin-edge ROC (pairs sharing a bin count as ties)."""
    tps, fps, _ = _hist_counts(h)
    return _auc_counts(tps, fps)


def histogram_eer(h: ScoreHistogram) -> tuple[float, float]:
    return _eer_counts(*_hist_counts(h))


def histogram_tar_at_far(h: ScoreHistogram, far: float) -> TarAtFar:
    _far_check(far)
    tps, fps, thr = _hist_counts(h)
    return _tar_counts(tps, fps, thr, far, np.nextafter(h.edges[-1], np.inf))


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


def histogram_report(
    h: ScoreHistogram,
    missing_pos: int = 0,
    missing_neg: int = 0,
    fars: Sequence[float] = ALL_PAIRS_FARS,
    metric: str = "cosine",
    bootstrap: int = 1000,
    seed: int = 0,
    pos_moments: tuple[float, float] | None = None,
) -> VerificationReport:
    """Report of an all-pairs protocol from its score histogram: no folds, so the best-accuracy threshold is
    chosen on the same pairs it is tested on (said in `note`). `pos_moments` = exact (mean, population std) of
    the positive scores for the study rule; bin centres are used without it."""
    check_metric(metric)
    p, n = h.positives, h.negatives
    if p == 0 or n == 0:
        raise ValueError(f"need both positive and negative pairs (got {p} positive, {n} negative)")
    n_miss = missing_pos + missing_neg
    thr, acc = histogram_best_threshold(h, missing_pos, missing_neg)
    e, e_thr = histogram_eer(h)
    if pos_moments is None:
        centres = (h.edges[:-1] + h.edges[1:]) / 2
        mean = float(np.dot(h.pos, centres) / p)
        pos_moments = (mean, float(np.sqrt(max(np.dot(h.pos, (centres - mean) ** 2) / p, 0.0))))
    study_thr = pos_moments[0] - pos_moments[1]
    total = p + n + n_miss
    tars = [histogram_tar_at_far(h, f) for f in fars]
    cis = bootstrap_histogram_tar_at_far(h, fars, bootstrap, seed)
    width = (h.edges[-1] - h.edges[0]) / h.bins
    return VerificationReport(
        pairs=total, positives=p + missing_pos, negatives=n + missing_neg, missing=n_miss,
        accuracy=acc, accuracy_std=None, fold_accuracies=[],
        threshold=in_metric_units(thr, metric),
        auc=histogram_auc(h), eer=e, eer_threshold=in_metric_units(e_thr, metric),
        tar_at_far=_with_units(tars, cis, metric),
        study_threshold=in_metric_units(study_thr, metric),
        study_accuracy=histogram_accuracy_at(h, study_thr, n_miss),
        metric=metric,
        accuracy_ci=bootstrap_proportion_ci(int(round(acc * total)), total, bootstrap, seed),
        cross_validated=False,
        note=(f"all pairs; threshold not cross-validated (best accuracy on the same pairs); curves from "
              f"{h.bins} score bins of width {width:.2g}; {metric_rule(metric)}; {_ci_note(bootstrap)}"),
        bootstrap=max(bootstrap, 0),
    )
