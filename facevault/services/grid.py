"""The study grid: every space (model / detector / aligner) evaluated on every dataset, from stored vectors.

One column per dataset, its protocol chosen as `evaluate` chooses it for that dataset alone: the dataset's own
pairs file (`pairs.txt` or `master.csv` in its root) when it has one, else a seeded sample with k folds. Each
column is one `evaluate.run` over the dataset's vectors, so a cell is exactly what `evaluate --dataset NAME`
gives; rows get their mean rank over the columns and columns their best space.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from facevault.core.errors import FacevaultError, NoSpace, ProtocolError
from facevault.core.types import SpaceRecord
from facevault.services import evaluate as evaluate_mod
from facevault.services import protocols
from facevault.store import Catalog

log = logging.getLogger(__name__)

PAIRS_FILES = ("pairs.txt", "master.csv")  # a dataset's own protocol, looked for in its root
METRIC_COLUMNS = ("accuracy", "auc", "eer")
_HIGHER_BETTER = {"accuracy": True, "auc": True, "eer": False}


@dataclass
class Cell:
    """One space on one dataset."""

    space_id: int
    dataset: str
    accuracy: float
    accuracy_std: float | None
    auc: float
    eer: float
    pairs: int
    missing: int
    threshold: float
    study_threshold: float | None
    study_accuracy: float | None

    def value(self, metric: str) -> float:
        return getattr(self, metric)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Grid:
    """Spaces x datasets. `runs` keeps each column's EvaluationRun (scores and labels for the report)."""

    metric_column: str
    datasets: list[str]
    spaces: list[SpaceRecord]
    cells: dict[tuple[int, str], Cell]
    protocols: dict[str, str]  # dataset -> how it was evaluated, for the header
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (space or "*", dataset, reason)
    seconds: float = 0.0
    runs: dict = field(default_factory=dict, repr=False)

    def cell(self, space_id: int, dataset: str) -> Cell | None:
        return self.cells.get((space_id, dataset))

    def ranks(self, metric: str | None = None) -> dict[tuple[int, str], float]:
        """Each cell's rank in its column (1 = best; ties share the mean rank)."""
        metric = metric or self.metric_column
        out: dict[tuple[int, str], float] = {}
        for ds in self.datasets:
            col = [(c.value(metric), sid) for (sid, d), c in self.cells.items() if d == ds]
            col.sort(key=lambda t: -t[0] if _HIGHER_BETTER[metric] else t[0])
            i = 0
            while i < len(col):
                j = i
                while j + 1 < len(col) and math.isclose(col[j + 1][0], col[i][0], abs_tol=1e-12):
                    j += 1
                for k in range(i, j + 1):
                    out[(col[k][1], ds)] = (i + j) / 2 + 1
                i = j + 1
        return out

    def mean_rank(self, metric: str | None = None) -> dict[int, float | None]:
        ranks = self.ranks(metric)
        out: dict[int, float | None] = {}
        for sp in self.spaces:
            mine = [r for (sid, _), r in ranks.items() if sid == sp.id]
            out[sp.id] = sum(mine) / len(mine) if mine else None
        return out

    def best(self, metric: str | None = None) -> dict[str, int | None]:
        """Dataset -> the space id ranked first on it (ties: the better mean rank)."""
        ranks, mr = self.ranks(metric), self.mean_rank(metric)
        return {ds: min((r, mr[sid] or 0.0, sid) for (sid, d), r in ranks.items() if d == ds)[2]
                if any(d == ds for _, d in ranks) else None for ds in self.datasets}

    def ordered_spaces(self) -> list[SpaceRecord]:
        """Rows best mean rank first (rows without any cell last)."""
        mr = self.mean_rank()
        return sorted(self.spaces, key=lambda s: (mr[s.id] is None, mr[s.id] or 0.0, s.label))

    def to_dict(self) -> dict:
        mr, best = self.mean_rank(), self.best()
        labels = {s.id: s.label for s in self.spaces}
        return {
            "metric_column": self.metric_column, "datasets": self.datasets, "protocols": self.protocols,
            "spaces": [{"space": s.label, "space_id": s.id, "model": s.model, "detector": s.detector,
                        "aligner": s.aligner, "mean_rank": mr[s.id]} for s in self.ordered_spaces()],
            "cells": [{**c.to_dict(), "space": labels[c.space_id]} for c in self.cells.values()],
            "best": {ds: (labels[sid] if sid is not None else None) for ds, sid in best.items()},
            "skipped": [{"space": a, "dataset": d, "reason": r} for a, d, r in self.skipped],
            "seconds": round(self.seconds, 4),
        }


def default_sample(known: dict[str, str | None]) -> int:
    """Pairs per kind sampled from a dataset without a pairs file: `protocols.DEFAULT_SAMPLE`, capped by its
    same-person pairs and half its different-person pairs (a small dataset is not drawn to exhaustion)."""
    counts = Counter(v for v in known.values() if v is not None)
    same = sum(c * (c - 1) // 2 for c in counts.values())
    n = sum(counts.values())
    diff = n * (n - 1) // 2 - same
    return max(1, min(protocols.DEFAULT_SAMPLE, same, diff // 2))


def dataset_protocol(root: str | None, known: dict[str, str | None], sample: int | None = None
                     ) -> tuple[str, Path | None, int | None]:
    """(protocol, pairs file, sample size) of one dataset: its own pairs file where its root has one, else a
    seeded sample (`sample` pairs per kind, default `default_sample`)."""
    if sample is None and root:
        for name in PAIRS_FILES:
            f = Path(root) / name
            if f.is_file():
                return "pairs", f, None
    return "sample", None, default_sample(known) if sample is None else sample


def _cell(ev: evaluate_mod.Evaluation, dataset: str) -> Cell:
    r = ev.report
    return Cell(ev.space_id, dataset, r.accuracy, r.accuracy_std, r.auc, r.eer, r.pairs, r.missing, r.threshold,
                getattr(r, "study_threshold", None), getattr(r, "study_accuracy", None))


def build(catalog: Catalog, records: list[SpaceRecord], datasets: Sequence[str] | None = None, *,
          metric_column: str = "accuracy", sample: int | None = None, metric: str = "cosine", seed: int = 0,
          folds: int = 10, bootstrap: int = 0, keep_runs: bool = False) -> Grid:
    """Evaluate every space of `records` on every dataset of `datasets` (default: all), one column at a time.

    No threshold is stored (a threshold is the space's, not one dataset's). A column that cannot be evaluated
    (too few identities, a pairs file of other images) is skipped with its reason."""
    t0 = time.perf_counter()
    if metric_column not in METRIC_COLUMNS:
        raise ProtocolError(f"unknown metric column {metric_column!r} (valid: {', '.join(METRIC_COLUMNS)})")
    if not records:
        raise NoSpace("the store holds no embedding space yet (run `facevault ingest DATASET` first)")
    roots = catalog.dataset_roots()
    names = list(datasets) if datasets else sorted(roots)
    if not names:
        raise NoSpace("the store holds no dataset yet (run `facevault ingest DATASET` first)")
    cells: dict[tuple[int, str], Cell] = {}
    header: dict[str, str] = {}
    skipped: list[tuple[str, str, str]] = []
    runs: dict = {}
    for ds in names:
        chosen, pairs_file, n = dataset_protocol(roots.get(ds), catalog.image_paths([ds]), sample)
        header[ds] = (f"its pairs file {pairs_file}" if pairs_file is not None
                      else f"seeded sample: --sample {n} --seed {seed} --folds {folds}")
        try:
            run = evaluate_mod.run(catalog, records, chosen, pairs_file=pairs_file, sample=n, metric=metric,
                                   bootstrap=bootstrap, seed=seed, folds=folds, calibrate=False,
                                   datasets=[ds], keep_vectors=keep_runs)
        except FacevaultError as exc:
            log.info("dataset %s skipped: %s", ds, exc)
            skipped.append(("*", ds, str(exc)))
            continue
        p = run.pairs
        header[ds] = (f"{header[ds]}; {len(p)} pairs ({int(p.labels.sum())} same, {int((~p.labels).sum())} "
                      "different)" if p is not None else header[ds])
        for ev in run.results:
            cells[(ev.space_id, ds)] = _cell(ev, ds)
        skipped.extend((label, ds, why) for label, why in run.skipped)
        if keep_runs:
            runs[ds] = run
    return Grid(metric_column, names, list(records), cells, header, skipped, time.perf_counter() - t0, runs)
