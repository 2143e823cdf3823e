"""Verification from stored vectors: pairs in, a report out; no network runs per pair."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import metrics
from .catalog import Catalog
from .errors import ProtocolError
from .protocols import Pairs


@dataclass
class Evaluation:
    space: str
    space_id: int
    protocol: str
    report: metrics.VerificationReport
    not_ingested: int
    missing_examples: list[str]
    seconds: float

    def to_dict(self) -> dict:
        d = self.report.to_dict()
        d.update(space=self.space, space_id=self.space_id, protocol=self.protocol, not_ingested=self.not_ingested,
                 missing_examples=self.missing_examples, seconds=round(self.seconds, 4))
        return d


def pair_scores(matrix: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Cosine similarity of stored, L2-normalised vectors for each pair (row-wise dot products)."""
    return np.einsum("ij,ij->i", matrix[ia], matrix[ib]).astype(np.float64)


def evaluate(catalog: Catalog, space, pairs: Pairs, calibrate: bool = True) -> Evaluation:
    t0 = time.perf_counter()
    stored = catalog.vectors(space.id, space.dim)
    where = stored.by_path()
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
    scores = np.zeros(len(keep), np.float64)
    if len(stored):
        scores = pair_scores(stored.matrix, np.asarray(ia), np.asarray(ib))
    scores[miss] = np.nan
    ok = ~miss
    if not labels[ok].any() or labels[ok].all():
        raise ProtocolError("the scored pairs need both same-person and different-person pairs")
    report = metrics.verification_report(scores, labels, folds, miss)
    if calibrate:
        catalog.set_threshold(
            space.id, report.threshold,
            f"{pairs.name}: best accuracy, mean of {len(report.fold_accuracies)} fold thresholds",
        )
    return Evaluation(f"{space.model} / {space.detector} / {space.aligner}", space.id, pairs.name, report,
                      not_ingested, missing_examples[:10], time.perf_counter() - t0)
