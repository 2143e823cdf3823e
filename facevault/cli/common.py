"""Options every command shares, and output helpers."""

from __future__ import annotations

import json
import sys
from functools import wraps
from typing import Any, Callable

import click
from rich.console import Console

from facevault.core import settings as config

stderr = Console(stderr=True)
stdout = Console()


def store_options(f: Callable) -> Callable:
    @click.option("--store", "store", type=click.Path(file_okay=False), envvar="FACEVAULT_STORE",
                  help="Store directory (env FACEVAULT_STORE; default ./.facevault).")
    @click.option("--db", "db", envvar="FACEVAULT_DB", help="Any SQLAlchemy URL for the catalog (env FACEVAULT_DB; default SQLite in the store).")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of tables.")
    @wraps(f)
    def inner(*args: Any, **kwargs: Any) -> Any:
        return f(*args, **kwargs)

    return inner


def space_options(f: Callable) -> Callable:
    @click.option("--model", "-m", "model", default=None, envvar="FACEVAULT_MODEL",
                  help=f"Recognizer (see `facevault models`; default {config.DEFAULT_MODEL} for ingest; for reads, "
                       "the store's only space, else its dlib space).")
    @click.option("--detector", "-d", "detector", default=None, envvar="FACEVAULT_DETECTOR",
                  help=f"Face detector (default {config.DEFAULT_DETECTOR} for ingest; for reads, the one the store holds).")
    @wraps(f)
    def inner(*args: Any, **kwargs: Any) -> Any:
        return f(*args, **kwargs)

    return inner


def open_vault(store: str | None = None, db: str | None = None, weights_dir: str | None = None,
               workers: int | None = None):
    """The store's facade, with settings resolved once (option, then FACEVAULT_* environment, then default)."""
    from facevault.api import Vault

    return Vault(config.resolve(store, db, weights_dir, workers))


def open_catalog(store: str | None, db: str | None, create: bool = False):
    from facevault.store import Catalog

    return Catalog(config.resolve(store, db), create=create)


weights_option = click.option(
    "--weights", "weights_dir", type=click.Path(file_okay=False), envvar="FACEVAULT_WEIGHTS",
    help="Extra folder to look for weights files in (env FACEVAULT_WEIGHTS).")


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=_default) + "\n")


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"
