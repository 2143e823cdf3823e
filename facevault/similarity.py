"""Identity x identity mean cosine similarity, from per-identity sums of unit vectors.

With S_i the sum of identity i's unit vectors and n_i their count, the mean over all cross pairs is
S_i.S_j / (n_i n_j), and over distinct same-identity pairs (|S_i|^2 - n_i) / (n_i (n_i - 1)):
one matrix product, no loop over image pairs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .catalog import StoredVectors
from .errors import ProtocolError, UnknownName

DEFAULT_TOP = 40


@dataclass
class SimilarityMatrix:
    names: list[str]
    counts: np.ndarray  # faces per identity
    matrix: np.ndarray  # float64, NaN on the diagonal for identities with one face
    note: str = ""

    def top_pairs(self, n: int = 10) -> list[tuple[str, str, float]]:
        m = self.matrix.copy()
        iu = np.triu_indices(len(self.names), k=1)
        vals = m[iu]
        order = np.argsort(-vals)[:n]
        return [(self.names[iu[0][o]], self.names[iu[1][o]], float(vals[o])) for o in order]

    def to_dict(self) -> dict:
        return {
            "identities": self.names,
            "faces": self.counts.tolist(),
            "matrix": [[None if np.isnan(v) else round(float(v), 6) for v in row] for row in self.matrix],
            "most_similar": [{"a": a, "b": b, "similarity": round(s, 6)} for a, b, s in self.top_pairs()],
            "note": self.note,
        }


def compute(stored: StoredVectors, identities: list[str] | None = None, top: int | None = DEFAULT_TOP) -> SimilarityMatrix:
    groups: dict[str, list[int]] = {}
    for i, ident in enumerate(stored.identities):
        if ident is not None:
            groups.setdefault(ident, []).append(i)
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
    counts = np.array([len(groups[n]) for n in names], float)
    sums = np.stack([stored.matrix[groups[n]].sum(axis=0, dtype=np.float64) for n in names])
    dots = sums @ sums.T
    matrix = dots / np.outer(counts, counts)
    diag = np.full(len(names), np.nan)
    multi = counts > 1
    diag[multi] = (np.diag(dots)[multi] - counts[multi]) / (counts[multi] * (counts[multi] - 1))
    np.fill_diagonal(matrix, diag)
    return SimilarityMatrix(names, counts.astype(int), matrix, note)


def write_csv(sim: SimilarityMatrix, path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["identity"] + sim.names)
        for name, row in zip(sim.names, sim.matrix):
            w.writerow([name] + ["" if np.isnan(v) else f"{v:.6f}" for v in row])


def write_heatmap(sim: SimilarityMatrix, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(sim.names)
    size = max(6.0, min(0.32 * n + 3.0, 40.0))
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(np.ma.masked_invalid(sim.matrix), cmap="viridis", vmin=min(0.0, np.nanmin(sim.matrix)), vmax=1.0)
    labels = [f"{name} ({c})" for name, c in zip(sim.names, sim.counts)]
    font = max(5, min(10, int(400 / max(n, 1))))
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    if n <= 15:
        for i in range(n):
            for j in range(n):
                v = sim.matrix[i, j]
                if not np.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="w" if v < 0.6 else "k")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="mean cosine similarity")
    ax.set_title(title + ("\n" + sim.note if sim.note else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
