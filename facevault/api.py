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
    from facevault.services.check import CheckReport
    from facevault.services.evaluate import EvaluationRun
    from facevault.services.grid import Grid
    from facevault.services.health import HealthReport
    from facevault.services.ingest import IngestSummary, Runner
    from facevault.services.report import Report
    from facevault.services.similarity import SimilarityMatrix
    from facevault.services.status import StoreStatus
    from facevault.services.study import Study
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


def _names(dataset: str | Sequence[str] | None) -> list[str] | None:
    if dataset is None:
        return None
    return [dataset] if isinstance(dataset, str) else (list(dataset) or None)


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

        records = None
        if self._catalog is None:  # a cold read: the store's SQLite catalog read without SQLAlchemy, if it can be
            from facevault.store import lite

            records = lite.spaces(self.settings)
        return spaces.choose(records if records is not None else self.catalog.spaces(), model, detector, aligner)

    def vectors(self, model: str | None = None, detector: str | None = None, aligner: str | None = None, *,
                dataset: str | Sequence[str] | None = None) -> StoredVectors:
        """The subject vector of every usable image of a space: `matrix` (n x dim, unit rows), `paths`,
        `identities`, `norms` (the raw embeddings' norms). `dataset`: one name or several (default: all; paths
        and identities read "dataset/..." when several datasets are read)."""
        return self.catalog.vectors(self.space(model, detector, aligner).id, _names(dataset))

    def datasets(self) -> list[dict]:
        """Every dataset of the store: name, root, images, identities."""
        return self.catalog.datasets()

    def pipeline(self, space: Space | SpaceRecord) -> "Pipeline":
        """The detect -> align -> embed pipeline of a space, built once per vault."""
        from facevault.faces.pipeline import build_pipeline

        sp = space.space if isinstance(space, SpaceRecord) else space
        if sp.key not in self._pipelines:
            self._pipelines[sp.key] = build_pipeline(sp, self.settings.weights_dir)
        return self._pipelines[sp.key]

    # ---------------------------------------------------------------- writes
    def ingest(self, folder: PathLike, model: str = DEFAULT_MODEL, detector: str = DEFAULT_DETECTOR,
               aligner: str | None = None, *, dataset: str | None = None, move_root: bool = False,
               workers: int | None = None, runner: "Runner | None" = None,
               limit: int | None = None, batch_size: int | None = None, retry_failed: bool = False,
               progress: Callable[[int, int], None] | None = None, engine: str = "local",
               address: str | None = None, gpus_per_worker: float | None = None) -> "IngestSummary":
        """Detect, align and embed every image of `folder` (FOLDER/<identity>/**/<image>) in one space, as the
        dataset `dataset` (default: the folder's name). A different folder under an existing dataset name is
        refused unless `move_root` (the folder moved on disk); a content held by several datasets is embedded
        once per space.

        Idempotent by content: only new or changed images are processed. `runner` chooses the engine (default:
        in-process for small jobs, else a process pool of `workers`); `progress(done, total)` is called as
        images finish. Returns the run's counts. `engine="ray"` runs the per-image work on Ray Data (`address`:
        a running cluster, `auto` or `ray://HOST:PORT`, else a local one; `gpus_per_worker`: GPUs per actor
        where the cluster has GPUs); this process still plans and is the only catalog writer.
        """
        from facevault.services import ingest as ingest_mod
        from facevault.zoo import registry

        if engine not in ("local", "ray"):
            raise FacevaultError(f"unknown engine {engine!r} (valid: local, ray)")
        space = registry.space(model, detector, aligner)  # unknown names fail before anything is created
        if engine == "ray" and runner is None:
            from facevault.services.ingest.ray_runner import RayRunner

            runner = RayRunner(address, workers, gpus_per_worker)
        plan_files = ingest_mod.walk(Path(folder), limit, self.settings.max_file_bytes)  # so does a missing folder
        catalog = self._writable()
        return ingest_mod.ingest(catalog, plan_files, space, weights_dir=self.settings.weights_dir,
                                 workers=workers or self.settings.workers, runner=runner, batch_size=batch_size,
                                 retry_failed=retry_failed, progress=progress, dataset=dataset,
                                 move_root=move_root, max_pixels=self.settings.max_pixels)

    # ---------------------------------------------------------------- reads
    def status(self) -> "StoreStatus":
        """What the store holds: images by status, identities, and every space with its counts."""
        from facevault.services import status

        return status.store_status(self.catalog)

    def evaluate(self, *, models: Sequence[str] = (), detectors: Sequence[str] = (), protocol: str | None = None,
                 pairs: PathLike | None = None, sample: int | None = None, metric: str = "cosine",
                 target_far: float | None = None, gallery_per_identity: int = 1, unknown_fraction: float = 0.1,
                 ranks: int = 20, bootstrap: int = 1000, seed: int = 0, folds: int = 10,
                 calibrate: bool | None = None, datasets: str | Sequence[str] | None = None, by: str | None = None,
                 metric_column: str = "accuracy") -> "EvaluationRun | Grid":
        """Verification (pairs file, seeded sample, or every pair) or identification from stored vectors, for
        one space or a leaderboard of several (default: every space), over `datasets` (default: all). The
        operating point is stored as the space's search threshold when cross-validated (`calibrate` None),
        always (True) or never (False).

        `by="dataset"`: the grid instead (a `Grid`), every space on every dataset with each dataset's own
        protocol (its pairs file, else a seeded sample of `sample` pairs); no threshold is stored, and no
        bootstrap is drawn (the cells are accuracy ± std over folds, AUC and EER)."""
        from facevault.services import evaluate as evaluate_mod
        from facevault.services import spaces

        records = spaces.select(self.catalog.spaces(), tuple(models), tuple(detectors))
        if by is not None:
            from facevault.services import grid as grid_mod

            if by != "dataset":
                raise FacevaultError(f"evaluate by {by!r}: only by='dataset' is known")
            return grid_mod.build(self.catalog, records, _names(datasets), metric_column=metric_column,
                                  sample=sample, metric=metric, seed=seed, folds=folds)  # cells carry no CI
        return evaluate_mod.run(
            self.catalog, records, protocol, pairs_file=Path(pairs) if pairs is not None else None, sample=sample,
            metric=metric, target_far=target_far, gallery_per_identity=gallery_per_identity,
            unknown_fraction=unknown_fraction, ranks=ranks, bootstrap=bootstrap, seed=seed, folds=folds,
            calibrate=calibrate, datasets=_names(datasets))

    def similarity(self, *, model: str | None = None, detector: str | None = None,
                   identities: Sequence[str] | None = None, top: int | None = 40,
                   order: str = "cluster", datasets: str | Sequence[str] | None = None) -> "SimilarityMatrix":
        """Identity x identity mean cosine similarity of a space (diagonal: distinct same-identity pairs), over
        `datasets` (default: all)."""
        from facevault.services import similarity as similarity_mod

        record = self.space(model, detector)
        return similarity_mod.compute(self.catalog.vectors(record.id, _names(datasets)),
                                      list(identities) if identities else None,
                                      top or None, order, space=record.label)

    def search(self, images: PathLike | Sequence[PathLike], *, k: int = 5, model: str | None = None,
               detector: str | None = None, threshold: float | None = None,
               datasets: str | Sequence[str] | None = None, cwd: PathLike | None = None) -> list[dict]:
        """Every face of each query image (a folder: every image under it) matched to the k nearest identities
        (of `datasets`, default all), with a same/different verdict at the space's calibrated threshold (or
        `threshold`). A query that cannot be searched (unreadable, no face, skipped in a folder) is a result
        with its `error`. Relative paths are read from `cwd` when given (default: this process's)."""
        from facevault.services import search as search_mod

        queries = [Path(images)] if isinstance(images, (str, os.PathLike)) else [Path(p) for p in images]
        record, index, pipeline = self._searcher(model, detector, datasets)
        return search_mod.search_images(index, record, pipeline, queries, k, threshold,
                                        Path(cwd) if cwd is not None else None)

    def search_bytes(self, data: bytes, *, name: str = "image", k: int = 5, model: str | None = None,
                     detector: str | None = None, threshold: float | None = None,
                     datasets: str | Sequence[str] | None = None) -> list[dict]:
        """`search` for one image given as its encoded bytes (JPEG, PNG, WebP, ...), shown as `name`."""
        from facevault.services import search as search_mod

        record, index, pipeline = self._searcher(model, detector, datasets)
        return search_mod.search_bytes(index, record, pipeline, data, name, k, threshold)

    def _searcher(self, model: str | None, detector: str | None, datasets: str | Sequence[str] | None):
        """The space a search means, its index (of `datasets` only, when given) and its pipeline; query files
        are read under the store's size and pixel caps."""
        from facevault.faces import imageio
        from facevault.services import search as search_mod

        imageio.set_limits(self.settings.max_file_bytes, self.settings.max_pixels)
        record = self.space(model, detector)
        names = _names(datasets)
        index = (search_mod.dataset_index(self.catalog.vectors(record.id, names), record) if names
                 else self._index(record))
        return record, index, self.pipeline(record)

    def lookalikes(self, identity: str, *, k: int = 5, model: str | None = None,
                   detector: str | None = None, datasets: str | Sequence[str] | None = None) -> dict:
        """Other identities (of `datasets`, default all) ranked by the cosine similarity of their centroids to
        `identity`'s."""
        from facevault.services import search as search_mod

        record = self.space(model, detector)
        return search_mod.lookalikes(self.catalog.vectors(record.id, _names(datasets)), record, identity, k)

    def verify(self, a: PathLike, b: PathLike, *, model: str | None = None, detector: str | None = None,
               threshold: float | None = None) -> "VerifyResult":
        """Whether the subject faces of `a` and `b` are the same person, at the space's calibrated threshold."""
        from facevault.faces import imageio
        from facevault.services import verify as verify_mod

        imageio.set_limits(self.settings.max_file_bytes, self.settings.max_pixels)
        record = self.space(model, detector)
        return verify_mod.verify(record, self.pipeline(record), Path(a), Path(b), threshold)

    def report(self, out: PathLike, *, pairs: PathLike | None = None, sample: int | None = None, seed: int = 0,
               folds: int = 10, top_identities: int = 30, hard_pairs: int = 8,
               datasets: str | Sequence[str] | None = None) -> "Report":
        """Write the evaluation report (report.html, report.md, report.json, img/) of every space into `out`,
        over `datasets` (default: all)."""
        from facevault.services import report as report_mod

        rep = report_mod.build(self.catalog, Path(out), Path(pairs) if pairs is not None else None, sample, seed,
                               folds, top_identities, hard_pairs, self.settings.weights_dir, _names(datasets))
        rep.files = report_mod.write(rep)
        return rep

    def study(self, folders: Sequence[PathLike], *, models: Sequence[str] = (DEFAULT_MODEL,),
              detectors: Sequence[str] = (DEFAULT_DETECTOR,), names: Sequence[str] | None = None,
              out: PathLike | None = None, sample: int | None = None, seed: int = 0, folds: int = 10,
              metric_column: str = "accuracy", workers: int | None = None, runner: "Runner | None" = None,
              progress: Callable[[str, int, int], None] | None = None) -> "Study":
        """The whole study: every folder ingested as a dataset (named `names[i]`, default its folder's name) for
        every model x detector, the grid of spaces x datasets, and with `out` the study report (study.html,
        study.md, study.json, img/). A rerun embeds only what is missing; combinations whose weights are absent
        are listed in `skipped` with the reason."""
        from facevault.services import study as study_mod

        catalog = self._writable()
        result = study_mod.run(catalog, [Path(f) for f in folders], list(models), list(detectors), names=names,
                               weights_dir=self.settings.weights_dir, workers=workers or self.settings.workers,
                               runner=runner, sample=sample, seed=seed, folds=folds, metric_column=metric_column,
                               progress=progress)
        if out is not None and result.grid is not None:
            from facevault.services.report import study as study_report

            rep = study_report.build(result.grid, Path(out))
            result.report = study_report.write(rep)
        return result

    def health(self, *, model: str | None = None, detector: str | None = None, duplicate_threshold: float = 0.98,
               min_faces: int = 2, limit: int = 100, datasets: str | Sequence[str] | None = None) -> "HealthReport":
        """Likely mislabels, duplicates across identities, thin identities and bad images of a space, over
        `datasets` (default: all)."""
        from facevault.services import health as health_mod

        record = self.space(model, detector)
        return health_mod.check(self.catalog, record, duplicate_threshold, min_faces, limit,
                                datasets=_names(datasets))

    def index(self, *, model: str | None = None, detector: str | None = None, rebuild: bool = False,
              kind: str | None = None, nprobe: int | None = None, ef_search: int | None = None) -> dict:
        """Bring a space's FAISS index up to date (load, extend with new vectors, or rebuild; `kind` is one of
        flat, ivf, hnsw, auto) and say which kind it is and why. `nprobe` (IVF) or `ef_search` (HNSW) pins the
        search parameter instead of the one tuned on the store's vectors; the recall it gives is measured."""
        from facevault.store import index as index_mod

        record = self.space(model, detector)
        idx = self._index(record, rebuild=rebuild, kind=kind)
        value = nprobe if nprobe is not None else ef_search
        if value is not None:
            want = "ivf" if nprobe is not None else "hnsw"
            if idx.kind != want:
                raise FacevaultError(f"{'--nprobe' if want == 'ivf' else '--ef-search'} sets a {want} index's search, "
                                     f"but this space's index is {idx.kind} (rebuild with --kind {want})")
            idx = self._keep(record, index_mod.set_search(self.catalog, record, value),
                             index_mod.pointer_stamp(self.settings, record.id))
        return {"space": record.label, "space_id": record.id, **idx.info()}

    def index_status(self) -> dict[int, dict]:
        """Space id -> its index's kind, why, vector count and freshness, read from the pointer files alone."""
        from facevault.store import index as index_mod

        return {rec.id: index_mod.describe(self.catalog, rec) for rec in self.catalog.spaces()}

    def check(self, repair: bool = False) -> "CheckReport":
        """The store's consistency: SQLite integrity, orphan rows, vector lengths and norms, each index against
        the catalog's revision. With `repair`, orphans are deleted and stale indices rebuilt (derived data only)."""
        from facevault.services import check as check_mod

        report = check_mod.check(self.catalog, repair)
        if repair:
            self._indices.clear()
        return report

    # ---------------------------------------------------------------- internals
    def _index(self, record: SpaceRecord, rebuild: bool = False, kind: str | None = None) -> Any:
        """The space's index, kept between calls while the catalog's revision and the index's pointer file are
        unchanged (another process may rebuild it, change its kind or pin its search parameter)."""
        from facevault.store import index as index_mod

        stamp = index_mod.pointer_stamp(self.settings, record.id)  # before loading: a swap after it is seen next time
        cached = self._indices.get(record.id)
        if (cached is not None and cached.revision == record.revision and cached.stamp == stamp and not rebuild
                and kind in (None, cached.kind)):
            return cached
        if self._catalog is None and not rebuild and kind is None:  # a fresh saved index needs no catalog
            fresh = index_mod.load_fresh(self.settings, record)
            if fresh is not None:
                return self._keep(record, fresh, stamp)
        idx = index_mod.load_or_build(self.catalog, record, kind=None if kind == "auto" else kind,
                                      rebuild=rebuild or kind == "auto")
        return self._keep(record, idx, stamp if idx.how == "loaded" else index_mod.pointer_stamp(self.settings, record.id))

    def _keep(self, record: SpaceRecord, idx: Any, stamp: tuple | None) -> Any:
        idx.stamp = stamp
        self._indices[record.id] = idx
        return idx


__all__ = ["FacevaultError", "Vault", "export_adaface", "fetch_weights", "index_device", "models", "open", "recognizer_device",
           "register_model", "weights_path", "weights_status"]
