"""Ingest: every image of a dataset detected, aligned and embedded once per space.

plan (walk, hash, sync, what is left) -> runner (the per-image work, anywhere) -> writer (the only catalog
writer, in batches). The calling process plans and writes under the store's writer lock; the runner is
chosen by the caller (`Runner` protocol), so engines are swapped without touching the pipeline.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from facevault.core.errors import WeightsError
from facevault.core.types import Space
from facevault.services.ingest import plan as plan_mod
from facevault.services.ingest.plan import DatasetWalk, Plan, WorkItem, walk
from facevault.services.ingest.runner import (
    InProcessRunner,
    PipelineFactory,
    ProcessPoolRunner,
    Runner,
    WorkerFailed,
    default_runner,
)
from facevault.services.ingest.writer import IngestSummary, Writer
from facevault.store.catalog import Catalog
from facevault.zoo import registry

log = logging.getLogger(__name__)
TASK_IMAGES = 8  # images per task: their subject chips are embedded in one batch (module-level: tests tune it)

ProgressFn = Callable[[int, int], None]

__all__ = ["DatasetWalk", "InProcessRunner", "IngestSummary", "PipelineFactory", "Plan", "ProcessPoolRunner",
           "Runner", "WorkItem", "WorkerFailed", "default_runner", "ingest", "split_tasks", "walk"]


def split_tasks(items: list, size: int, workers: int) -> list[list]:
    """Tasks of `size` items, except the last `size` x `workers` items, which go one per task: every worker is
    busy until the last few images instead of one finishing a full task while the others wait."""
    size = max(1, size)
    tail = min(len(items), size * max(1, workers)) if workers > 1 else 0
    head = len(items) - tail
    return ([items[i: min(i + size, head)] for i in range(0, head, size)]
            + [items[i: i + 1] for i in range(head, len(items))])


def weights_sha256(space: Space, weights_dir: str | None) -> str | None:
    """sha256 of the recognizer's main weights file, recorded with the space (None when it has none)."""
    from facevault.weights import locate

    entry = registry.model(space.model)
    if not entry.weights:
        return None
    try:
        return locate.sha256_file(locate.find(entry.weights[0], weights_dir))
    except WeightsError:
        if entry.source == "deepface":
            return None  # deepface fetches its own weights when the model is first built, in the workers
        raise


def ingest(catalog: Catalog, found: DatasetWalk, space: Space, *, weights_dir: str | None = None, workers: int = 1,
           runner: Runner | None = None, batch_size: int | None = None, retry_failed: bool = False,
           progress: ProgressFn | None = None, dataset: str | None = None, move_root: bool = False,
           max_pixels: int | None = None) -> IngestSummary:
    """Ingest the files `found` into `catalog` for `space`, as dataset `dataset` (default: the folder's name;
    `move_root` re-roots an existing dataset whose folder moved); returns what happened, counted.

    Holds the store's writer lock for the whole run (a second writer is refused at once). Ctrl-C stops the run
    with every committed batch kept (`summary.interrupted`; `summary.saved` counts the results committed).
    """
    summary = IngestSummary(root=str(found.root), space=space.label, complete=found.complete)
    sha = weights_sha256(space, weights_dir)
    entry = registry.model(space.model)
    with catalog.writing():
        t0 = time.perf_counter()
        plan = plan_mod.make(catalog, found, space, sha, {"description": entry.description}, retry_failed,
                             dataset_name=dataset, move_root=move_root)
        summary.dataset = plan_mod.name_of(found, dataset)
        for key in ("files", "identities", "new", "changed", "unchanged", "missing", "skipped", "reused_detections"):
            setattr(summary, key, plan.counts.get(key, 0))
        summary.to_process = len(plan.items)
        for path, message, kind in plan.unreadable:
            summary.problem(path, kind, message)
        for sk in found.skipped:  # hostile or stray directory entries, never opened
            summary.skipped_files += 1
            summary.problem(sk.rel, sk.kind, sk.message)
        for note in found.renamed:
            summary.problem(note.rel, note.kind, note.message, count=False)
        chosen = runner or default_runner(workers, len(plan.items))
        summary.workers, summary.runner = chosen.workers, chosen.name
        writer = Writer(catalog, plan.record.id, space.detector, summary, plan.path_of)
        tasks = split_tasks(plan.items, TASK_IMAGES, chosen.workers)
        factory = PipelineFactory(space, weights_dir, batch_size, found.max_bytes, max_pixels)
        if progress:
            progress(0, len(plan.items))
        t_run = time.perf_counter()
        try:
            if tasks:
                for results in chosen.run(tasks, factory):
                    for res in results:
                        writer.take(res)
                    if progress:
                        progress(summary.processed, len(plan.items))
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            try:  # what is buffered is committed, and counted in `summary.saved`, whatever ended the run
                writer.flush()
            except KeyboardInterrupt:  # a second Ctrl-C during that commit: the buffer is dropped, not counted
                summary.interrupted = True
        elapsed = time.perf_counter() - t_run
        summary.seconds = time.perf_counter() - t0
        if summary.processed:
            summary.images_per_second = summary.processed / max(elapsed, 1e-9)
            if not summary.interrupted:
                catalog.add_speed(plan.record.id, summary.processed, elapsed)
    return summary
