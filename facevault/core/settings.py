"""Settings: CLI option, then environment variable (FACEVAULT_*), then default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STORE = ".facevault"
DEFAULT_MODEL = "dlib"
DEFAULT_DETECTOR = "dlib-hog"


@dataclass(frozen=True)
class Settings:
    store: Path
    db_url: str

    @property
    def index_dir(self) -> Path:
        return self.store / "indices"


def resolve(store: str | os.PathLike | None = None, db: str | None = None) -> Settings:
    store_path = Path(store or os.environ.get("FACEVAULT_STORE") or DEFAULT_STORE).expanduser()
    url = db or os.environ.get("FACEVAULT_DB") or f"sqlite:///{(store_path / 'catalog.db').resolve()}"
    return Settings(store=store_path, db_url=url)


def default_workers() -> int:
    env = os.environ.get("FACEVAULT_WORKERS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
