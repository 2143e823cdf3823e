"""Settings, resolved once: CLI option (or API argument), then environment variable (FACEVAULT_*), then default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from facevault.core import locations
from facevault.core.errors import FacevaultError

DEFAULT_STORE = locations.DEFAULT_STORE
DEFAULT_MODEL = "dlib"
DEFAULT_DETECTOR = "dlib-hog"


@dataclass(frozen=True)
class Settings:
    """Where a store lives and how its catalog is reached; every layer reads these, none re-reads the env."""

    store: Path
    db_url: str
    weights_dir: str | None = None  # an extra folder searched first for weights files
    workers: int = 1
    max_file_mb: float = 100.0  # per dataset file, checked before it is read (FACEVAULT_MAX_FILE_MB)
    max_pixels: int = 40_000_000  # decoded pixels per image; larger JPEGs decode reduced (FACEVAULT_MAX_PIXELS)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)

    @property
    def index_dir(self) -> Path:
        return self.store / "indices"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def default_db(self) -> bool:
        """The catalog is the SQLite file inside the store (not a URL the user gave)."""
        return self.db_url == locations.sqlite_url(self.store)


def env_number(name: str, kind: type = int) -> int | float | None:
    """A positive number from the environment variable `name` (None when unset); anything else is one line."""
    raw = os.environ.get(name)
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise FacevaultError(f"${name} must be {what}, not {raw!r}") from None
    if value <= 0:
        raise FacevaultError(f"${name} must be more than 0, not {value}")
    return value


def resolve(store: str | os.PathLike | None = None, db: str | None = None, weights_dir: str | os.PathLike | None = None,
            workers: int | None = None) -> Settings:
    """Settings from explicit values, then FACEVAULT_STORE / _DB / _WEIGHTS / _WORKERS, then defaults."""
    store_path = Path(locations.store(store))
    return Settings(store=store_path, db_url=locations.db_url(store_path, db),
                    weights_dir=locations.weights_dir(weights_dir),
                    workers=workers or env_number("FACEVAULT_WORKERS") or default_workers(),
                    max_file_mb=env_number("FACEVAULT_MAX_FILE_MB", float) or 100.0,
                    max_pixels=env_number("FACEVAULT_MAX_PIXELS") or 40_000_000)


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
