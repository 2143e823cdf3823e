"""Every pair of a set of vectors, scored in blocks of matrix products into a fixed-bin score histogram.

LFW's 13,233 images make 87.5M pairs: far too many to hold as scores, let alone to sort. Each block of rows is
scored against the rows after it, binned and counted with one bincount, so memory stays bounded and the
curves come from `facevault.evaluation.histogram`.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from facevault.evaluation.histogram import ScoreHistogram
from facevault.evaluation.metric import check_metric, metric_range

__all__ = ["all_pairs_histogram", "pair_counts"]


def all_pairs_histogram(
    matrix: np.ndarray,
    codes: np.ndarray,
    metric: str = "cosine",
    norms: np.ndarray | None = None,
    bins: int = 20000,
    block: int = 2048,
) -> tuple[ScoreHistogram, tuple[float, float]]:
    """Histogram of every pair i < j of `matrix` rows (unit vectors), same identity iff codes match.

    Rows are scored `block` at a time against the rows after them (one matrix product per block), binned,
    and counted with one bincount; peak memory is about 16 bytes x block x rows. Also returns the exact
    (mean, population std) of the positive scores, for the study rule.
    """
    check_metric(metric)
    n = len(matrix)
    max_norm = None
    if metric == "euclidean":
        if norms is None or not np.isfinite(norms).all():
            raise ValueError("euclidean distance is unavailable: some vectors have no stored raw norm (NaN)")
        max_norm = float(norms.max()) if n else 1.0
        nrm = norms.astype(np.float32)
    lo, hi = metric_range(metric, max_norm)
    scale = np.float32(bins / (hi - lo))
    counts = np.zeros(2 * bins + 1, np.int64)  # negatives, positives, then one bin for pairs to ignore
    upper = np.triu(np.ones((block, block), bool), 1)
    psum = psq = 0.0
    mat = np.ascontiguousarray(matrix, dtype=np.float32)
    for r0 in range(0, n, block):
        r1 = min(r0 + block, n)
        b = r1 - r0
        x = mat[r0:r1] @ mat[r0:].T
        if metric == "euclidean":
            x *= -2.0 * nrm[r0:r1, None]
            x *= nrm[None, r0:]
            x += (nrm[r0:r1] ** 2)[:, None]
            x += (nrm[r0:] ** 2)[None, :]
        elif metric == "euclidean_l2":
            x *= -2.0
            x += 2.0
        if metric != "cosine":
            np.maximum(x, 0.0, out=x)
            np.sqrt(x, out=x)
            np.negative(x, out=x)
        same = codes[r0:r1, None] == codes[None, r0:]
        same[:, :b] &= upper[:b, :b]
        pos = x[same].astype(np.float64)
        psum += float(pos.sum())
        psq += float(np.dot(pos, pos))
        x -= np.float32(lo)
        x *= scale
        np.clip(x, 0, bins - 1, out=x)
        idx = x.astype(np.int64)
        del x
        idx[same] += bins
        idx[:, :b][~upper[:b, :b]] = 2 * bins
        counts += np.bincount(idx.ravel(), minlength=2 * bins + 1)
        del idx, same
    h = ScoreHistogram(np.linspace(lo, hi, bins + 1), pos=counts[bins:2 * bins].copy(),
                               neg=counts[:bins].copy())
    p = h.positives
    mean = psum / p if p else float("nan")
    std = math.sqrt(max(psq / p - mean * mean, 0.0)) if p else float("nan")
    return h, (mean, std)


def pair_counts(counts: Iterable[int]) -> tuple[int, int]:
    """(same-identity pairs, all pairs) among images with these per-identity counts."""
    counts = list(counts)
    total = sum(counts)
    return sum(k * (k - 1) // 2 for k in counts), total * (total - 1) // 2
