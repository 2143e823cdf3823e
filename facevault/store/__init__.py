"""The store: the catalog database (every SQL statement), its schema, and the FAISS indices derived from it.

`Catalog` is imported on first use, so that `facevault.store.index` or `.lite` do not pull in SQLAlchemy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from facevault.store.catalog import Catalog

__all__ = ["Catalog"]


def __getattr__(name: str) -> Any:
    if name == "Catalog":
        from facevault.store.catalog import Catalog

        return Catalog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
