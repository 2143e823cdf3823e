"""The plan of an ingest, made by the one process that writes the catalog: walk, hash, sync, what is left.

Idempotent by content hash per space: a content already processed for the space is skipped, a renamed or
duplicated file keeps its vectors, and detections stored by the same detector are handed to the pipeline so
that a second model on the same detector does not detect again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facevault.core.errors import EmptyDataset
from facevault.core.types import Detection, Space, SpaceRecord
from facevault.faces import dataset
from facevault.store.catalog import Catalog

UNREADABLE = "unreadable:"  # hash prefix dataset.hash_all gives files it could not read


@dataclass(frozen=True)
class DatasetWalk:
    """The image files of a dataset folder; `complete` is False when only the first `limit` were taken."""

    root: Path
    files: list[dataset.DatasetFile]
    complete: bool = True
    skipped: list[dataset.Skipped] = field(default_factory=list)  # entries not read, with why (hostile folders)
    renamed: list[dataset.Skipped] = field(default_factory=list)  # non-UTF-8 names, stored percent-encoded
    max_bytes: int | None = None  # the per-file cap the walk applied (hashing applies it again)


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One image content to process: the file to read it from, its hash, and detections to reuse (or None)."""

    path: str
    sha256: str
    known: list[Detection] | None = None


@dataclass
class Plan:
    record: SpaceRecord
    items: list[WorkItem]
    paths_by_sha: dict[str, list[str]]  # content -> every dataset path holding it (first: the one reported)
    counts: dict[str, int] = field(default_factory=dict)  # files, identities, new, changed, unchanged, missing, skipped
    unreadable: list[tuple[str, str, str]] = field(default_factory=list)  # (path, message, kind)

    def path_of(self, sha256: str) -> str:
        return self.paths_by_sha[sha256][0]


def walk(root: Path, limit: int | None = None, max_bytes: int | None = None) -> DatasetWalk:
    """The dataset's image files and the entries skipped (EmptyDataset / FacevaultError when there are no
    images or no such folder)."""
    root = Path(root).expanduser().resolve()
    found = dataset.walk_all(root, max_bytes)
    if not found.files:
        raise EmptyDataset(dataset.no_images_message(root))
    files = found.files
    if limit is not None and limit < len(files):
        return DatasetWalk(root, files[:limit], complete=False, skipped=found.skipped, max_bytes=max_bytes,
                           renamed=found.renamed)
    return DatasetWalk(root, files, skipped=found.skipped, max_bytes=max_bytes, renamed=found.renamed)


def name_of(found: DatasetWalk, name: str | None = None) -> str:
    """The dataset a walk is ingested as: `name`, else the folder's own name."""
    return name or found.root.name or "default"


def make(catalog: Catalog, found: DatasetWalk, space: Space, weights_sha256: str | None,
         options: dict | None = None, retry_failed: bool = False, *, dataset_name: str | None = None,
         move_root: bool = False) -> Plan:
    """Hash every file, sync the dataset's images with them (the dataset `dataset_name`, default the folder's
    name, created on first use), and list the contents left to process in the space.

    A content already processed for the space in any dataset is not processed again."""
    name = name_of(found, dataset_name)
    ds_id = catalog.ensure_dataset(name, str(found.root), move_root=move_root)
    hashed = dataset.hash_all(found.files, max_bytes=found.max_bytes)
    synced = catalog.sync_images([(h.file.rel, h.file.identity, h.sha256, h.size) for h in hashed],
                                 complete=found.complete, dataset_id=ds_id)
    record = catalog.ensure_space(space, weights_sha256, options)
    done = catalog.scanned(record.id, only_ok=retry_failed)
    paths_by_sha: dict[str, list[str]] = {}
    first_file: dict[str, str] = {}
    for h in hashed:
        paths_by_sha.setdefault(h.sha256, []).append(h.file.rel)
        first_file.setdefault(h.sha256, h.file.abspath)
    todo = [sha for sha in paths_by_sha if sha not in done and not sha.startswith(UNREADABLE)]
    known = catalog.known_faces(space.detector, todo)
    items = [WorkItem(first_file[sha], sha, known.get(sha)) for sha in todo]
    counts = {"files": len(hashed), "identities": len({h.file.identity for h in hashed if h.file.identity}),
              **synced, "skipped": sum(1 for sha in paths_by_sha if sha in done),
              "reused_detections": sum(1 for it in items if it.known is not None)}
    unreadable = [(h.file.rel, h.error or "cannot read file", h.kind or "unreadable") for h in hashed if h.error]
    return Plan(record, items, paths_by_sha, counts, unreadable)
