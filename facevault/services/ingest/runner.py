"""Runners: where the per-image work (decode, detect, align, embed) runs. The plan and the catalog writes stay
in the calling process; a runner only turns tasks (a few images each) into results.

A runner is given a pipeline factory, a picklable recipe that each worker calls once to build its own
pipeline, so any engine that can run a Python callable near the data can be plugged in: in-process and a
process pool here, a distributed engine (Ray) next, a fake one in tests.
"""

from __future__ import annotations

import ast
import logging
import multiprocessing as mp
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Protocol, runtime_checkable

from facevault.core.errors import FacevaultError
from facevault.core.types import ImageResult, Space
from facevault.services.ingest.plan import WorkItem

log = logging.getLogger(__name__)
IN_PROCESS_BELOW = 24  # a pool costs more to start than it saves on fewer images than this
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

Task = list[WorkItem]


class WorkerFailed(FacevaultError):
    """A worker could not load its models or died: the run stops once, with what is done saved."""

    kind = "worker"


@dataclass(frozen=True)
class PipelineFactory:
    """Builds the pipeline of one space; picklable, so each worker builds its own."""

    space: Space
    weights_dir: str | None = None
    batch_size: int | None = None
    max_bytes: int | None = None  # per-file read cap and decoded-pixel cap, applied in each worker
    max_pixels: int | None = None

    def __call__(self):
        from facevault.faces import imageio
        from facevault.faces.pipeline import build_pipeline

        imageio.set_limits(self.max_bytes, self.max_pixels)

        return build_pipeline(self.space, self.weights_dir, self.batch_size)


@runtime_checkable
class Runner(Protocol):
    """Turns tasks into results, each task's results together, in any order."""

    name: str
    workers: int

    def run(self, tasks: Iterable[Task], factory: PipelineFactory) -> Iterator[list[ImageResult]]: ...


def process_task(pipeline, task: Task) -> list[ImageResult]:
    """One task through a pipeline: every image decoded and detected, the subject chips embedded together."""
    return pipeline.process_files([(Path(it.path), it.sha256, it.known) for it in task])


class InProcessRunner:
    """Everything in the calling process, one task after another (small jobs, debugging, notebooks)."""

    name = "in-process"
    workers = 1

    def __init__(self) -> None:
        self._built: tuple[PipelineFactory, object] | None = None

    def run(self, tasks: Iterable[Task], factory: PipelineFactory) -> Iterator[list[ImageResult]]:
        if self._built is None or self._built[0] != factory:
            self._built = (factory, factory())
        pipeline = self._built[1]
        for task in tasks:
            yield process_task(pipeline, task)


# ---------------------------------------------------------------- process pool, worker side
_PIPELINE = None
_INIT_ERROR: str | None = None  # why this worker could not build its pipeline (reported by its first task)


def _die_with_parent() -> None:
    """Ask Linux to end this worker when its parent dies (a SIGKILL of the parent must not leave workers)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent already died before prctl took effect
            os._exit(1)
    except (OSError, AttributeError):
        pass


def _init_worker(factory: PipelineFactory) -> None:
    global _PIPELINE, _INIT_ERROR
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and saves what is done
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    try:
        _PIPELINE = factory()
    except Exception as exc:  # a failing initializer would make the pool respawn workers forever
        _INIT_ERROR = str(exc) if isinstance(exc, FacevaultError) else f"{type(exc).__name__}: {exc}"


def _work(task: Task) -> list[ImageResult]:
    if _PIPELINE is None:
        raise WorkerFailed(_INIT_ERROR or "worker used before it was initialised")
    return process_task(_PIPELINE, task)


# ---------------------------------------------------------------- process pool, parent side
def main_is_unguarded() -> bool:
    """True when the program is a script whose module-level code has no `if __name__ == "__main__":` guard:
    spawned workers re-run such a script, so a pool cannot start from it."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or getattr(main, "__spec__", None) is not None:  # REPL, notebook, -c, or `python -m module`
        return False
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) and "__name__" in ast.unparse(node.test):
            return False
    return True


class ProcessPoolRunner:
    """A pool of `workers` spawned processes, each building its pipeline once; tasks run as they free up."""

    name = "process-pool"

    def __init__(self, workers: int, max_pending: int | None = None) -> None:
        self.workers = max(1, int(workers))
        self.max_pending = max_pending or 4 * self.workers

    def run(self, tasks: Iterable[Task], factory: PipelineFactory) -> Iterator[list[ImageResult]]:
        saved = {k: os.environ.get(k) for k in THREAD_VARS}
        for k in THREAD_VARS:  # one thread per worker: the pool is the parallelism
            os.environ[k] = "1"
        try:
            pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                       initargs=(factory,))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        pending: dict = {}
        source = iter(tasks)
        try:
            while True:
                while len(pending) < self.max_pending:
                    task = next(source, None)
                    if task is None:
                        break
                    pending[pool.submit(_work, task)] = task
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    task = pending.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        lost = sorted({it.path for t in [task, *pending.values()] for it in t})
                        raise WorkerFailed(
                            f"a worker process died (out of memory, or a crash in native code) while processing one "
                            f"of {len(lost)} images, e.g. {', '.join(lost[:3])}; everything finished before is saved"
                        ) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # running tasks are a few images each


def default_runner(workers: int, images: int) -> Runner:
    """In-process for one worker or a small job, else a process pool (in-process, with a warning, when the
    program is a script without a `__main__` guard, which spawned workers would run again)."""
    if workers <= 1 or images < IN_PROCESS_BELOW:
        return InProcessRunner()
    if main_is_unguarded():
        log.warning("running in one process: %s has no `if __name__ == \"__main__\":` guard, which worker "
                    "processes need; put the script's top-level code under that guard to use %d workers",
                    getattr(sys.modules.get("__main__"), "__file__", "the script"), workers)
        return InProcessRunner()
    return ProcessPoolRunner(workers)
