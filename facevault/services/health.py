"""Dataset health: the problems in a face dataset that silently bend every number computed from it.

- likely mislabels: faces nearer another identity's centroid than their own (their own left out of it);
- duplicates across identities: near-identical vectors (cosine >= 0.98 by default) or identical files;
- identities with too few usable faces to form a same-person pair;
- images with no face, several faces, or errors, as the space's ingest recorded them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from facevault.core.optional import require
from facevault.core.types import SpaceRecord, StoredVectors
from facevault.store import Catalog

log = logging.getLogger(__name__)

DUPLICATE_THRESHOLD = 0.98
MIN_FACES = 2
LIMIT = 100


@dataclass
class HealthReport:
    """Each list holds at most `limit` rows, worst first; `totals` counts them all."""

    space: str  # the space's label
    faces: int
    identities: int
    duplicate_threshold: float
    min_faces: int
    mislabels: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    few_faces: list[dict] = field(default_factory=list)
    no_face: list[dict] = field(default_factory=list)
    multi_face: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def likely_mislabels(stored: StoredVectors) -> list[dict]:
    """Faces whose nearest identity centroid is not their own label, largest margin first.

    A face's own centroid leaves the face out (otherwise it always pulls its centroid towards itself);
    faces of identities with a single face cannot be judged and are skipped.
    """
    groups = stored.groups()
    if len(groups) < 2:
        return []
    names = sorted(groups)
    col = {n: k for k, n in enumerate(names)}
    v = stored.matrix.astype(np.float64)
    sums = np.stack([v[groups[n]].sum(axis=0) for n in names])
    counts = np.array([len(groups[n]) for n in names])
    cents = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    rows = [i for n in names if counts[col[n]] >= 2 for i in groups[n]]
    if not rows:
        return []
    idx = np.array(rows)
    own = np.array([col[stored.identities[i]] for i in rows])
    sims = v[idx] @ cents.T
    dot_own = np.einsum("ij,ij->i", v[idx], sums[own])
    loo_norm = np.sqrt(np.maximum(np.einsum("ij,ij->i", sums[own], sums[own]) - 2 * dot_own + 1.0, 1e-12))
    own_sim = (dot_own - 1.0) / loo_norm  # the face (unit length) taken out of its identity's sum
    sims[np.arange(len(rows)), own] = -np.inf
    best = np.argmax(sims, axis=1)
    best_sim = sims[np.arange(len(rows)), best]
    out = []
    for r in np.flatnonzero(best_sim > own_sim):
        i = rows[r]
        out.append({"path": stored.paths[i], "identity": stored.identities[i], "nearest": names[best[r]],
                    "own_similarity": round(float(own_sim[r]), 6), "nearest_similarity": round(float(best_sim[r]), 6),
                    "margin": round(float(best_sim[r] - own_sim[r]), 6)})
    return sorted(out, key=lambda m: -m["margin"])


def near_duplicates(stored: StoredVectors, threshold: float = DUPLICATE_THRESHOLD) -> list[dict]:
    """Pairs of faces of different identities with cosine >= threshold (FAISS range search), highest first."""
    labelled = np.array([i for i, ident in enumerate(stored.identities) if ident is not None])
    if len(labelled) < 2:
        return []
    faiss = require("faiss", "to find near-duplicates")

    x = np.ascontiguousarray(stored.matrix[labelled], dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    lims, dist, found = index.range_search(x, float(threshold) - 1e-6)  # IP range search keeps scores > radius
    out = []
    for q in range(len(x)):
        for s, j in zip(dist[lims[q]:lims[q + 1]], found[lims[q]:lims[q + 1]]):
            a, b = int(labelled[q]), int(labelled[j])
            if a < b and stored.identities[a] != stored.identities[b]:
                out.append({"a": stored.paths[a], "b": stored.paths[b], "identity_a": stored.identities[a],
                            "identity_b": stored.identities[b], "similarity": round(min(float(s), 1.0), 6),
                            "identical_file": False})
    return out


def check(catalog: Catalog, record: SpaceRecord, duplicate_threshold: float = DUPLICATE_THRESHOLD,
          min_faces: int = MIN_FACES, limit: int = LIMIT, stored: StoredVectors | None = None,
          datasets: Sequence[str] | None = None) -> HealthReport:
    """Every health check on one space of the store, over `datasets` (default: all; `stored`: its vectors of
    those datasets, when the caller has them)."""
    if stored is None:
        stored = catalog.vectors(record.id, datasets)
    usable = Counter(i for i in stored.identities if i is not None)
    images = catalog.identity_image_counts(datasets)
    rep = HealthReport(record.label, len(stored), len(images), duplicate_threshold, min_faces)

    mis = likely_mislabels(stored)
    dups = near_duplicates(stored, duplicate_threshold)
    seen = {(d["a"], d["b"]): d for d in dups}
    for pa, na, pb, nb in catalog.identical_files(datasets):
        key = (pa, pb) if pa < pb else (pb, pa)
        if key in seen:
            seen[key]["identical_file"] = True
        else:
            d = {"a": key[0], "b": key[1], "identity_a": na if key[0] == pa else nb,
                 "identity_b": nb if key[0] == pa else na, "similarity": None, "identical_file": True}
            dups.append(d)
            seen[key] = d
    dups.sort(key=lambda d: (not d["identical_file"], -(d["similarity"] or 1.0), d["a"]))
    few = sorted(({"identity": n, "usable_faces": usable.get(n, 0), "images": c} for n, c in images.items()
                  if usable.get(n, 0) < min_faces), key=lambda r: (r["usable_faces"], r["identity"]))

    no_face, multi, errors = [], [], []
    for path, ident, status, faces, error in catalog.scan_rows(record.id, datasets):
        if status == "no-face":
            no_face.append({"path": path, "identity": ident})
        elif status == "error":
            errors.append({"path": path, "identity": ident, "error": error})
        if faces and faces > 1:
            multi.append({"path": path, "identity": ident, "faces": int(faces)})
    multi.sort(key=lambda r: (-r["faces"], r["path"]))

    sections = {"mislabels": mis, "duplicates": dups, "few_faces": few, "no_face": no_face, "multi_face": multi,
                "errors": errors}
    for name, rows in sections.items():
        rep.totals[name] = len(rows)
        setattr(rep, name, rows[:limit])
    return rep
