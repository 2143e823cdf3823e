"""`facevault check [--repair]`: is the store consistent, and what can be rebuilt or removed safely.

The catalog is checked by `facevault.store.check` (the database file, orphan rows, vector blobs); each space's
index (a derived cache) against the catalog's revision, and loaded whole to see that its files are there and
agree. Repair deletes orphan rows and rebuilds stale, missing or damaged indices; it never touches a vector that a
face and a space still reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from facevault.core.errors import FacevaultError
from facevault.store import check as store_check
from facevault.store.catalog import Catalog


@dataclass
class CheckReport:
    """What `check` found (and, with repair, what it did)."""

    store: str
    integrity: list[str]  # SQLite's integrity_check lines (["ok"] when sound; [] when not SQLite)
    orphans: dict[str, int]
    vectors: dict  # wrong_length, not_unit, examples
    indices: list[dict] = field(default_factory=list)  # space_id, space, built, fresh, kind, unreadable, (rebuilt)
    repaired: dict[str, int] = field(default_factory=dict)
    repair: bool = False

    @property
    def database_ok(self) -> bool:
        return self.integrity in ([], ["ok"])

    @property
    def problems(self) -> list[str]:
        """One line per problem still present after the run (repaired ones are not listed)."""
        out = [] if self.database_ok else [f"database: {line}" for line in self.integrity[:10]]
        for kind, n in self.orphans.items():
            if n and self.repaired.get(kind, 0) < n:
                out.append(f"{n - self.repaired.get(kind, 0)} {kind}")
        if self.vectors.get("wrong_length"):
            out.append(f"{self.vectors['wrong_length']} vectors whose length does not match their space's dim")
        if self.vectors.get("not_unit"):
            out.append(f"{self.vectors['not_unit']} vectors that are not unit-norm")
        for ix in self.indices:
            if ix.get("rebuilt") or not ix["built"]:
                continue
            if not ix["fresh"]:
                out.append(f"index of space {ix['space_id']} ({ix['space']}) is stale (revision "
                           f"{ix.get('index_revision')} vs catalog {ix['catalog_revision']})")
            elif ix.get("unreadable"):
                out.append(f"index of space {ix['space_id']} ({ix['space']}) cannot be loaded: {ix['unreadable']}")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok, "problems": self.problems}


def check(catalog: Catalog, repair: bool = False) -> CheckReport:
    from facevault.store import index as index_mod

    report = CheckReport(store=str(catalog.settings.store), integrity=store_check.integrity(catalog),
                         orphans=store_check.orphans(catalog), vectors=store_check.vector_problems(catalog),
                         repair=repair)
    if repair and not report.database_ok:
        raise FacevaultError(f"the database file of {catalog.settings.store} is damaged "
                             f"({report.integrity[0]}); restore it from a backup (repair only fixes rows and indices)")
    if repair and any(report.orphans.values()):
        report.repaired.update(store_check.delete_orphans(catalog))
    for record in catalog.spaces():
        d = index_mod.describe(catalog, record)
        ix = {"space_id": record.id, "space": record.label, "built": d["built"], "fresh": d["fresh"],
              "kind": d.get("kind"), "index_revision": d.get("revision"), "catalog_revision": record.revision,
              "unreadable": index_mod.unreadable(catalog, record) if d["built"] and d["fresh"] else None}
        if repair and d["built"] and (not d["fresh"] or ix["unreadable"]):
            with catalog.writing():
                meta = index_mod.read_meta(catalog, record.id) or {}
                index_mod.build(catalog, record, meta.get("requested"))
            ix["rebuilt"] = True
            report.repaired["indices rebuilt"] = report.repaired.get("indices rebuilt", 0) + 1
        report.indices.append(ix)
    return report
