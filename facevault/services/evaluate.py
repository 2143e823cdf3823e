"""Verification and identification from stored vectors, for one space or a leaderboard of several.

`run` is the one entry point (the CLI's `evaluate`, the report and the Python API all call it): it resolves
the protocol, loads its pairs once and each space's vectors once, and evaluates every space. A pairs list (a
file or a seeded sample) is scored pair by pair and cross-validated over its folds; the `all` protocol scores
every pair of the stored vectors from score histograms (`facevault.evaluation.allpairs`), so LFW's 87M pairs
take bounded memory; `identify` splits each identity's faces into gallery and probes. The chosen operating
point (best accuracy, or a target FAR) can be stored on the space as its search threshold (cosine only).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from facevault.core.errors import FacevaultError, NoSpace, ProtocolError
from facevault.core.types import SpaceRecord, StoredVectors
from facevault.evaluation.allpairs import all_pairs_histogram, pair_counts
from facevault.evaluation.curves import (
    ALL_PAIRS_FARS,
    DEFAULT_FARS,
    TarAtFar,
    tar_at_far,
)
from facevault.evaluation.histogram import ScoreHistogram, histogram_tar_at_far
from facevault.evaluation.identification import IdentificationReport, identify
from facevault.evaluation.metric import check_metric, in_metric_units, metric_scores
from facevault.evaluation.verification import (
    VerificationReport,
    histogram_report,
    verification_report,
)
from facevault.services import protocols
from facevault.services.protocols import Pairs
from facevault.store import Catalog

log = logging.getLogger(__name__)

__all__ = ["Evaluation", "EvaluationRun", "Identification", "evaluate", "evaluate_all", "identification", "run"]

_IDENTIFY_ROW = ("model", "detector", "aligner", "space_id", "rank1", "rank1_ci", "rank5", "rank5_ci", "dir_at_fpir",
                 "probes", "gallery", "identities", "known_probes", "unknown_probes", "images_per_second")


def _facts(space: SpaceRecord) -> dict:
    return {"space": space.label, "space_id": space.id, "model": space.model, "detector": space.detector,
            "aligner": space.aligner, "images_per_second": space.images_per_second}


@dataclass
class Evaluation:
    """A verification report for one space and protocol, plus the arrays plots and reports need."""

    space: str  # the space's label
    space_id: int
    protocol: str
    report: VerificationReport
    not_ingested: int
    missing_examples: list[str]
    seconds: float
    metric: str = "cosine"
    operating_point: dict | None = None  # rule, threshold (metric units), far, tar on this protocol
    threshold_source: str | None = None  # set when the operating point was stored as the space's threshold
    threshold_note: str | None = None  # why it was not stored, when it was not
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
    histogram: ScoreHistogram | None = field(default=None, repr=False)  # `all`: bins in score units

    def to_dict(self) -> dict:
        d = self.report.to_dict()
        d.update(space=self.space, space_id=self.space_id, model=self.model, detector=self.detector,
                 aligner=self.aligner, images_per_second=self.images_per_second, protocol=self.protocol,
                 operating_point=self.operating_point, threshold_stored=self.threshold_source is not None,
                 threshold_source=self.threshold_source, threshold_note=self.threshold_note,
                 not_ingested=self.not_ingested,
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


@dataclass
class Identification:
    """An identification report for one space."""

    space: str
    space_id: int
    report: IdentificationReport
    seconds: float
    model: str = ""
    detector: str = ""
    aligner: str = ""
    images_per_second: float | None = None
    protocol: str = "identify"

    def to_dict(self) -> dict:
        d = self.report.to_dict()
        d.update(space=self.space, space_id=self.space_id, model=self.model, detector=self.detector,
                 aligner=self.aligner, images_per_second=self.images_per_second, protocol=self.protocol,
                 seconds=round(self.seconds, 4))
        return d

    def row(self) -> dict:
        """One leaderboard row."""
        d = self.to_dict()
        return {k: d[k] for k in _IDENTIFY_ROW}


@dataclass
class EvaluationRun:
    """Every space evaluated on one protocol: `results` best first (verification: accuracy, then AUC;
    identification: rank-1), the spaces that could not be evaluated in `skipped` as (label, reason)."""

    protocol: str  # the protocol chosen: pairs, sample, all or identify
    results: list  # Evaluation (pairs, sample, all) or Identification (identify), one per space
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    single: bool = False  # one space was asked for: its whole document is the run's document
    pairs: Pairs | None = field(default=None, repr=False)  # the pairs scored (pairs, sample)
    vectors: dict[int, StoredVectors] = field(default_factory=dict, repr=False)  # by space id, with keep_vectors

    @property
    def identification(self) -> bool:
        return self.protocol == "identify"

    @property
    def best(self) -> "Evaluation | Identification":
        return self.results[0]

    def rows(self) -> list[dict]:
        """The leaderboard, one row per space, best first."""
        return [r.row() for r in self.results]

    def to_dict(self) -> dict | list[dict]:
        """One space asked for: its full document; several: the leaderboard rows."""
        return self.results[0].to_dict() if self.single else self.rows()


def pair_scores(matrix: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Cosine similarity of stored, L2-normalised vectors for each pair (row-wise dot products)."""
    return np.einsum("ij,ij->i", matrix[ia], matrix[ib]).astype(np.float64)


def _no_norms(space: SpaceRecord) -> ProtocolError:
    return ProtocolError(
        f"euclidean distance is unavailable for {space.label}: its vectors were stored without their "
        "raw norms (re-ingest into a new store, or use --metric euclidean_l2 or cosine)")


def _metric_scores(cos: np.ndarray, metric: str, stored: StoredVectors, ia, ib, space: SpaceRecord) -> np.ndarray:
    if metric != "euclidean":
        return metric_scores(cos, metric)
    norms = stored.norms if stored.norms is not None else np.full(len(stored), np.nan)
    try:
        return metric_scores(cos, metric, norms[ia], norms[ib])
    except ValueError:
        raise _no_norms(space) from None


def _operating_point(report: VerificationReport, metric: str, target_far: float | None,
                     tar_at: TarAtFar | None, rates_at) -> dict:
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
            "threshold": in_metric_units(tar_at.threshold, metric), "far": tar_at.far_achieved,
            "tar": tar_at.tar}


def _source(protocol: str, op: dict, report: VerificationReport, target_far: float | None) -> str:
    """Which protocol, rule and metric produced a stored threshold, e.g. "lfw-pairs:pairs.txt, best accuracy,
    10-fold, cosine" or "all:13233 images, FAR<=0.001 (achieved 0.000998), cosine"."""
    if target_far is not None:
        return f"{protocol}, FAR<={target_far:g} (achieved {op['far']:.3g}), {op['metric']}"
    folds = f"{len(report.fold_accuracies)}-fold" if report.cross_validated else "all pairs, not cross-validated"
    return f"{protocol}, best accuracy, {folds}, {op['metric']}"


def _pending(catalog: Catalog, space: SpaceRecord) -> set[str]:
    """Present images an ingest has not reached yet in this space (no scan row): their pairs are *not yet
    ingested*, never "no face", and while there are any the store is incomplete and no threshold is stored."""
    from facevault.store.check import unscanned_paths

    if not isinstance(catalog, Catalog):  # a stand-in catalog (tests, notebooks) keeps no scans
        return set()
    return unscanned_paths(catalog, space.id)


def _finish(catalog: Catalog, space: SpaceRecord, ev: Evaluation, calibrate: bool | None,
            target_far: float | None, pending: int = 0) -> Evaluation:
    """Store the operating point as the space's threshold for search/verify, or say why not.

    `calibrate` None (the default) stores only a cross-validated threshold (pairs, sample), so `--protocol all`
    never silently replaces one; True stores whatever the protocol gives; False never stores.
    """
    if calibrate is False:
        ev.threshold_note = "--no-calibrate"
    elif pending:
        ev.threshold_note = f"{pending} images not yet ingested in this space (incomplete store)"
    elif ev.metric != "cosine":
        ev.threshold_note = f"search uses cosine thresholds, not {ev.metric}"
    elif calibrate is None and not ev.report.cross_validated:
        ev.threshold_note = "not cross-validated; --calibrate stores it"
    else:
        source = _source(ev.protocol, ev.operating_point, ev.report, target_far)
        catalog.set_threshold(space.id, ev.operating_point["threshold"], source)
        ev.threshold_source = source
    if ev.threshold_note:
        log.info("threshold of %s not stored: %s", space.label, ev.threshold_note)
    return ev


def evaluate(
    catalog: Catalog,
    space: SpaceRecord,
    pairs: Pairs,
    calibrate: bool | None = None,
    *,
    metric: str = "cosine",
    target_far: float | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    fars: tuple[float, ...] = DEFAULT_FARS,
    stored: StoredVectors | None = None,
    known: dict[str, str | None] | None = None,
) -> Evaluation:
    """Score `pairs` in `space` and report; store its cosine threshold as `_finish` decides (see there).

    `stored` and `known` (catalog.image_paths()) may be passed in to share one load across calls.
    """
    t0 = time.perf_counter()
    check_metric(metric)
    if stored is None:
        stored = catalog.vectors(space.id)
    where = stored.by_path()
    if known is None:
        known = catalog.image_paths()
    pending = _pending(catalog, space)
    keep, ia, ib, missing = [], [], [], []
    not_ingested = 0
    missing_examples: list[str] = []
    for i, (a, b) in enumerate(zip(pairs.a, pairs.b)):
        if a not in known or b not in known or a in pending or b in pending:
            not_ingested += 1
            continue
        keep.append(i)
        pa, pb = where.get(a), where.get(b)
        if pa is None or pb is None:
            missing.append(True)
            ia.append(0); ib.append(0)
            if len(missing_examples) < 10:  # distinct images, in the order met
                missing_examples.extend(p for p, q in ((a, pa), (b, pb)) if q is None and p not in missing_examples)
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
    report = verification_report(scores, labels, folds, miss, fars=fars, metric=metric,
                                         bootstrap=bootstrap, seed=seed)
    s_ok, l_ok = scores[ok], labels[ok]
    tar_at = tar_at_far(s_ok, l_ok, target_far) if target_far is not None else None
    op = _operating_point(report, metric, target_far, tar_at,
                          lambda t: (float(np.mean(s_ok[~l_ok] >= t)), float(np.mean(s_ok[l_ok] >= t))))
    ev = Evaluation(protocol=pairs.name, report=report,
                    not_ingested=not_ingested, missing_examples=missing_examples[:10], seconds=0.0, metric=metric,
                    operating_point=op, **_facts(space), scores=scores, labels=labels, missing=miss,
                    pair_a=[pairs.a[i] for i in keep], pair_b=[pairs.b[i] for i in keep], folds=folds)
    _finish(catalog, space, ev, calibrate, target_far, len(pending))
    ev.seconds = time.perf_counter() - t0
    return ev


# ---------------------------------------------------------------- every pair


def evaluate_all(
    catalog: Catalog,
    space: SpaceRecord,
    calibrate: bool | None = None,
    *,
    metric: str = "cosine",
    target_far: float | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    fars: tuple[float, ...] = ALL_PAIRS_FARS,
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
    check_metric(metric)
    if stored is None:
        stored = catalog.vectors(space.id)
    if known is None:
        known = catalog.image_paths()
    pending = _pending(catalog, space)
    if pending:  # not reached by the ingest yet: neither scored nor counted as missing
        known = {p: v for p, v in known.items() if p not in pending}
    rows = np.array([i for i, ident in enumerate(stored.identities) if ident is not None], np.int64)
    idents = [stored.identities[i] for i in rows]
    _, codes = np.unique(np.array(idents, dtype=object), return_inverse=True) if idents else (None, np.zeros(0, int))
    norms = stored.norms[rows] if stored.norms is not None else None
    try:
        hist, moments = all_pairs_histogram(stored.matrix[rows], np.asarray(codes), metric, norms, bins, block)
    except ValueError:
        raise _no_norms(space) from None
    same_all, all_all = pair_counts(Counter(v for v in known.values() if v is not None).values())
    same_st, all_st = pair_counts(Counter(idents).values())
    miss_pos = max(same_all - same_st, 0)
    miss_neg = max((all_all - same_all) - (all_st - same_st), 0)
    if hist.positives == 0 or hist.negatives == 0:
        raise ProtocolError("all pairs need two identities and one identity with two or more faces")
    report = histogram_report(hist, miss_pos, miss_neg, fars, metric, bootstrap, seed, moments)
    tar_at = histogram_tar_at_far(hist, target_far) if target_far is not None else None

    def rates_at(t: float) -> tuple[float, float]:
        j = int(np.searchsorted(hist.edges[:-1], t, side="left"))
        return float(hist.neg[j:].sum() / hist.negatives), float(hist.pos[j:].sum() / hist.positives)

    op = _operating_point(report, metric, target_far, tar_at, rates_at)
    have = set(stored.paths)
    missing_examples = sorted(p for p, v in known.items() if v is not None and p not in have)[:10]
    ev = Evaluation(protocol=f"all:{len(rows)} images", report=report,
                    not_ingested=len(pending), missing_examples=missing_examples, seconds=0.0, metric=metric,
                    operating_point=op, **_facts(space), histogram=hist)
    _finish(catalog, space, ev, calibrate, target_far, len(pending))
    ev.seconds = time.perf_counter() - t0
    return ev


# ---------------------------------------------------------------- identification


def identification(space: SpaceRecord, stored: StoredVectors, *, gallery_per_identity: int = 1, seed: int = 0,
                   unknown_fraction: float = 0.1, ranks: int = 20, bootstrap: int = 1000,
                   metric: str = "cosine") -> Identification:
    """Closed- and open-set identification of one space (`facevault.evaluation.identification.identify`)."""
    t0 = time.perf_counter()
    rep = identify(stored, gallery_per_identity, seed, unknown_fraction, ranks, bootstrap, metric=metric)
    f = _facts(space)
    return Identification(f.pop("space"), f.pop("space_id"), rep, time.perf_counter() - t0, **f)


# ---------------------------------------------------------------- the leaderboard


def _rank(result: "Evaluation | Identification") -> tuple[float, ...]:
    if isinstance(result, Identification):
        return (-result.report.rank1,)
    return (-result.report.accuracy, -result.report.auc)


def run(
    catalog: Catalog,
    records: list[SpaceRecord],
    protocol: str | None,
    *,
    pairs_file: Path | None = None,
    sample: int | None = None,
    metric: str = "cosine",
    target_far: float | None = None,
    gallery_per_identity: int = 1,
    unknown_fraction: float = 0.1,
    ranks: int = 20,
    bootstrap: int = 1000,
    seed: int = 0,
    folds: int = 10,
    calibrate: bool | None = None,
    keep_vectors: bool = False,
    datasets: Sequence[str] | None = None,
) -> EvaluationRun:
    """Evaluate every space of `records` on one protocol (see the module doc).

    The protocol is the one named or implied by `pairs_file` / `sample` (ProtocolError when they conflict or
    none is given). With several spaces, one that cannot be evaluated is skipped with its reason; with one, its
    error is raised. `keep_vectors` keeps each space's stored vectors on the run, for callers that go on
    computing from them (the report). `datasets` reads only those datasets' images (default: all; see
    `Catalog.vectors` for how paths read when several are).
    """
    t0 = time.perf_counter()
    chosen = protocols.choose_protocol(protocol, pairs_file, sample)
    check_metric(metric)
    if not records:
        raise NoSpace("the store holds no embedding space yet (run `facevault ingest DATASET` first)")
    read = {"datasets": list(datasets)} if datasets else {}  # callers' catalogs without datasets still work
    known = catalog.image_paths(**read)
    pairs = None
    if chosen == "pairs":
        pairs = protocols.read_pairs_file(pairs_file, k=folds, seed=seed)
    elif chosen == "sample":
        pairs = protocols.sample_from_store(known, protocols.DEFAULT_SAMPLE if sample is None else sample, seed, folds)
    results: list = []
    skipped: list[tuple[str, str]] = []
    vectors: dict[int, StoredVectors] = {}
    for record in records:
        stored = catalog.vectors(record.id, **read)  # loaded once per space
        try:
            if chosen == "identify":
                res = identification(record, stored, gallery_per_identity=gallery_per_identity, seed=seed,
                                     unknown_fraction=unknown_fraction, ranks=ranks, bootstrap=bootstrap,
                                     metric=metric)
            elif chosen == "all":
                res = evaluate_all(catalog, record, calibrate, metric=metric, target_far=target_far,
                                   bootstrap=bootstrap, seed=seed, stored=stored, known=known)
            else:
                res = evaluate(catalog, record, pairs, calibrate, metric=metric, target_far=target_far,
                               bootstrap=bootstrap, seed=seed, stored=stored, known=known)
        except FacevaultError as exc:
            if len(records) == 1:
                raise
            log.info("skipped %s: %s", record.label, exc)
            skipped.append((record.label, str(exc)))
            continue
        results.append(res)
        if keep_vectors:
            vectors[record.id] = stored
    if not results:
        raise ProtocolError("no space could be evaluated: " + "; ".join(f"{label}: {why}" for label, why in skipped))
    results.sort(key=_rank)
    return EvaluationRun(chosen, results, skipped, time.perf_counter() - t0, single=len(records) == 1, pairs=pairs,
                         vectors=vectors)
