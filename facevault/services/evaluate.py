"""Verification from stored vectors: pairs in, a report out; no network runs per pair.

A pairs list (a file or a seeded sample) is scored pair by pair and cross-validated over its folds. The
`all` protocol scores every pair of the stored vectors in blocks of matrix products into fixed-bin score
histograms, so LFW's 87M pairs take bounded memory and are never sorted. Either way the chosen operating
point (best accuracy, or a target FAR) can be stored on the space as its search threshold (cosine only).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from facevault.evaluation import metrics
from facevault.store import Catalog, StoredVectors
from facevault.core.errors import ProtocolError
from facevault.services.protocols import Pairs

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """A verification report for one space and protocol, plus the arrays plots and reports need."""

    space: str
    space_id: int
    protocol: str
    report: metrics.VerificationReport
    not_ingested: int
    missing_examples: list[str]
    seconds: float
    metric: str = "cosine"
    operating_point: dict | None = None  # rule, threshold (metric units), far, tar on this protocol
    threshold_source: str | None = None  # set when the operating point was stored as the space's threshold
    model: str = ""
    detector: str = ""
    aligner: str = ""
    images_per_second: float | None = None
    # for plots and reports, not in to_dict (pairs protocols: one entry per kept pair; `all`: the histogram)
    scores: np.ndarray | None = field(default=None, repr=False)  # similarity (negative distance), NaN if missing
    labels: np.ndarray | None = field(default=None, repr=False)
    missing: np.ndarray | None = field(default=None, repr=False)
    pair_a: list[str] | None = field(default=None, repr=False)
    pair_b: list[str] | None = field(default=None, repr=False)
    folds: np.ndarray | None = field(default=None, repr=False)
    histogram: metrics.ScoreHistogram | None = field(default=None, repr=False)  # `all`: bins in score units

    def to_dict(self) -> dict:
        d = self.report.to_dict()
        d.update(space=self.space, space_id=self.space_id, model=self.model, detector=self.detector,
                 aligner=self.aligner, images_per_second=self.images_per_second, protocol=self.protocol,
                 operating_point=self.operating_point, threshold_stored=self.threshold_source is not None,
                 threshold_source=self.threshold_source, not_ingested=self.not_ingested,
                 missing_examples=self.missing_examples, seconds=round(self.seconds, 4))
        return d

    def row(self) -> dict:
        """One leaderboard row."""
        r = self.report
        t3 = next((t for t in r.tar_at_far if math.isclose(t.far_target, 1e-3)), None)
        return {"model": self.model, "detector": self.detector, "aligner": self.aligner, "space_id": self.space_id,
                "protocol": self.protocol, "metric": self.metric, "pairs": r.pairs, "accuracy": r.accuracy,
                "accuracy_std": r.accuracy_std, "accuracy_ci": r.accuracy_ci, "auc": r.auc, "eer": r.eer,
                "tar_at_far_1e-3": None if t3 is None else t3.tar, "threshold": r.threshold, "missing": r.missing,
                "images_per_second": self.images_per_second}


def pair_scores(matrix: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Cosine similarity of stored, L2-normalised vectors for each pair (row-wise dot products)."""
    return np.einsum("ij,ij->i", matrix[ia], matrix[ib]).astype(np.float64)


def _space_name(space) -> str:
    return f"{space.model} / {space.detector} / {space.aligner}"


def _space_facts(space) -> dict:
    return {"model": space.model, "detector": space.detector, "aligner": space.aligner,
            "images_per_second": space.images_per_second}


def _metric_scores(cos: np.ndarray, metric: str, stored: StoredVectors, ia, ib, space) -> np.ndarray:
    if metric != "euclidean":
        return metrics.metric_scores(cos, metric)
    norms = stored.norms if stored.norms is not None else np.full(len(stored), np.nan)
    try:
        return metrics.metric_scores(cos, metric, norms[ia], norms[ib])
    except ValueError:
        raise ProtocolError(
            f"euclidean distance is unavailable for {_space_name(space)}: its vectors were stored without their "
            "raw norms (re-ingest into a new store, or use --metric euclidean_l2 or cosine)") from None


def _operating_point(report: metrics.VerificationReport, metric: str, target_far: float | None,
                     tar_at: metrics.TarAtFar | None, rates_at) -> dict:
    """The threshold to use: the report's best-accuracy one, or the one giving FAR <= target_far."""
    if target_far is None:
        thr = report.threshold
        score_thr = thr if metric == "cosine" else -thr
        far, tar = rates_at(score_thr)
        rule = ("best accuracy, mean of the fold thresholds" if report.cross_validated
                else "best accuracy on all pairs (not cross-validated)")
        return {"rule": rule, "metric": metric, "threshold": thr, "far": far, "tar": tar}
    if tar_at is None or not tar_at.sufficient:
        raise ProtocolError(f"--target-far {target_far:g} needs at least {math.ceil(1 / target_far)} scored "
                            "different-person pairs; this protocol has fewer")
    return {"rule": f"FAR <= {target_far:g}", "metric": metric,
            "threshold": metrics.in_metric_units(tar_at.threshold, metric), "far": tar_at.far_achieved,
            "tar": tar_at.tar}


def _source(protocol: str, op: dict, report: metrics.VerificationReport, target_far: float | None) -> str:
    """Which protocol, rule and metric produced a stored threshold, e.g. "lfw-pairs:pairs.txt, best accuracy,
    10-fold, cosine" or "all:13233 images, FAR<=0.001 (achieved 0.000998), cosine"."""
    if target_far is not None:
        return f"{protocol}, FAR<={target_far:g} (achieved {op['far']:.3g}), {op['metric']}"
    folds = f"{len(report.fold_accuracies)}-fold" if report.cross_validated else "all pairs, not cross-validated"
    return f"{protocol}, best accuracy, {folds}, {op['metric']}"


def _finish(catalog: Catalog, space, ev: Evaluation, calibrate: bool, target_far: float | None) -> Evaluation:
    if calibrate and ev.metric == "cosine":
        source = _source(ev.protocol, ev.operating_point, ev.report, target_far)
        catalog.set_threshold(space.id, ev.operating_point["threshold"], source)
        ev.threshold_source = source
    elif calibrate:
        log.info("threshold in %s not stored: search uses cosine thresholds", ev.metric)
    return ev


def evaluate(
    catalog: Catalog,
    space,
    pairs: Pairs,
    calibrate: bool = True,
    *,
    metric: str = "cosine",
    target_far: float | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    fars: tuple[float, ...] = metrics.DEFAULT_FARS,
    stored: StoredVectors | None = None,
    known: dict[str, str | None] | None = None,
) -> Evaluation:
    """Score `pairs` in `space` and report; with `calibrate`, store the operating point's cosine threshold.

    `stored` and `known` (catalog.image_paths()) may be passed in to share one load across calls.
    """
    t0 = time.perf_counter()
    metrics.check_metric(metric)
    if stored is None:
        stored = catalog.vectors(space.id, space.dim)
    where = stored.by_path()
    if known is None:
        known = catalog.image_paths()
    keep, ia, ib, missing = [], [], [], []
    not_ingested = 0
    missing_examples: list[str] = []
    for i, (a, b) in enumerate(zip(pairs.a, pairs.b)):
        if a not in known or b not in known:
            not_ingested += 1
            continue
        keep.append(i)
        pa, pb = where.get(a), where.get(b)
        if pa is None or pb is None:
            missing.append(True)
            ia.append(0); ib.append(0)
            if len(missing_examples) < 10:
                missing_examples.extend(p for p, q in ((a, pa), (b, pb)) if q is None)
        else:
            missing.append(False)
            ia.append(pa); ib.append(pb)
    if not keep:
        raise ProtocolError(f"none of the {len(pairs)} pairs' images are in this store (ingested the right dataset?)")
    labels, folds = pairs.labels[keep], pairs.folds[keep]
    miss = np.asarray(missing, bool)
    ok = ~miss
    ia_ok, ib_ok = np.asarray(ia)[ok], np.asarray(ib)[ok]
    scores = np.full(len(keep), np.nan)
    if ok.any():
        cos = pair_scores(stored.matrix, ia_ok, ib_ok)
        scores[ok] = _metric_scores(cos, metric, stored, ia_ok, ib_ok, space)
    if not labels[ok].any() or labels[ok].all():
        raise ProtocolError("the scored pairs need both same-person and different-person pairs")
    report = metrics.verification_report(scores, labels, folds, miss, fars=fars, metric=metric,
                                         bootstrap=bootstrap, seed=seed)
    s_ok, l_ok = scores[ok], labels[ok]
    tar_at = metrics.tar_at_far(s_ok, l_ok, target_far) if target_far is not None else None
    op = _operating_point(report, metric, target_far, tar_at,
                          lambda t: (float(np.mean(s_ok[~l_ok] >= t)), float(np.mean(s_ok[l_ok] >= t))))
    ev = Evaluation(space=_space_name(space), space_id=space.id, protocol=pairs.name, report=report,
                    not_ingested=not_ingested, missing_examples=missing_examples[:10], seconds=0.0, metric=metric,
                    operating_point=op, **_space_facts(space), scores=scores, labels=labels, missing=miss,
                    pair_a=[pairs.a[i] for i in keep], pair_b=[pairs.b[i] for i in keep], folds=folds)
    _finish(catalog, space, ev, calibrate, target_far)
    ev.seconds = time.perf_counter() - t0
    return ev


# ---------------------------------------------------------------- every pair


def all_pairs_histogram(
    matrix: np.ndarray,
    codes: np.ndarray,
    metric: str = "cosine",
    norms: np.ndarray | None = None,
    bins: int = 20000,
    block: int = 2048,
) -> tuple[metrics.ScoreHistogram, tuple[float, float]]:
    """Histogram of every pair i < j of `matrix` rows (unit vectors), same identity iff codes match.

    Rows are scored `block` at a time against the rows after them (one matrix product per block), binned,
    and counted with one bincount; peak memory is about 16 bytes x block x rows. Also returns the exact
    (mean, population std) of the positive scores, for the study rule.
    """
    metrics.check_metric(metric)
    n = len(matrix)
    max_norm = None
    if metric == "euclidean":
        if norms is None or not np.isfinite(norms).all():
            raise ValueError("euclidean distance is unavailable: some vectors have no stored raw norm (NaN)")
        max_norm = float(norms.max()) if n else 1.0
        nrm = norms.astype(np.float32)
    lo, hi = metrics.metric_range(metric, max_norm)
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
    h = metrics.ScoreHistogram(np.linspace(lo, hi, bins + 1), pos=counts[bins:2 * bins].copy(),
                               neg=counts[:bins].copy())
    p = h.positives
    mean = psum / p if p else float("nan")
    std = math.sqrt(max(psq / p - mean * mean, 0.0)) if p else float("nan")
    return h, (mean, std)


def _pairs_of(counts: Counter) -> tuple[int, int]:
    """(same-identity pairs, all pairs) among images with these per-identity counts."""
    total = sum(counts.values())
    return sum(k * (k - 1) // 2 for k in counts.values()), total * (total - 1) // 2


def evaluate_all(
    catalog: Catalog,
    space,
    calibrate: bool = True,
    *,
    metric: str = "cosine",
    target_far: float | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    fars: tuple[float, ...] = metrics.ALL_PAIRS_FARS,
    bins: int = 20000,
    block: int = 2048,
    stored: StoredVectors | None = None,
    known: dict[str, str | None] | None = None,
) -> Evaluation:
    """Every same and every different pair of the space's labelled vectors, from score histograms.

    There are no folds: the best-accuracy threshold is chosen on the pairs it is tested on, and the report
    says so. Pairs with an image that has no vector count as missing (wrong), as in the pairs protocols.
    """
    t0 = time.perf_counter()
    metrics.check_metric(metric)
    if stored is None:
        stored = catalog.vectors(space.id, space.dim)
    if known is None:
        known = catalog.image_paths()
    rows = np.array([i for i, ident in enumerate(stored.identities) if ident is not None], np.int64)
    idents = [stored.identities[i] for i in rows]
    _, codes = np.unique(np.array(idents, dtype=object), return_inverse=True) if idents else (None, np.zeros(0, int))
    norms = stored.norms[rows] if stored.norms is not None else None
    try:
        hist, moments = all_pairs_histogram(stored.matrix[rows], np.asarray(codes), metric, norms, bins, block)
    except ValueError:
        raise ProtocolError(
            f"euclidean distance is unavailable for {_space_name(space)}: its vectors were stored without their "
            "raw norms (re-ingest into a new store, or use --metric euclidean_l2 or cosine)") from None
    same_all, all_all = _pairs_of(Counter(v for v in known.values() if v is not None))
    same_st, all_st = _pairs_of(Counter(idents))
    miss_pos = max(same_all - same_st, 0)
    miss_neg = max((all_all - same_all) - (all_st - same_st), 0)
    if hist.positives == 0 or hist.negatives == 0:
        raise ProtocolError("all pairs need two identities and one identity with two or more faces")
    report = metrics.histogram_report(hist, miss_pos, miss_neg, fars, metric, bootstrap, seed, moments)
    tar_at = metrics.histogram_tar_at_far(hist, target_far) if target_far is not None else None

    def rates_at(t: float) -> tuple[float, float]:
        j = int(np.searchsorted(hist.edges[:-1], t, side="left"))
        return float(hist.neg[j:].sum() / hist.negatives), float(hist.pos[j:].sum() / hist.positives)

    op = _operating_point(report, metric, target_far, tar_at, rates_at)
    have = set(stored.paths)
    missing_examples = sorted(p for p, v in known.items() if v is not None and p not in have)[:10]
    ev = Evaluation(space=_space_name(space), space_id=space.id, protocol=f"all:{len(rows)} images", report=report,
                    not_ingested=0, missing_examples=missing_examples, seconds=0.0, metric=metric,
                    operating_point=op, **_space_facts(space), histogram=hist)
    _finish(catalog, space, ev, calibrate, target_far)
    ev.seconds = time.perf_counter() - t0
    return ev
