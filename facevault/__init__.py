"""facevault: a face-embedding store with a vector-index CLI.

Ingest a folder-per-identity dataset once per model, then evaluate, compare and search from stored vectors:

    import facevault
    with facevault.open("./.facevault") as vault:
        vault.ingest("lfw/images", model="dlib")
        hits = vault.search("photo.jpg", k=5)

Importing the package loads nothing else: `open` and `Vault` come from `facevault.api` on first use.
"""

from __future__ import annotations

from facevault.core.version import __version__

__all__ = ["FacevaultError", "Vault", "__version__", "open"]

TYPE_CHECKING = False  # typing's own constant, without importing typing (~7 ms of a served `search`)
if TYPE_CHECKING:
    from typing import Any

    from facevault.api import FacevaultError, Vault, open


def __getattr__(name: str) -> Any:
    if name in ("open", "Vault", "FacevaultError"):
        from facevault import api

        return getattr(api, name)
    raise AttributeError(f"module 'facevault' has no attribute {name!r}")
