"""The verification report: every number a verification benchmark gives, from scored pairs (k-fold) or from a
score histogram (all-pairs protocols), in the metric's own units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from facevault.evaluation.accuracy import (
    accuracy_at,
    kfold_accuracy,
    study_rule_threshold,
)
from facevault.evaluation.bootstrap import (
    bootstrap_histogram_tar_at_far,
    bootstrap_proportion_ci,
    bootstrap_tar_at_far,
)
from facevault.evaluation.counts import check_pairs
from facevault.evaluation.counts import missing_mask as missing_rows
from facevault.evaluation.curves import (
    ALL_PAIRS_FARS,
    DEFAULT_FARS,
    TarAtFar,
    auc,
    eer,
    tar_at_far,
)
from facevault.evaluation.histogram import (
    ScoreHistogram,
    histogram_accuracy_at,
    histogram_auc,
    histogram_best_threshold,
    histogram_eer,
    histogram_tar_at_far,
)
from facevault.evaluation.metric import check_metric, in_metric_units, metric_rule

__all__ = ["VerificationReport", "histogram_report", "verification_report"]


@dataclass(frozen=True)
class VerificationReport:
    """Everything a verification benchmark reports; counts cover all pairs, missing included.

    Thresholds are in the metric's own units (a cosine, or a distance with "same if distance <= threshold").
    """

    pairs: int
    positives: int
    negatives: int
    missing: int
    accuracy: float
    accuracy_std: float | None  # None when the threshold is not cross-validated
    fold_accuracies: list[float]
    threshold: float  # mean of the fold thresholds, each chosen on the other folds (all pairs: best accuracy)
    auc: float
    eer: float
    eer_threshold: float
    tar_at_far: list[TarAtFar]
    study_threshold: float
    study_accuracy: float
    metric: str = "cosine"
    accuracy_ci: tuple[float, float] | None = None
    cross_validated: bool = True
    note: str = ""
    bootstrap: int = 0

    def to_dict(self) -> dict:
        """JSON-serialisable plain dict (nested TarAtFar become dicts; None stays None)."""
        return asdict(self)


def _ci_note(draws: int) -> str:
    return f"95% CIs: percentile bootstrap, {draws} resamples of the pairs (pairs treated as independent)" \
        if draws > 0 else "no confidence intervals"


def _with_units(tars: list[TarAtFar], cis: list, metric: str) -> list[TarAtFar]:
    return [replace(t, threshold=in_metric_units(t.threshold, metric), ci=ci) for t, ci in zip(tars, cis)]


def verification_report(
    scores: ArrayLike,
    labels: ArrayLike,
    folds: ArrayLike,
    missing_mask: ArrayLike | None = None,
    fars: Sequence[float] = DEFAULT_FARS,
    metric: str = "cosine",
    bootstrap: int = 1000,
    seed: int = 0,
) -> VerificationReport:
    """Full report: k-fold accuracy (missing counted wrong); AUC/EER/TAR@FAR/study rule on scored pairs.

    `scores` are similarities (negative distances for distance metrics); thresholds come out in the
    metric's units. Bootstrap CIs (seeded) cover the accuracy at the fold thresholds and each TAR@FAR.
    """
    check_metric(metric)
    raw = np.asarray(scores, dtype=float)
    lab = np.asarray(labels)
    if raw.ndim != 1 or len(raw) != len(lab):
        raise ValueError("scores and labels must be 1-D arrays of the same length")
    miss = missing_rows(missing_mask, len(raw))
    folded = kfold_accuracy(raw, lab, folds, miss)
    s, lab_b = check_pairs(raw[~miss], lab[~miss])
    n_miss = int(miss.sum())
    all_lab = np.asarray(lab, dtype=bool)
    e, e_thr = eer(s, lab_b)
    study_thr = study_rule_threshold(s, lab_b)
    tars = [tar_at_far(s, lab_b, f) for f in fars]
    cis = bootstrap_tar_at_far(s, lab_b, fars, bootstrap, seed)
    k = len(folded.accuracies)
    return VerificationReport(
        pairs=len(raw),
        positives=int(all_lab.sum()),
        negatives=int((~all_lab).sum()),
        missing=n_miss,
        accuracy=folded.mean,
        accuracy_std=folded.std,
        fold_accuracies=[float(a) for a in folded.accuracies],
        threshold=in_metric_units(float(folded.thresholds.mean()), metric),
        auc=auc(s, lab_b),
        eer=e,
        eer_threshold=in_metric_units(e_thr, metric),
        tar_at_far=_with_units(tars, cis, metric),
        study_threshold=in_metric_units(study_thr, metric),
        study_accuracy=accuracy_at(s, lab_b, study_thr, missing=n_miss),
        metric=metric,
        accuracy_ci=bootstrap_proportion_ci(int(folded.correct.sum()), len(raw), bootstrap, seed),
        cross_validated=True,
        note=f"{k}-fold: each fold's threshold chosen on the other folds; {metric_rule(metric)}; {_ci_note(bootstrap)}",
        bootstrap=max(bootstrap, 0),
    )


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
