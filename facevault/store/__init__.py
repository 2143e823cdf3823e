"""The catalog: SQLAlchemy models and the store that owns them (the source of truth)."""

from facevault.store.catalog import Catalog, SpaceKey, StoredVectors, identity_groups

__all__ = ["Catalog", "SpaceKey", "StoredVectors", "identity_groups"]
