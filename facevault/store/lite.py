"""What a cold read-only command needs before any vector, read from the store's own SQLite catalog through the
standard library's sqlite3 (read-only) instead of SQLAlchemy, whose import alone is ~0.4 s of a `facevault
search`. Only a catalog at this code's schema head is read; anything else (no store, a URL, another revision,
any SQLite error) returns None and the caller opens the `Catalog` as usual, which reports it properly."""

from __future__ import annotations

import json
import sqlite3

from facevault.core.settings import Settings
from facevault.core.types import Space, SpaceRecord
from facevault.store.schema import script_head

_SPACES = ("SELECT id, model, detector, aligner, dim, metric, revision, threshold, threshold_source, "
           "images_per_second, weights_sha256, options FROM spaces ORDER BY id")


def spaces(settings: Settings) -> list[SpaceRecord] | None:
    """Every space of the store (as `Catalog.spaces()`), or None when this fast path does not apply."""
    if not settings.default_db:
        return None
    path = settings.store / "catalog.db"
    if not path.is_file():
        return None
    head = script_head()
    if head is None:
        return None
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except (sqlite3.Error, ValueError):
        return None
    try:
        version = con.execute("SELECT version_num FROM alembic_version").fetchall()
        if version != [(head,)]:
            return None
        rows = con.execute(_SPACES).fetchall()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    out = []
    for (sid, model, detector, aligner, dim, metric, revision, threshold, source, ips, sha, options) in rows:
        try:
            opts = json.loads(options) if options else {}
        except ValueError:
            return None
        out.append(SpaceRecord(id=sid, space=Space(model, detector, aligner, dim, metric or "cosine"),
                               revision=revision or 0, threshold=threshold, threshold_source=source,
                               images_per_second=ips, weights_sha256=sha, options=dict(opts or {})))
    return out
