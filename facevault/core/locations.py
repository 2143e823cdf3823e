"""Where a store is and how its catalog is reached, from an option, else a FACEVAULT_* variable, else the
default: the part of `settings.resolve` a served `facevault search` needs, in plain `os.path` (the `Settings`
dataclass's import alone, dataclasses with inspect and ast, is ~10 ms of such a call)."""

from __future__ import annotations

import os

DEFAULT_STORE = ".facevault"


def store(value: str | os.PathLike | None = None) -> str:
    """The store folder: `value`, else $FACEVAULT_STORE, else ./.facevault (a leading ~ expanded)."""
    return os.path.expanduser(os.fspath(value or os.environ.get("FACEVAULT_STORE") or DEFAULT_STORE))


def sqlite_url(store_dir: str | os.PathLike) -> str:
    """The URL of the SQLite catalog inside a store folder (the default catalog)."""
    return f"sqlite:///{os.path.realpath(os.path.join(store_dir, 'catalog.db'))}"


def db_url(store_dir: str | os.PathLike, value: str | None = None) -> str:
    """The catalog: `value`, else $FACEVAULT_DB, else the SQLite file inside the store."""
    return value or os.environ.get("FACEVAULT_DB") or sqlite_url(store_dir)


def weights_dir(value: str | os.PathLike | None = None) -> str | None:
    """The extra weights folder: `value`, else $FACEVAULT_WEIGHTS, else none."""
    found = value or os.environ.get("FACEVAULT_WEIGHTS") or None
    return os.fspath(found) if found else None
