"""Every error facevault raises on purpose.

Each carries a one-line message meant for the user; the CLI prints it and exits non-zero.
Per-image problems during ingest are caught, counted by `kind` and stored with the image.
"""

from __future__ import annotations


class FacevaultError(Exception):
    """Base class: a problem the user can act on, with a one-line message."""

    kind = "error"


class StoreNotFound(FacevaultError):
    kind = "store-not-found"


class StoreError(FacevaultError):
    """The store cannot be opened or written: bad URL, missing driver, corrupt or newer database, full disk."""

    kind = "store"


class StoreLocked(FacevaultError):
    """Another facevault process is writing to this store."""

    kind = "store-locked"


class UnknownName(FacevaultError):
    """An unknown model, detector, identity or space; the message lists valid names."""

    kind = "unknown-name"

    SHOWN = 40  # valid names listed (an identity list can hold thousands)

    def __init__(self, what: str, name: str, valid: list[str] | tuple[str, ...] = (), also: str = ""):
        shown = ", ".join(sorted(valid)[: self.SHOWN]) + (" ..." if len(valid) > self.SHOWN else "")
        hint = f" (valid: {shown}{'; ' + also if also else ''})" if valid else ""
        super().__init__(f"unknown {what} {name!r}{hint}")
        self.name = name


class EmptyDataset(FacevaultError):
    kind = "empty-dataset"


class UnknownDataset(FacevaultError):
    """A --dataset name the store does not hold (or none named where several are held)."""

    kind = "unknown-dataset"


class DatasetRootMismatch(FacevaultError):
    """A folder ingested under the name of a dataset rooted elsewhere (without --move-root)."""

    kind = "dataset-root"


class NoSpace(FacevaultError):
    """The store holds no vectors for the requested model/detector."""

    kind = "no-space"


class ProtocolError(FacevaultError):
    """A pairs file or sampling request that cannot be evaluated."""

    kind = "protocol"


class WeightsError(FacevaultError):
    """A weights file is missing or fails its checksum."""

    kind = "weights"


# ---- per-image problems: the run goes on, the image is recorded with its kind ----


class ImageError(FacevaultError):
    """A single input image cannot be used."""

    kind = "image"


class EmptyFile(ImageError):
    kind = "empty-file"


class NotAnImage(ImageError):
    kind = "not-an-image"


class CorruptImage(ImageError):
    kind = "corrupt-image"


class UnsupportedImage(ImageError):
    kind = "unsupported-image"


class FileTooLarge(ImageError):
    """A file over the per-file size cap (FACEVAULT_MAX_FILE_MB), refused before it is read."""

    kind = "too-large"


class NoFace(ImageError):
    kind = "no-face"
