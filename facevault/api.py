"""The Python API: one `Vault` per store, held by a notebook and by the CLI alike.

    import facevault
    with facevault.open("./.facevault") as vault:
        vault.ingest("lfw/images", model="dlib")
        run = vault.evaluate(pairs="lfw/pairs.txt")
        hits = vault.search("photo.jpg", k=5)
        vecs = vault.vectors(model="dlib")          # numpy matrix + paths + identities

Methods return plain dataclasses and numpy arrays; nothing here prints or exits. The catalog is opened on
first use (a store is created only by `ingest`, so a call that fails on its arguments leaves nothing behind),
and the pipelines and indices a search builds are kept for the next call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from facevault.core import settings as settings_mod
from facevault.core.errors import FacevaultError
from facevault.core.settings import DEFAULT_DETECTOR, DEFAULT_MODEL, Settings
from facevault.core.types import Space, SpaceRecord, StoredVectors

if TYPE_CHECKING:  # the heavy modules load when a method first needs them
    from facevault.faces.pipeline import Pipeline
    from facevault.services.evaluate import EvaluationRun
    from facevault.services.health import HealthReport
    from facevault.services.ingest import IngestSummary, Runner
    from facevault.services.report import Report
    from facevault.services.similarity import SimilarityMatrix
    from facevault.services.status import StoreStatus
    from facevault.services.verify import VerifyResult
    from facevault.store.catalog import Catalog

PathLike = str | os.PathLike


def open(store: PathLike | None = None, *, db: str | None = None, weights: PathLike | None = None,
         workers: int | None = None) -> "Vault":
    """The store at `store` (default: $FACEVAULT_STORE, else ./.facevault). Nothing is created until `ingest`."""
    return Vault(settings_mod.resolve(store, db, weights, workers))


def recognizer_device(model: str) -> str:
    """Which device the recognizer `model` will run on, e.g. "onnxruntime CPU" (UnknownName for a bad name)."""
    from facevault.services.devices import recognizer_device as device

    return device(model)


def models(weights_dir: PathLike | None = None) -> list[dict]:
    """Every recognizer and detector facevault knows, whether its weights are here, and its device."""
    from facevault.services.models import describe

    return describe(str(weights_dir) if weights_dir else None)


def weights_status(weights_dir: PathLike | None = None, verify: bool = False) -> list:
    """Every known weights file: where it is (or would go), whether its sha256 matches, licence, users."""
    from facevault.weights import manifest

    return manifest.status(str(weights_dir) if weights_dir else None, verify=verify)


def fetch_weights(name: str, dest: PathLike | None = None, force: bool = False,
                  progress: Callable[[int, int | None], None] | None = None):
    """Download weights file `name`, verify its sha256 and move it into place (nothing kept on a mismatch)."""
    from facevault.weights import manifest

    return manifest.fetch(name, str(dest) if dest else None, force=force, progress=progress)


def register_model(file: PathLike, like: str, name: str | None = None):
    """Register your own ONNX recognizer `file` with the preprocessing of the ONNX model `like`; returns its
    registry entry (then `vault.ingest(..., model=entry.name)` uses it)."""
    from facevault.services.models import register_onnx_model

    return register_onnx_model(file, like, name)


def export_adaface(ckpt: PathLike, out: PathLike, arch: str = "ir_101", opset: int = 17, tolerance: float = 1e-4):
    """Export an AdaFace checkpoint as ONNX and check onnxruntime against torch (needs torch, the CPU build)."""
    from facevault.weights import export_adaface as export

    return export.run(ckpt, out, arch=arch, opset=opset, tolerance=tolerance)


def weights_path(filename: str, weights_dir: PathLike | None = None) -> Path | None:
    """Where facevault finds weights file `filename`, or None."""
    from facevault.weights import manifest

    return manifest.locate(filename, str(weights_dir) if weights_dir else None)


def index_device() -> str:
    """Where FAISS searches run: "faiss GPU" or "faiss CPU"."""
    from facevault.services.devices import index_device as device

    return device()


class Vault:
    """A facevault store: ingest datasets into it, then evaluate, compare and search from its vectors."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._catalog: Catalog | None = None
        self._pipelines: dict[tuple[str, str, str], Pipeline] = {}
        self._indices: dict[int, Any] = {}

    # ---------------------------------------------------------------- lifecycle
    @property
    def catalog(self) -> "Catalog":
        """The store's catalog, opened on first use; StoreNotFound when there is no store yet."""
        if self._catalog is None:
            from facevault.store.catalog import Catalog

            self._catalog = Catalog(self.settings)
        return self._catalog

    def _writable(self) -> "Catalog":
        if self._catalog is None:
            from facevault.store.catalog import Catalog

            self._catalog = Catalog(self.settings, create=True)
        return self._catalog

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
        self._indices.clear()

    def __enter__(self) -> "Vault":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<facevault.Vault {self.settings.store}>"

    # ---------------------------------------------------------------- spaces
    def spaces(self) -> list[SpaceRecord]:
        """Every embedding space the store holds."""
        return self.catalog.spaces()

    def space(self, model: str | None = None, detector: str | None = None, aligner: str | None = None) -> SpaceRecord:
        """The one stored space these names select (none: the store's only space, else its dlib one)."""
        from facevault.services import spaces

        return spaces.choose(self.catalog.spaces(), model, detector, aligner)

    def vectors(self, model: str | None = None, detector: str | None = None, aligner: str | None = None) -> StoredVectors:
        """The subject vector of every usable image of a space: `matrix` (n x dim, unit rows), `paths`,
        `identities`, `norms` (the raw embeddings' norms)."""
        return self.catalog.vectors(self.space(model, detector, aligner).id)

    def pipeline(self, space: Space | SpaceRecord) -> "Pipeline":
        """The detect -> align -> embed pipeline of a space, built once per vault."""
        from facevault.faces.pipeline import build_pipeline

        sp = space.space if isinstance(space, SpaceRecord) else space
        if sp.key not in self._pipelines:
            self._pipelines[sp.key] = build_pipeline(sp, self.settings.weights_dir)
        return self._pipelines[sp.key]

    # ---------------------------------------------------------------- writes
    def ingest(self, dataset: PathLike, model: str = DEFAULT_MODEL, detector: str = DEFAULT_DETECTOR,
               aligner: str | None = None, *, workers: int | None = None, runner: "Runner | None" = None,
               limit: int | None = None, batch_size: int | None = None, retry_failed: bool = False,
               progress: Callable[[int, int], None] | None = None) -> "IngestSummary":
        """Detect, align and embed every image of `dataset` (DATASET/<identity>/**/<image>) in one space.

        Idempotent by content: only new or changed images are processed. `runner` chooses the engine (default:
        in-process for small jobs, else a process pool of `workers`); `progress(done, total)` is called as
        images finish. Returns the run's counts.
        """
        from facevault.services import ingest as ingest_mod
        from facevault.zoo import registry

        space = registry.space(model, detector, aligner)  # unknown names fail before anything is created
        plan_files = ingest_mod.walk(Path(dataset), limit)  # so does a dataset that is not there
        catalog = self._writable()
        return ingest_mod.ingest(catalog, plan_files, space, weights_dir=self.settings.weights_dir,
                                 workers=workers or self.settings.workers, runner=runner, batch_size=batch_size,
                                 retry_failed=retry_failed, progress=progress)

    # ---------------------------------------------------------------- reads
    def status(self) -> "StoreStatus":
        """What the store holds: images by status, identities, and every space with its counts."""
        from facevault.services import status

        return status.store_status(self.catalog)

    def evaluate(self, *, models: Sequence[str] = (), detectors: Sequence[str] = (), protocol: str | None = None,
                 pairs: PathLike | None = None, sample: int | None = None, metric: str = "cosine",
                 target_far: float | None = None, gallery_per_identity: int = 1, unknown_fraction: float = 0.1,
                 ranks: int = 20, bootstrap: int = 1000, seed: int = 0, folds: int = 10,
                 calibrate: bool = True) -> "EvaluationRun":
        """Verification (pairs file, seeded sample, or every pair) or identification from stored vectors, for
        one space or a leaderboard of several (default: every space). With `calibrate`, a cross-validated
        operating point is stored as the space's search threshold."""
        from facevault.services import evaluate as evaluate_mod
        from facevault.services import spaces

        records = spaces.select(self.catalog.spaces(), tuple(models), tuple(detectors))
        return evaluate_mod.run(
            self.catalog, records, protocol, pairs_file=Path(pairs) if pairs is not None else None, sample=sample,
            metric=metric, target_far=target_far, gallery_per_identity=gallery_per_identity,
            unknown_fraction=unknown_fraction, ranks=ranks, bootstrap=bootstrap, seed=seed, folds=folds,
            calibrate=calibrate)

    def similarity(self, *, model: str | None = None, detector: str | None = None,
                   identities: Sequence[str] | None = None, top: int | None = 40,
                   order: str = "cluster") -> "SimilarityMatrix":
        """Identity x identity mean cosine similarity of a space (diagonal: distinct same-identity pairs)."""
        from facevault.services import similarity as similarity_mod

        record = self.space(model, detector)
        return similarity_mod.compute(self.catalog.vectors(record.id), list(identities) if identities else None,
                                      top or None, order, space=record.label)

    def search(self, images: PathLike | Sequence[PathLike], *, k: int = 5, model: str | None = None,
               detector: str | None = None, threshold: float | None = None) -> list[dict]:
        """Every face of each query image matched to the k nearest identities, with a same/different verdict
        at the space's calibrated threshold (or `threshold`). A query that cannot be searched (unreadable,
        no face) is a result with its `error`."""
        from facevault.services import search as search_mod

        queries = [Path(images)] if isinstance(images, (str, os.PathLike)) else [Path(p) for p in images]
        record = self.space(model, detector)
        index = self._index(record)
        return search_mod.search_images(index, record, self.pipeline(record), queries, k, threshold)

    def lookalikes(self, identity: str, *, k: int = 5, model: str | None = None,
                   detector: str | None = None) -> dict:
        """Other identities ranked by the cosine similarity of their centroids to `identity`'s."""
        from facevault.services import search as search_mod

        record = self.space(model, detector)
        return search_mod.lookalikes(self.catalog.vectors(record.id), record, identity, k)

    def verify(self, a: PathLike, b: PathLike, *, model: str | None = None, detector: str | None = None,
               threshold: float | None = None) -> "VerifyResult":
        """Whether the subject faces of `a` and `b` are the same person, at the space's calibrated threshold."""
        from facevault.services import verify as verify_mod

        record = self.space(model, detector)
        return verify_mod.verify(record, self.pipeline(record), Path(a), Path(b), threshold)

    def report(self, out: PathLike, *, pairs: PathLike | None = None, sample: int | None = None, seed: int = 0,
               folds: int = 10, top_identities: int = 30, hard_pairs: int = 8) -> "Report":
        """Write the evaluation report (report.html, report.md, report.json, img/) of every space into `out`."""
        from facevault.services import report as report_mod

        rep = report_mod.build(self.catalog, Path(out), Path(pairs) if pairs is not None else None, sample, seed,
                               folds, top_identities, hard_pairs, self.settings.weights_dir)
        rep.files = report_mod.write(rep)
        return rep

    def health(self, *, model: str | None = None, detector: str | None = None, duplicate_threshold: float = 0.98,
               min_faces: int = 2, limit: int = 100) -> "HealthReport":
        """Likely mislabels, duplicates across identities, thin identities and bad images of a space."""
        from facevault.services import health as health_mod

        record = self.space(model, detector)
        return health_mod.check(self.catalog, record, duplicate_threshold, min_faces, limit)

    # ---------------------------------------------------------------- internals
    def _index(self, record: SpaceRecord) -> Any:
        from facevault.store import index as index_mod

        cached = self._indices.get(record.id)
        if cached is not None and cached.revision == record.revision:
            return cached
        idx = index_mod.load_or_build(self.catalog, record)
        self._indices[record.id] = idx
        return idx


__all__ = ["FacevaultError", "Vault", "export_adaface", "fetch_weights", "index_device", "models", "open", "recognizer_device",
           "register_model", "weights_path", "weights_status"]
