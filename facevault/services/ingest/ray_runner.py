"""The Ray engine: the per-image work as Ray Data batch inference, the plan and the writes on the driver.

The driver's tasks become a dataset of image rows (path, content hash, detections to reuse); `map_batches` runs
them through an actor pool whose actors each build one pipeline from the `PipelineFactory` (GPU actors where
the cluster has GPUs); the mapped dataset streams back to the driver with `iter_batches`, so at most a few
batches are in flight whatever the dataset's size, and the driver's `Writer` stays the only catalog writer.

Results cross the Ray boundary as plain columns (strings, numbers, JSON text, little-endian float32 bytes),
never as pickled Python objects, and are rebuilt into `ImageResult`s on the driver. Ray is imported only when
this runner runs; without it the run stops with one line naming `pip install 'facevault[ray]'`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
from typing import Any, Iterable, Iterator

import numpy as np

from facevault.core.errors import FacevaultError
from facevault.core.optional import require
from facevault.core.types import Detection, ImageResult, Landmarks
from facevault.services.ingest.ray_watchdog import Watchdog
from facevault.services.ingest.runner import PipelineFactory, Task, WorkerFailed

log = logging.getLogger(__name__)
COLUMNS = ("sha256", "width", "height", "faces", "subject", "vector_idx", "vectors", "norms", "error_kind", "error",
           "reused_faces")


# ---------------------------------------------------------------- plain columns both ways
def _det_to_dict(d: Detection) -> dict:
    lm = d.landmarks
    return {"x": d.x, "y": d.y, "w": d.w, "h": d.h, "score": d.score, "source": d.source,
            "landmarks": lm.to_list() if lm is not None else None, "scheme": lm.scheme if lm is not None else None}


def _det_from_dict(v: dict) -> Detection:
    return Detection(float(v["x"]), float(v["y"]), float(v["w"]), float(v["h"]), float(v["score"]), v["source"],
                     Landmarks.from_list(v["landmarks"], v["scheme"]))


def encode_result(r: ImageResult) -> dict[str, Any]:
    """One result as plain values (the inverse of `decode_result`)."""
    idx = sorted(r.vectors)
    vecs = b"".join(np.asarray(r.vectors[i], dtype="<f4").tobytes() for i in idx)
    return {"sha256": r.sha256, "width": int(r.width), "height": int(r.height),
            "faces": json.dumps([_det_to_dict(d) for d in r.faces]),
            "subject": -1 if r.subject is None else int(r.subject), "vector_idx": json.dumps(idx),
            "vectors": vecs, "norms": json.dumps([r.norms.get(i) for i in idx]),
            "error_kind": r.error_kind or "", "error": r.error or "", "reused_faces": bool(r.reused_faces)}


def decode_result(row: dict[str, Any]) -> ImageResult:
    idx = [int(i) for i in json.loads(row["vector_idx"])]
    mat = np.frombuffer(bytes(row["vectors"]), dtype="<f4").reshape(len(idx), -1) if idx else None
    norms = json.loads(row["norms"])
    subject = int(row["subject"])
    return ImageResult(
        sha256=str(row["sha256"]), width=int(row["width"]), height=int(row["height"]),
        faces=[_det_from_dict(v) for v in json.loads(row["faces"])], subject=None if subject < 0 else subject,
        vectors={i: mat[k].astype(np.float32) for k, i in enumerate(idx)} if mat is not None else {},
        norms={i: float(n) for i, n in zip(idx, norms) if n is not None},
        error_kind=str(row["error_kind"]) or None, error=str(row["error"]) or None,
        reused_faces=bool(row["reused_faces"]))


def _item_row(item) -> dict[str, str]:
    known = None if item.known is None else [_det_to_dict(d) for d in item.known]
    return {"path": item.path, "sha256": item.sha256, "known": json.dumps(known)}


# ---------------------------------------------------------------- actor side
class _PipelineActor:
    """One Ray actor: builds its pipeline once, then turns batches of image rows into result rows."""

    def __init__(self, factory: PipelineFactory) -> None:
        try:
            import cv2

            cv2.setNumThreads(1)
        except ImportError:
            pass
        self.pipeline = factory()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from pathlib import Path

        items = []
        for path, sha, known in zip(batch["path"], batch["sha256"], batch["known"]):
            dets = json.loads(str(known))
            items.append((Path(str(path)), str(sha), None if dets is None else [_det_from_dict(v) for v in dets]))
        rows = [encode_result(r) for r in self.pipeline.process_files(items)]
        out: dict[str, np.ndarray] = {}
        for col in COLUMNS:
            values = [r[col] for r in rows]
            out[col] = np.array(values, dtype=object) if col in ("sha256", "faces", "vector_idx", "vectors", "norms",
                                                                 "error_kind", "error") else np.array(values)
        return out


def _actor_class(factory: PipelineFactory) -> type:
    """The actor class with its factory bound (shipped with the class, not as object-store arguments)."""

    class PipelineActor(_PipelineActor):
        def __init__(self) -> None:
            super().__init__(factory)

    return PipelineActor


# ---------------------------------------------------------------- driver side
class RayRunner:
    """Tasks run as Ray Data `map_batches` over an actor pool (one pipeline per actor).

    `address`: a running cluster (`auto`, `ray://HOST:PORT`, or a GCS address); None starts a local one (or
    uses the Ray already initialised in this process). `workers`: actors (default: one per CPU of the cluster,
    or one per `gpus_per_worker` of its GPUs). `gpus_per_worker`: GPUs per actor when the cluster has GPUs
    (default 1).
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 gpus_per_worker: float | None = None, batch_images: int | None = None) -> None:
        if gpus_per_worker is not None and gpus_per_worker < 0:
            raise FacevaultError(f"--gpus-per-worker {gpus_per_worker}: must be 0 or more")
        self.address = address
        self.requested_workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.batch_images = batch_images
        self.ray = require("ray", "for --engine ray")  # a missing Ray fails before the plan is made
        self._watchdog: Watchdog | None = None
        # what the summary reports before the run; set from the cluster's resources when the run starts
        if workers:
            self.workers = workers
        elif self.ray.is_initialized():
            self.workers = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        else:
            self.workers = (os.cpu_count() or 1) if address is None else 1

    def _connect(self) -> bool:
        """Connect to (or start) Ray; True when this runner started it and so must shut it down."""
        ray = self.ray
        if ray.is_initialized():
            return False
        for name in ("ray", "ray.data"):  # Ray's start-up and per-run notices would break the progress bar;
            logging.getLogger(name).setLevel(logging.ERROR)  # its errors still raise
        term = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, **({} if self.address else {"num_cpus": self.requested_workers}))
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise FacevaultError(f"cannot connect to the Ray cluster at {self.address or 'a new local one'}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        if callable(term):  # ray.init replaces SIGTERM's handler with sys.exit: keep a handler the caller set
            signal.signal(signal.SIGTERM, term)  # (the CLI's turns SIGTERM into an interrupt that says what it saved)
        if self.address is None and not os.environ.get("RAY_ADDRESS"):
            self._watchdog = Watchdog()  # this process started the cluster: it must not outlive a killed driver
        return True

    def _disconnect(self) -> None:
        try:
            self.ray.shutdown()
        finally:
            if self._watchdog is not None:
                self._watchdog.stop()
                self._watchdog = None

    def _resources(self) -> tuple[int, float]:
        """(actors, GPUs per actor) for this cluster."""
        res = self.ray.cluster_resources()
        cpus, gpus = float(res.get("CPU", 1)), float(res.get("GPU", 0))
        if gpus > 0 and self.gpus_per_worker != 0:
            per = self.gpus_per_worker or 1.0
            actors = self.requested_workers or max(1, math.floor(gpus / per + 1e-9))
            return actors, per
        if self.gpus_per_worker:
            log.warning("--gpus-per-worker %s: the Ray cluster has no GPUs; running on CPU actors",
                        self.gpus_per_worker)
        return self.requested_workers or max(1, int(cpus)), 0.0

    def run(self, tasks: Iterable[Task], factory: PipelineFactory) -> Iterator[list[ImageResult]]:
        tasks = list(tasks)
        items = [it for t in tasks for it in t]
        if not items:
            return
        batch = self.batch_images or max(len(t) for t in tasks)
        started = self._connect()
        try:
            import ray.data

            for name in ("ray", "ray.data"):  # imported now: its logging is configured, quieten it
                logging.getLogger(name).setLevel(logging.ERROR)
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False  # the CLI draws the one progress bar
            ctx.print_on_execution_start = False
            actors, gpus = self._resources()
            self.workers = actors
            blocks = max(actors, min(len(items) // batch + 1, 4 * actors * 8))
            ds = ray.data.from_items([_item_row(it) for it in items], override_num_blocks=blocks)
            mapped = ds.map_batches(_actor_class(factory), batch_size=batch,
                                    batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
                                    num_cpus=1 if not gpus else None,
                                    num_gpus=gpus or None, zero_copy_batch=True)
            log.info("ray: %d images on %d actors (%s GPU each)", len(items), actors, gpus or 0)
            try:
                for out in mapped.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
                    n = len(out["sha256"])
                    yield [decode_result({c: out[c][k] for c in COLUMNS}) for k in range(n)]
            except self.ray.exceptions.RayError as exc:
                raise WorkerFailed(f"a Ray worker failed ({type(exc).__name__}: "
                                   f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}); everything "
                                   "finished before is saved") from None
        finally:
            if started:
                self._disconnect()
