"""The only catalog writer of an ingest: results are counted into the summary and committed in batches, so an
interrupted run keeps every batch it committed and the next run resumes after it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from facevault.core.types import ImageResult
from facevault.faces.detect.frame import SOURCE as WHOLE_FRAME
from facevault.store.catalog import Catalog

BATCH = 256  # results per transaction
BATCH_SECONDS = 10.0  # or this long since the last commit, whichever comes first
PROBLEM_EXAMPLES = 50


@dataclass
class IngestSummary:
    """What one ingest run did, counted."""

    root: str
    space: str
    dataset: str = ""  # the dataset the files were ingested as
    files: int = 0
    identities: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    to_process: int = 0
    skipped: int = 0
    processed: int = 0  # results taken from the runner (what the progress bar shows)
    saved: int = 0  # of those, results committed to the catalog (what an interrupted run keeps)
    embedded: int = 0
    faces: int = 0
    reused_detections: int = 0
    multi_face: int = 0
    no_face: int = 0
    whole_frame: int = 0  # embedded whole: a DETECTOR+frame space's detector found no face in them
    skipped_files: int = 0  # directory entries not read (FIFOs, devices, links, too large, not images)
    errors: dict[str, int] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)  # first examples: path, kind, message
    seconds: float = 0.0
    images_per_second: float = 0.0
    workers: int = 1
    runner: str = ""
    complete: bool = True  # False when --limit took only part of the dataset
    interrupted: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def problem(self, path: str, kind: str, message: str, count: bool = True) -> None:
        if count:
            self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.problems) < PROBLEM_EXAMPLES:
            self.problems.append({"path": path, "kind": kind, "message": message})


class Writer:
    """Counts each result into `summary` and writes them to the catalog in batches."""

    def __init__(self, catalog: Catalog, space_id: int, detector: str, summary: IngestSummary,
                 path_of, batch: int | None = None, seconds: float | None = None) -> None:
        self.catalog, self.space_id, self.detector, self.summary = catalog, space_id, detector, summary
        self._path_of = path_of
        self._batch, self._seconds = batch or BATCH, BATCH_SECONDS if seconds is None else seconds
        self._buffer: list[ImageResult] = []
        self._last = time.perf_counter()

    def take(self, res: ImageResult) -> None:
        s = self.summary
        s.processed += 1
        whole = len(res.faces) == 1 and res.faces[0].source == WHOLE_FRAME
        s.faces += 0 if whole else len(res.faces)
        s.embedded += len(res.vectors)
        if whole and res.vectors:
            s.whole_frame += 1
            s.problem(self._path_of(res.sha256), "whole-frame", "no face found: embedded the whole image",
                      count=False)
        if len(res.faces) > 1:
            s.multi_face += 1
        if res.error_kind:
            s.problem(self._path_of(res.sha256), res.error_kind, res.error or "")
        elif res.subject is None:
            s.no_face += 1
            s.problem(self._path_of(res.sha256), "no-face", "no face found", count=False)
        self._buffer.append(res)
        if len(self._buffer) >= self._batch or time.perf_counter() - self._last > self._seconds:
            self.flush()

    def flush(self) -> None:
        """Commit the buffered results; `summary.saved` counts them once their transaction has committed.

        A batch whose commit fails is dropped (not counted, the next run processes its images again), except when
        the failure is a Ctrl-C: then the batch stays buffered, so the run's final flush commits it (writing a
        batch twice is harmless: each write replaces the images' rows)."""
        batch, self._buffer = self._buffer, []
        self._last = time.perf_counter()
        if not batch:
            return
        try:
            self.catalog.write_results(self.space_id, self.detector, batch)
        except KeyboardInterrupt:
            self._buffer = batch + self._buffer
            raise
        self.summary.saved += len(batch)
