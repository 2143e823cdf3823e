"""The whole study in one call: every dataset ingested for every model x detector, the grid, the report.

Idempotent like `ingest`: a content already embedded in a space is skipped whichever dataset holds it, and
detections are reused across models sharing a detector, so a rerun embeds nothing. A combination whose
weights are not here is listed as skipped with the reason, found from the registry before anything is built.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from facevault.core.errors import FacevaultError, UnknownName, WeightsError
from facevault.core.types import Space
from facevault.services import grid as grid_mod
from facevault.services import ingest as ingest_mod
from facevault.services.grid import Grid
from facevault.store import Catalog
from facevault.zoo import registry

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class Study:
    """What `run` did: the ingests (one summary dict per dataset x combination), the combinations skipped and
    why, the grid, and the report's files when one was written."""

    datasets: list[str]
    combinations: list[str]
    ingests: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # model, detector, reason
    grid: Grid | None = None
    report: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    grid_seconds: float = 0.0

    @property
    def embedded(self) -> int:
        return sum(i["embedded"] for i in self.ingests)

    @property
    def processed(self) -> int:
        return sum(i["processed"] for i in self.ingests)

    def to_dict(self) -> dict:
        return {"datasets": self.datasets, "combinations": self.combinations, "ingests": self.ingests,
                "skipped": self.skipped, "embedded": self.embedded, "processed": self.processed,
                "grid": self.grid.to_dict() if self.grid is not None else None,
                "report": {k: str(v) for k, v in self.report.items()}, "seconds": round(self.seconds, 3),
                "grid_seconds": round(self.grid_seconds, 4)}


def _missing_weights(entry, weights_dir: str | None) -> str | None:
    from facevault.weights import manifest

    if entry is None or not getattr(entry, "weights", None):
        return None
    absent = [row for row in manifest.availability(entry, weights_dir) if not row["present"]]
    return "; ".join(f"{row['file']} not found ({row['how']})" for row in absent) or None


def combinations(models: Sequence[str], detectors: Sequence[str], weights_dir: str | None
                 ) -> tuple[list[Space], list[dict]]:
    """The spaces of every model x detector, and those skipped (unknown name, weights absent), from the
    registry alone: nothing is built."""
    spaces, skipped = [], []
    for d in detectors:
        for m in models:
            try:
                space = registry.space(m, d)
                entries = [registry.model(m), registry.detector(d), registry.aligner(space.aligner)]
            except UnknownName as exc:
                skipped.append({"model": m, "detector": d, "reason": str(exc)})
                continue
            reasons = [r for r in (_missing_weights(e, weights_dir) for e in entries) if r]
            if reasons:
                skipped.append({"model": m, "detector": d, "reason": "weights absent: " + "; ".join(reasons)})
            else:
                spaces.append(space)
    return spaces, skipped


def run(catalog: Catalog, folders: Sequence[Path], models: Sequence[str], detectors: Sequence[str], *,
        names: Sequence[str] | None = None, weights_dir: str | None = None, workers: int = 1, runner=None,
        sample: int | None = None, seed: int = 0, folds: int = 10, metric_column: str = "accuracy",
        progress: ProgressFn | None = None) -> Study:
    """Ingest every folder (as dataset `names[i]`, default its folder name) for every combination, then
    evaluate the grid over those datasets. The report is the caller's (`facevault.services.report.study`)."""
    t0 = time.perf_counter()
    walks = [ingest_mod.walk(Path(f)) for f in folders]  # a folder that is not there fails before any work
    ds_names = [ingest_mod.plan.name_of(w, names[i] if names and i < len(names) else None)
                for i, w in enumerate(walks)]
    if len(set(ds_names)) != len(ds_names):
        raise FacevaultError(f"two folders would be the same dataset ({', '.join(ds_names)}); name them with "
                             "--dataset NAME, one per folder")
    spaces, skipped = combinations(models, detectors, weights_dir)
    study = Study(ds_names, [s.label for s in spaces], skipped=skipped)
    ok: list[Space] = []
    for space in spaces:
        failed = None
        for found, name in zip(walks, ds_names):
            cb = (lambda done, total, _w=f"{name} {space.label}": progress(_w, done, total)) if progress else None
            try:
                summary = ingest_mod.ingest(catalog, found, space, weights_dir=weights_dir, workers=workers,
                                            runner=runner, progress=cb, dataset=name)
            except (WeightsError, ingest_mod.WorkerFailed) as exc:
                failed = str(exc)
                break
            study.ingests.append({"dataset": name, "space": space.label, "files": summary.files,
                                  "processed": summary.processed, "embedded": summary.embedded,
                                  "skipped": summary.skipped, "no_face": summary.no_face,
                                  "whole_frame": summary.whole_frame,
                                  "reused_detections": summary.reused_detections,
                                  "seconds": round(summary.seconds, 3)})
            if summary.interrupted:
                raise KeyboardInterrupt
        if failed is not None:
            study.skipped.append({"model": space.model, "detector": space.detector, "reason": failed})
        else:
            ok.append(space)
    records = [r for r in catalog.spaces() if any(r.space.key == s.key for s in ok)]
    study.combinations = [s.label for s in ok]
    if records:
        g0 = time.perf_counter()
        study.grid = grid_mod.build(catalog, records, ds_names, metric_column=metric_column, sample=sample,
                                    seed=seed, folds=folds, keep_runs=True)
        study.grid_seconds = time.perf_counter() - g0
    study.seconds = time.perf_counter() - t0
    return study
