"""Ingest: every image of a dataset detected, aligned and embedded once per space.

The parent walks, hashes and is the only catalog writer; a process pool decodes, detects and embeds.
Idempotent by content hash per space: unchanged, renamed or duplicated files are not embedded again,
and a run that was interrupted resumes where its last committed batch ended.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from facevault.faces import dataset
from facevault.zoo import registry
from facevault.store import Catalog, SpaceKey
from facevault.core.errors import FacevaultError, WeightsError
from facevault.core.types import Detection
from facevault.faces.pipeline import ImageResult, Pipeline, SpaceSpec

log = logging.getLogger(__name__)

class WorkerFailed(FacevaultError):
    """A worker could not load its models (missing weights, checksum mismatch, ...): the run stops once."""

    kind = "worker"


ProgressFn = Callable[[int, int, ImageResult | None], None]
_BATCH = 256
_BATCH_SECONDS = 10.0
_IN_PROCESS_BELOW = 24  # small jobs run in-process: a pool costs more to start than it saves
_TASK_IMAGES = 8  # images per worker task: their chips are embedded in one batch


@dataclass
class IngestSummary:
    root: str
    space: str
    files: int = 0
    identities: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    to_process: int = 0
    skipped: int = 0
    processed: int = 0
    embedded: int = 0
    faces: int = 0
    reused_detections: int = 0
    multi_face: int = 0
    no_face: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)  # first examples: path, kind, message
    seconds: float = 0.0
    images_per_second: float = 0.0
    workers: int = 1
    interrupted: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# ---------------------------------------------------------------- worker side
_PIPELINE: Pipeline | None = None
_INIT_ERROR: str | None = None  # why a worker could not build its pipeline (reported by its first task)


def _init_worker(spec: SpaceSpec, weights_dir: str | None, batch_size: int | None = None) -> None:
    global _PIPELINE, _INIT_ERROR
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and saves what is done
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    try:
        _PIPELINE = Pipeline(spec, weights_dir, batch_size)
    except Exception as exc:  # a failing initializer would make the pool respawn workers forever
        _INIT_ERROR = str(exc) if isinstance(exc, FacevaultError) else f"{type(exc).__name__}: {exc}"


def _work(items: list[tuple[str, str, list[Detection] | None]]) -> list[ImageResult]:
    if _PIPELINE is None:
        raise WorkerFailed(_INIT_ERROR or "worker used before _init_worker")
    return _PIPELINE.process_files([(Path(p), sha, known) for p, sha, known in items])


# ---------------------------------------------------------------- parent side
def _known_detections(rows) -> list[Detection]:
    out = []
    for f in rows:
        lm = Detection.landmarks_from_list(f.landmarks)
        out.append(Detection(f.x, f.y, f.w, f.h, f.score, f.source or "", lm))
    return out


def ingest(
    catalog: Catalog,
    root: Path,
    spec: SpaceSpec,
    workers: int = 1,
    weights_dir: str | None = None,
    progress: ProgressFn | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
    retry_failed: bool = False,
) -> IngestSummary:
    """Ingest `root` into `catalog` for the space `spec`; returns what happened, counted."""
    root = Path(root).resolve()
    summary = IngestSummary(root=str(root), space=spec.label, workers=workers)
    files = dataset.walk(root)
    if limit:
        files = files[:limit]
    catalog.lock()
    try:
        return _ingest_locked(catalog, root, spec, files, workers, weights_dir, progress, summary, batch_size,
                              retry_failed)
    finally:
        catalog.unlock()


def _ingest_locked(catalog, root, spec, files, workers, weights_dir, progress, summary, batch_size,
                   retry_failed) -> IngestSummary:
    t0 = time.perf_counter()
    hashed = dataset.hash_all(files)
    summary.files = len(hashed)
    summary.identities = len({h.file.identity for h in hashed if h.file.identity})
    catalog.set_meta("dataset_root", str(root))
    unreadable = [h for h in hashed if h.error]
    counts = catalog.sync_images([(h.file.rel, h.file.identity, h.sha256, h.size) for h in hashed])
    summary.new, summary.changed, summary.unchanged, summary.missing = (
        counts["new"], counts["changed"], counts["unchanged"], counts["missing"])

    entry = registry.model(spec.model)
    weights_sha = _weights_sha(entry, weights_dir)
    space = catalog.ensure_space(SpaceKey(spec.model, spec.detector, spec.aligner), spec.dim, weights_sha,
                                 {"description": entry.description})
    done = catalog.scanned(space.id, only_ok=retry_failed)
    by_sha: dict[str, list[str]] = {}
    for h in hashed:
        by_sha.setdefault(h.sha256, []).append(h.file.rel)
    first_path = {}
    for h in hashed:
        first_path.setdefault(h.sha256, h.file.abspath)
    todo = [sha for sha in by_sha if sha not in done]
    summary.skipped = len(by_sha) - len(todo)
    summary.to_process = len(todo)
    known = catalog.known_faces(spec.detector, todo)
    items = [(str(first_path[sha]), sha, _known_detections(known[sha]) if sha in known else None) for sha in todo]
    summary.reused_detections = sum(1 for it in items if it[2] is not None)
    # unreadable files never reach a worker
    for h in unreadable:
        _count_problem(summary, h.file.rel, "unreadable", h.error or "")
    items = [it for it in items if not it[1].startswith("unreadable:")]

    buffer: list[ImageResult] = []
    last_flush = time.perf_counter()
    t_proc = time.perf_counter()

    def flush() -> None:
        nonlocal last_flush
        catalog.write_results(space.id, spec.detector, buffer)
        buffer.clear()
        last_flush = time.perf_counter()

    def take(res: ImageResult) -> None:
        summary.processed += 1
        summary.faces += len(res.faces)
        summary.embedded += len(res.vectors)
        if len(res.faces) > 1:
            summary.multi_face += 1
        if res.error_kind:
            _count_problem(summary, by_sha[res.sha256][0], res.error_kind, res.error or "")
        elif res.subject is None:
            summary.no_face += 1
            _count_problem(summary, by_sha[res.sha256][0], "no-face", "no face found", count=False)
        buffer.append(res)
        if len(buffer) >= _BATCH or time.perf_counter() - last_flush > _BATCH_SECONDS:
            flush()
        if progress:
            progress(summary.processed, len(items), res)

    if progress:
        progress(0, len(items), None)
    tasks = [items[i : i + _TASK_IMAGES] for i in range(0, len(items), _TASK_IMAGES)]
    pool = None
    try:
        if workers <= 1 or len(items) < _IN_PROCESS_BELOW:
            summary.workers = 1
            if items:
                _init_worker_inline(spec, weights_dir, batch_size)
                for task in tasks:
                    for res in _work(task):
                        take(res)
        else:
            env_threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
            for k in env_threads:
                os.environ[k] = "1"
            try:
                pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                           initargs=(spec, weights_dir, batch_size))
            finally:
                for k, v in env_threads.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            futures = {pool.submit(_work, task): task for task in tasks}
            try:
                for fut in as_completed(futures):
                    for res in fut.result():
                        take(res)
                    del futures[fut]
            except BrokenProcessPool:
                lost = sorted({by_sha[sha][0] for task in futures.values() for _, sha, _ in task})
                raise WorkerFailed(
                    f"a worker process died (out of memory, or a crash in native code) while processing one of "
                    f"{len(lost)} images, e.g. {', '.join(lost[:3])}; the {summary.processed} images done are saved"
                ) from None
            pool.shutdown()
            pool = None
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)  # running tasks are a few images each
        flush()
    elapsed = time.perf_counter() - t_proc
    summary.seconds = time.perf_counter() - t0
    if summary.processed:
        summary.images_per_second = summary.processed / max(elapsed, 1e-9)
        if not summary.interrupted:
            catalog.add_speed(space.id, summary.processed, elapsed)
    return summary


def _init_worker_inline(spec: SpaceSpec, weights_dir: str | None, batch_size: int | None) -> None:
    global _PIPELINE
    if _PIPELINE is None or _PIPELINE.spec != spec:
        _PIPELINE = Pipeline(spec, weights_dir, batch_size)


def _weights_sha(entry, weights_dir: str | None) -> str | None:
    """sha256 of the recognizer's main weights file, recorded with the space (None when it has none)."""
    from facevault.weights import locate as weights

    if not entry.weights:
        return None
    try:
        return weights.sha256_file(weights.find(entry.weights[0], weights_dir))
    except WeightsError:
        if entry.source == "deepface":
            return None  # deepface fetches its own weights when the model is first built, in the workers
        raise


def _count_problem(summary: IngestSummary, path: str, kind: str, message: str, count: bool = True) -> None:
    if count:
        summary.errors[kind] = summary.errors.get(kind, 0) + 1
    if len(summary.problems) < 50:
        summary.problems.append({"path": path, "kind": kind, "message": message})
