"""Accuracy at a threshold, the best threshold, k-fold cross-validated accuracy, and the study's rule.

Missing pairs (an image without a face) always count as errors. Conventions as in `facevault.evaluation.counts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from facevault.evaluation.counts import check_pairs, frozen
from facevault.evaluation.counts import missing_mask as missing_rows

__all__ = ["FoldResult", "accuracy_at", "assign_folds", "best_threshold", "kfold_accuracy", "study_rule_threshold"]


def best_threshold(
    scores: ArrayLike, labels: ArrayLike, missing_pos: int = 0, missing_neg: int = 0
) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy; O(n log n) over midpoints of sorted unique scores.

    Candidates are the midpoints plus one below the minimum and one above the maximum. Among equally
    good candidates the median one (middle of the best plateau) is chosen. Missing pairs always
    count as errors: accuracy = correct / (n + missing_pos + missing_neg).
    """
    s, lab = check_pairs(scores, labels)
    if missing_pos < 0 or missing_neg < 0:
        raise ValueError("missing counts must be >= 0")
    u, inv = np.unique(s, return_inverse=True)
    pos_le = np.r_[0, np.cumsum(np.bincount(inv, weights=lab, minlength=len(u)))]  # positives below candidate j
    neg_le = np.r_[0, np.cumsum(np.bincount(inv, weights=~lab, minlength=len(u)))]
    # candidate j sits just below u[j]: negatives below it are rejected (correct), positives above accepted
    correct = neg_le + (pos_le[-1] - pos_le)
    best = np.flatnonzero(correct == correct.max())
    j = int(best[(len(best) - 1) // 2])
    margin = 0.5 * (u[-1] - u[0]) / (len(u) - 1) if len(u) > 1 else 0.5
    if j == 0:
        threshold = u[0] - margin
    elif j == len(u):
        threshold = u[-1] + margin
    else:
        threshold = (u[j - 1] + u[j]) / 2.0
    return float(threshold), float(correct[j] / (len(s) + missing_pos + missing_neg))


def accuracy_at(scores: ArrayLike, labels: ArrayLike, threshold: float, missing: int = 0) -> float:
    """Fraction of pairs classified correctly by score >= threshold; missing pairs count as wrong."""
    s, lab = check_pairs(scores, labels, allow_empty=True)
    if missing < 0:
        raise ValueError("missing must be >= 0")
    total = len(s) + missing
    if total == 0:
        raise ValueError("no pairs: scores and labels are empty")
    return float(np.sum((s >= threshold) == lab) / total)


@dataclass(frozen=True, eq=False)
class FoldResult:
    """Per-fold accuracies with thresholds chosen on the other folds only."""

    accuracies: np.ndarray
    thresholds: np.ndarray
    mean: float
    std: float  # sample std (ddof=1); 0.0 with one fold
    correct: np.ndarray | None = None  # per pair: classified right at its fold's threshold (missing: False)


def kfold_accuracy(
    scores: ArrayLike, labels: ArrayLike, folds: ArrayLike, missing_mask: ArrayLike | None = None
) -> FoldResult:
    """Cross-validated accuracy: each fold is tested at the best threshold of the remaining folds.

    Pairs flagged in missing_mask (score ignored) count as errors in both training and testing.
    """
    raw = np.asarray(scores, dtype=float)
    lab = np.asarray(labels)
    f = np.asarray(folds)
    if raw.ndim != 1 or len(raw) != len(lab) or f.shape != raw.shape:
        raise ValueError("scores, labels and folds must be 1-D arrays of the same length")
    if len(raw) == 0:
        raise ValueError("no pairs: scores and labels are empty")
    miss = missing_rows(missing_mask, len(raw))
    scored_s, lab = check_pairs(np.where(miss, 0.0, raw), lab)
    ids = np.unique(f)
    if len(ids) < 2:
        raise ValueError("k-fold accuracy needs at least 2 distinct fold ids")
    accs, thrs = [], []
    correct = np.zeros(len(raw), dtype=bool)
    for k in ids:
        test = f == k
        train = ~test
        tr = train & ~miss
        thr, _ = best_threshold(
            scored_s[tr], lab[tr],
            missing_pos=int(np.sum(train & miss & lab)), missing_neg=int(np.sum(train & miss & ~lab)),
        )
        te = test & ~miss
        accs.append(accuracy_at(scored_s[te], lab[te], thr, missing=int(np.sum(test & miss))))
        correct[te] = (scored_s[te] >= thr) == lab[te]
        thrs.append(thr)
    a = np.array(accs)
    std = float(np.std(a, ddof=1)) if len(a) > 1 else 0.0
    return FoldResult(frozen(a), frozen(np.array(thrs)), float(a.mean()), std, frozen(correct))


def assign_folds(n: int, k: int, seed: int) -> np.ndarray:
    """Balanced random fold ids 0..k-1 for n pairs (fold sizes differ by at most one), reproducible by seed."""
    if n < 0 or k < 1:
        raise ValueError(f"need n >= 0 and k >= 1 (got n={n}, k={k})")
    return np.random.default_rng(seed).permutation(np.arange(n) % k)


def study_rule_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """The original study's rule, as a similarity threshold: 1 - (mean + std) of same-pair distances.

    Distances are d = 1 - cosine and std is the population std (ddof=0) of the same-person pairs.
    """
    s, lab = check_pairs(scores, labels)
    if not lab.any():
        raise ValueError("study rule needs at least one same-person pair")
    d = 1.0 - s[lab]
    return float(1.0 - (d.mean() + d.std()))
