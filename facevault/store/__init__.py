"""The store: the catalog database (every SQL statement), its schema, and the FAISS indices derived from it."""

from facevault.store.catalog import Catalog

__all__ = ["Catalog"]
