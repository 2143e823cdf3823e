"""Bootstrap confidence intervals for verification metrics: a proportion (accuracy, rank-1), TAR@FAR from
scored pairs, and TAR@FAR from a score histogram (all-pairs protocols).

Percentile intervals, seeded; each resample is drawn as counts (one binomial number, per-item counts, or a
multinomial over bins) so that thousands of them stay cheap. Conventions as in `facevault.evaluation.counts`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from facevault.evaluation.counts import (
    allowed_false_accepts,
    check_far,
    check_pairs,
    enough_negatives,
    need_both,
)
from facevault.evaluation.histogram import ScoreHistogram

__all__ = ["bootstrap_histogram_tar_at_far", "bootstrap_proportion_ci", "bootstrap_tar_at_far"]


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def bootstrap_proportion_ci(
    successes: int, n: int, draws: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile interval of a proportion (accuracy, rank-1) from resampling its n items with replacement.

    The successes in one resample are exactly Binomial(n, successes / n), so each draw is one binomial
    number rather than n indices. None when n == 0 or draws == 0.
    """
    if n <= 0 or draws <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    rng = np.random.default_rng(seed)
    return _interval(rng.binomial(n, successes / n, size=draws) / n, level)


def _resample_counts(rng: np.random.Generator, n: int, draws: int) -> np.ndarray:
    """(draws, n): how often each of n items appears in each resample of size n (drawn with replacement)."""
    idx = rng.integers(0, n, size=(draws, n))
    idx += (np.arange(draws) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=draws * n).reshape(draws, n)


def _resampled_tars(pos_asc: np.ndarray, pos_counts: np.ndarray, neg_desc: np.ndarray, neg_counts: np.ndarray,
                    fars: Sequence[float]) -> np.ndarray:
    """TAR@FAR (draws x fars) of resamples given as counts over sorted scores, by the rule of tar_at_far:
    accept exactly the scores above the (allowed + 1)-th highest resampled negative."""
    p, n = len(pos_asc), len(neg_desc)
    cum_n = np.cumsum(neg_counts, axis=1)
    cum_p = np.cumsum(pos_counts, axis=1)
    rows = np.arange(len(neg_counts))
    out = np.empty((len(neg_counts), len(fars)))
    for c, far in enumerate(fars):
        k = allowed_false_accepts(n, far) + 1
        if k > n:
            out[:, c] = 1.0
            continue
        v = neg_desc[np.argmax(cum_n >= k, axis=1)]
        i = np.searchsorted(pos_asc, v, side="right")  # positives <= v are rejected
        below = np.where(i > 0, cum_p[rows, np.maximum(i - 1, 0)], 0)
        out[:, c] = (p - below) / p
    return out


def bootstrap_tar_at_far(
    scores: ArrayLike, labels: ArrayLike, fars: Sequence[float], draws: int = 1000, seed: int = 0,
    level: float = 0.95,
) -> list[tuple[float, float] | None]:
    """Percentile intervals of TAR@FAR, one per target, from a stratified bootstrap of pairs.

    Positives and negatives are resampled apart (with replacement, counts kept) and the threshold is
    chosen anew on each resample's negatives. Vectorised: each resample is a row of counts over the
    sorted scores. None for targets with fewer than 1/far negatives, and for all when draws == 0.
    """
    s, lab = check_pairs(scores, labels)
    p, n = need_both(lab)
    for far in fars:
        check_far(far)
    ok = [f for f in fars if enough_negatives(n, f)]
    if draws <= 0 or not ok:
        return [None] * len(fars)
    pos_asc, neg_desc = np.sort(s[lab]), np.sort(s[~lab])[::-1]
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // max(p, n))
    parts = []
    for start in range(0, draws, chunk):
        m = min(chunk, draws - start)
        parts.append(_resampled_tars(pos_asc, _resample_counts(rng, p, m), neg_desc, _resample_counts(rng, n, m), ok))
    tars = np.vstack(parts)
    cis = {f: _interval(tars[:, c], level) for c, f in enumerate(ok)}
    return [cis.get(f) for f in fars]


def bootstrap_histogram_tar_at_far(
    h: ScoreHistogram, fars: Sequence[float], draws: int = 1000, seed: int = 0, level: float = 0.95
) -> list[tuple[float, float] | None]:
    """bootstrap_tar_at_far for histograms: a resample of the pairs is a multinomial draw over the bins."""
    for far in fars:
        check_far(far)
    p, n = h.positives, h.negatives
    ok = [f for f in fars if enough_negatives(n, f)]
    if draws <= 0 or not ok or p == 0:
        return [None] * len(fars)
    used = np.flatnonzero((h.pos + h.neg) > 0)[::-1]  # descending score; empty bins change nothing
    pp, pn = h.pos[used] / p, h.neg[used] / n
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // len(used))
    tars = np.empty((draws, len(ok)))
    for start in range(0, draws, chunk):
        m = min(chunk, draws - start)
        cum_p = np.cumsum(rng.multinomial(p, pp / pp.sum(), size=m), axis=1)
        cum_n = np.cumsum(rng.multinomial(n, pn / pn.sum(), size=m), axis=1)
        for c, far in enumerate(ok):
            top = (cum_n <= allowed_false_accepts(n, far)).sum(axis=1)  # bins accepted from the top
            tars[start:start + m, c] = np.where(top > 0, cum_p[np.arange(m), np.maximum(top - 1, 0)], 0) / p
    cis = {f: _interval(tars[:, c], level) for c, f in enumerate(ok)}
    return [cis.get(f) for f in fars]
