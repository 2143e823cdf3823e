"""Identity x identity mean cosine similarity of one space, ordered by name or clustered.

The numbers come from per-identity sums of unit vectors (`facevault.evaluation.similarity.mean_similarity`);
the cluster order is an average-linkage clustering with optimal leaf ordering
(`facevault.evaluation.similarity.cluster_order`), which puts lookalikes next to each other.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facevault.core.errors import ProtocolError, UnknownName
from facevault.core.types import StoredVectors
from facevault.evaluation.similarity import cluster_order, mean_similarity

DEFAULT_TOP = 40
ORDERS = ("cluster", "name")

__all__ = ["DEFAULT_TOP", "ORDERS", "SimilarityMatrix", "compute", "reorder", "write_csv", "write_heatmap"]


@dataclass
class SimilarityMatrix:
    names: list[str]
    counts: np.ndarray  # faces per identity
    matrix: np.ndarray  # float64, NaN on the diagonal for identities with one face
    note: str = ""
    order: str = "name"
    space: str = ""  # the space's label

    def top_pairs(self, n: int = 10) -> list[tuple[str, str, float]]:
        iu = np.triu_indices(len(self.names), k=1)
        vals = self.matrix[iu]
        order = np.argsort(-vals)[:n]
        return [(self.names[iu[0][o]], self.names[iu[1][o]], float(vals[o])) for o in order]

    def to_dict(self) -> dict:
        return {
            "space": self.space,
            "identities": self.names,
            "faces": self.counts.tolist(),
            "matrix": [[None if np.isnan(v) else round(float(v), 6) for v in row] for row in self.matrix],
            "most_similar": [{"a": a, "b": b, "similarity": round(s, 6)} for a, b, s in self.top_pairs()],
            "order": self.order,
            "note": self.note,
        }

    def write_csv(self, path: Path) -> None:
        write_csv(self, path)

    def write_heatmap(self, path: Path, title: str | None = None) -> list[Path]:
        """PNG or SVG heatmap (by the suffix of `path`); returns the paths written."""
        return write_heatmap(self, path, title or f"mean cosine similarity - {self.space}")


def compute(stored: StoredVectors, identities: list[str] | None = None, top: int | None = DEFAULT_TOP,
            order: str = "cluster", space: str = "") -> SimilarityMatrix:
    """Mean similarity of the chosen identities (default: the `top` with the most faces); `order` "name"
    (sorted, or as given in `identities`) or "cluster". `space` is the label the result carries."""
    if order not in ORDERS:
        raise UnknownName("order", order, ORDERS)
    groups = stored.groups()
    if not groups:
        raise ProtocolError("no labelled faces in this space (the dataset needs DATASET/<identity>/<image>)")
    note = ""
    if identities:
        unknown = [n for n in identities if n not in groups]
        if unknown:
            raise UnknownName("identity", unknown[0], list(groups))
        names = list(dict.fromkeys(identities))
    else:
        names = sorted(groups, key=lambda n: (-len(groups[n]), n))
        if top and len(names) > top:
            note = f"showing the {top} identities with the most faces of {len(names)} (use --identities or --top)"
            names = names[:top]
        names = sorted(names)
    counts = np.array([len(groups[n]) for n in names])
    sums = np.stack([stored.matrix[groups[n]].sum(axis=0, dtype=np.float64) for n in names])
    sim = SimilarityMatrix(names, counts, mean_similarity(sums, counts), note, "name", space)
    return reorder(sim, order)


def reorder(sim: SimilarityMatrix, order: str) -> SimilarityMatrix:
    """The same matrix with rows and columns in `order` ("name" keeps the current order)."""
    if order == "name" or len(sim.names) < 3:
        return SimilarityMatrix(sim.names, sim.counts, sim.matrix, sim.note, order, sim.space)
    perm = cluster_order(sim.matrix)
    return SimilarityMatrix([sim.names[i] for i in perm], sim.counts[perm], sim.matrix[np.ix_(perm, perm)], sim.note,
                            order, sim.space)


def write_csv(sim: SimilarityMatrix, path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["identity"] + sim.names)
        for name, row in zip(sim.names, sim.matrix):
            w.writerow([name] + ["" if np.isnan(v) else f"{v:.6f}" for v in row])


def write_heatmap(sim: SimilarityMatrix, path: Path, title: str) -> list[Path]:
    """PNG or SVG heatmap (by the suffix of `path`); returns the paths written."""
    from facevault.services.plots import heatmap_plot

    how = "clustered by average linkage" if sim.order == "cluster" else "ordered by name"
    return heatmap_plot(sim.names, sim.counts, sim.matrix, path, title=f"{title} ({how})", note=sim.note)
