"""Identity x identity mean cosine similarity from per-identity sums, and a clustering order for its rows.

With S_i the sum of identity i's unit vectors and n_i their count, the mean over all cross pairs is
S_i.S_j / (n_i n_j), and over distinct same-identity pairs (|S_i|^2 - n_i) / (n_i (n_i - 1)): one matrix
product, no loop over image pairs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["cluster_order", "mean_similarity"]


def mean_similarity(sums: ArrayLike, counts: ArrayLike) -> np.ndarray:
    """(k x k) mean cosine between identities from their vector sums (k x dim) and face counts (k).

    Off the diagonal: the mean over every cross pair. On it: the mean over distinct same-identity pairs,
    NaN for an identity with a single face.
    """
    s = np.asarray(sums, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    if s.ndim != 2 or n.shape != (len(s),):
        raise ValueError("sums must be (identities x dim) and counts one per identity")
    if (n < 1).any():
        raise ValueError("every identity needs at least one face")
    dots = s @ s.T
    matrix = dots / np.outer(n, n)
    diag = np.full(len(n), np.nan)
    multi = n > 1
    diag[multi] = (np.diag(dots)[multi] - n[multi]) / (n[multi] * (n[multi] - 1))
    np.fill_diagonal(matrix, diag)
    return matrix


def cluster_order(similarity: ArrayLike) -> np.ndarray:
    """Leaf order of an average-linkage (UPGMA) clustering on distance 1 - similarity, with the optimal leaf
    ordering (Bar-Joseph et al. 2001: adjacent leaves as similar as the tree allows), so lookalikes sit side by
    side. The diagonal is ignored; NaN off it counts as the largest distance.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    s = np.array(similarity, dtype=float)
    n = len(s)
    if s.shape != (n, n):
        raise ValueError("cluster_order needs a square matrix")
    if n <= 2:
        return np.arange(n)
    d = 1.0 - s
    np.fill_diagonal(d, 0.0)
    finite = np.isfinite(d)
    d[~finite] = d[finite].max() if finite.any() else 1.0
    d = np.maximum((d + d.T) / 2.0, 0.0)  # 1 - cos can come out a hair below 0
    np.fill_diagonal(d, 0.0)
    y = squareform(d, checks=False)
    return np.asarray(leaves_list(optimal_leaf_ordering(linkage(y, method="average"), y)))
