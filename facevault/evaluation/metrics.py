"""Face-verification metrics: ROC, DET, AUC, EER, TAR@FAR, accuracy with k-fold threshold choice, and the
verification report.

Conventions: `scores` are similarities (higher = more alike); `labels` are bools (True = same person).
A pair is predicted "same" iff score >= threshold. Distance metrics enter as negative distances so that
rule holds for every metric; reports convert thresholds back to the metric's own units
(`in_metric_units`). Pure functions only: arrays in, dataclasses out.

Bootstrap confidence intervals live in `facevault.evaluation.bootstrap` and the same curves from score histograms (for
all-pairs protocols) in `facevault.evaluation.histogram`; both build on this module, and their names stay importable
from here (loaded on first use, so imports run one way only).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

METRICS = ("cosine", "euclidean", "euclidean_l2")
DEFAULT_FARS = (1e-1, 1e-2, 1e-3, 1e-4)
ALL_PAIRS_FARS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)

# names defined in the sibling modules, served by __getattr__ below
_ELSEWHERE = {
    "bootstrap": ("bootstrap_proportion_ci", "bootstrap_tar_at_far", "bootstrap_histogram_tar_at_far",
                  "_interval", "_resample_counts", "_resampled_tars"),
    "histogram": ("ScoreHistogram", "bin_index", "histogram", "histogram_roc", "histogram_auc", "histogram_eer",
                     "histogram_tar_at_far", "histogram_best_threshold", "histogram_accuracy_at", "histogram_report",
                     "_hist_counts"),
}
_LAZY = {name: module for module, names in _ELSEWHERE.items() for name in names}

__all__ = [
    "METRICS", "DEFAULT_FARS", "ALL_PAIRS_FARS", "check_metric", "metric_scores", "metric_range", "in_metric_units",
    "metric_rule", "Roc", "Det", "roc", "det_from_roc", "det", "auc", "eer", "TarAtFar", "tar_at_far",
    "best_threshold", "accuracy_at", "FoldResult", "kfold_accuracy", "assign_folds", "study_rule_threshold",
    "VerificationReport", "verification_report",
] + [name for name in _LAZY if not name.startswith("_")]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __package__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


# ---------------------------------------------------------------- metric variants

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


# ---------------------------------------------------------------- validation and counts

def _check(scores: ArrayLike, labels: ArrayLike, allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
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


def _need_both(lab: np.ndarray) -> tuple[int, int]:
    p = int(lab.sum())
    n = len(lab) - p
    if p == 0 or n == 0:
        raise ValueError(f"need both positive and negative pairs (got {p} positive, {n} negative)")
    return p, n


def _roc_counts(s: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (true accepts, false accepts, thresholds) at each distinct score, descending, after (0, 0, +inf)."""
    order = np.argsort(-s, kind="mergesort")
    ss, ll = s[order], lab[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]  # last index of each run of tied scores
    tps = np.cumsum(ll)[last]
    fps = last + 1 - tps
    return np.r_[0, tps], np.r_[0, fps], np.r_[np.inf, ss[last]]


# ---------------------------------------------------------------- curves

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


def roc(scores: ArrayLike, labels: ArrayLike) -> Roc:
    """ROC points for every distinct threshold, identical to sklearn's roc_curve(drop_intermediate=False)."""
    s, lab = _check(scores, labels)
    p, n = _need_both(lab)
    tps, fps, thr = _roc_counts(s, lab)
    return Roc(far=_frozen(fps / n), tar=_frozen(tps / p), thresholds=_frozen(thr))


def det_from_roc(r: Roc) -> Det:
    return Det(far=r.far, frr=_frozen(1.0 - r.tar), thresholds=r.thresholds)


def det(scores: ArrayLike, labels: ArrayLike) -> Det:
    """DET points (FAR, FRR) for every distinct threshold; plot on normal-deviate axes."""
    return det_from_roc(roc(scores, labels))


def _auc_counts(tps: np.ndarray, fps: np.ndarray) -> float:
    far, tar = fps / fps[-1], tps / tps[-1]
    return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2.0))


def auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC (trapezoids), i.e. P(pos score > neg score) with ties counting 1/2."""
    s, lab = _check(scores, labels)
    _need_both(lab)
    tps, fps, _ = _roc_counts(s, lab)
    return _auc_counts(tps, fps)


def _eer_counts(tps: np.ndarray, fps: np.ndarray, thr: np.ndarray) -> tuple[float, float]:
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
    s, lab = _check(scores, labels)
    _need_both(lab)
    return _eer_counts(*_roc_counts(s, lab))


@dataclass(frozen=True)
class TarAtFar:
    """True accept rate at the lowest real threshold whose false accept rate is <= far_target."""

    far_target: float
    tar: float | None  # None when there are too few negatives to resolve far_target
    far_achieved: float | None
    threshold: float | None
    sufficient: bool  # False when negatives < 1 / far_target
    ci: tuple[float, float] | None = None  # bootstrap percentile interval of tar, when computed


def _far_check(far: float) -> None:
    if not 0.0 < far <= 1.0:
        raise ValueError(f"far must be in (0, 1], got {far}")


def _enough(n: int, far: float) -> bool:
    return n >= math.ceil(1.0 / far - 1e-9)


def _allowed(n: int, far: float) -> int:
    return math.floor(far * n + 1e-9)  # most false accepts allowed


def _tar_counts(tps: np.ndarray, fps: np.ndarray, thr: np.ndarray, far: float, reject_all: float) -> TarAtFar:
    p, n = int(tps[-1]), int(fps[-1])
    if not _enough(n, far):
        return TarAtFar(float(far), None, None, None, False)
    ok = np.flatnonzero((fps <= _allowed(n, far)) & np.isfinite(thr))
    if len(ok) == 0:
        return TarAtFar(float(far), 0.0, 0.0, float(reject_all), True)
    j = ok[-1]  # tps and fps are non-decreasing, so the last qualifying point has the highest TAR
    return TarAtFar(float(far), float(tps[j] / p), float(fps[j] / n), float(thr[j]), True)


def tar_at_far(scores: ArrayLike, labels: ArrayLike, far: float) -> TarAtFar:
    """Highest TAR among score thresholds with FAR <= far; None values when negatives < 1/far.

    If even the highest score gives FAR > far, the result is TAR = FAR = 0 with a threshold
    just above the highest score (reject everything).
    """
    _far_check(far)
    s, lab = _check(scores, labels)
    _need_both(lab)
    tps, fps, thr = _roc_counts(s, lab)
    return _tar_counts(tps, fps, thr, far, np.nextafter(thr[1], np.inf))

# ---------------------------------------------------------------- accuracy

def best_threshold(
    scores: ArrayLike, labels: ArrayLike, missing_pos: int = 0, missing_neg: int = 0
) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy; O(n log n) over midpoints of sorted unique scores.

    Candidates are the midpoints plus one below the minimum and one above the maximum. Among equally
    good candidates the median one (middle of the best plateau) is chosen. Missing pairs always
    count as errors: accuracy = correct / (n + missing_pos + missing_neg).
    """
    s, lab = _check(scores, labels)
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
    s, lab = _check(scores, labels, allow_empty=True)
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


def _missing(missing_mask: ArrayLike | None, size: int) -> np.ndarray:
    if missing_mask is None:
        return np.zeros(size, dtype=bool)
    m = np.asarray(missing_mask, dtype=bool)
    if m.shape != (size,):
        raise ValueError(f"missing_mask must have length {size}, got shape {m.shape}")
    return m


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
    miss = _missing(missing_mask, len(raw))
    scored_s, lab = _check(np.where(miss, 0.0, raw), lab)
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
    return FoldResult(_frozen(a), _frozen(np.array(thrs)), float(a.mean()), std, _frozen(correct))


def assign_folds(n: int, k: int, seed: int) -> np.ndarray:
    """Balanced random fold ids 0..k-1 for n pairs (fold sizes differ by at most one), reproducible by seed."""
    if n < 0 or k < 1:
        raise ValueError(f"need n >= 0 and k >= 1 (got n={n}, k={k})")
    return np.random.default_rng(seed).permutation(np.arange(n) % k)


def study_rule_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """The original study's rule, as a similarity threshold: 1 - (mean + std) of same-pair distances.

    Distances are d = 1 - cosine and std is the population std (ddof=0) of the same-person pairs.
    """
    s, lab = _check(scores, labels)
    if not lab.any():
        raise ValueError("study rule needs at least one same-person pair")
    d = 1.0 - s[lab]
    return float(1.0 - (d.mean() + d.std()))


# ---------------------------------------------------------------- reports

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
    from facevault.evaluation.bootstrap import bootstrap_proportion_ci, bootstrap_tar_at_far# bootstrap builds on this module

    check_metric(metric)
    raw = np.asarray(scores, dtype=float)
    lab = np.asarray(labels)
    if raw.ndim != 1 or len(raw) != len(lab):
        raise ValueError("scores and labels must be 1-D arrays of the same length")
    miss = _missing(missing_mask, len(raw))
    folded = kfold_accuracy(raw, lab, folds, miss)
    s, lab_b = _check(raw[~miss], lab[~miss])
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
