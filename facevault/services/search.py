"""Search: who is in a query image, and which identities look like a given one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facevault.core.errors import FacevaultError, UnknownName
from facevault.core.types import SpaceRecord, StoredVectors
from facevault.faces import imageio
from facevault.faces.pipeline import Pipeline
from facevault.store.index import SpaceIndex

MIN_DEPTH = 50  # faces asked of the index at first; more when they hold fewer than k identities


@dataclass
class Verdict:
    threshold: float | None
    source: str | None

    def decide(self, score: float) -> str | None:
        if self.threshold is None:
            return None
        return "same" if score >= self.threshold else "different"

    @classmethod
    def of(cls, record: SpaceRecord, threshold: float | None = None) -> "Verdict":
        """The space's calibrated threshold, or the one given (which wins)."""
        if threshold is not None:
            return cls(float(threshold), "given with --threshold")
        return cls(record.threshold, record.threshold_source)


def _group(idx: SpaceIndex, scores: np.ndarray, positions: np.ndarray, k: int, verdict: Verdict) -> list[dict]:
    best: dict[str, dict] = {}
    for s, p in zip(scores, positions):
        if p < 0:
            continue
        ident = idx.identities[p] or "(unlabelled)"
        hit = best.get(ident)
        if hit is None:
            best[ident] = {"identity": ident, "score": round(float(s), 6), "image": idx.paths[p], "faces": 1,
                           "verdict": verdict.decide(float(s))}
        else:
            hit["faces"] += 1
    return sorted(best.values(), key=lambda m: -m["score"])[:k]


def _nearest_identities(idx: SpaceIndex, vec: np.ndarray, k: int, depth: int, verdict: Verdict) -> list[dict]:
    """The k best identities: the index is asked for more faces until k identities appear (an identity with
    hundreds of images can fill the first hundreds of neighbours) or every face was seen."""
    while True:
        scores, pos = idx.search(vec[None, :], depth)
        matches = _group(idx, scores[0], pos[0], k, verdict)
        if len(matches) >= k or depth >= len(idx):
            return matches
        depth = min(len(idx), depth * 4)


def dataset_index(stored: StoredVectors, record: SpaceRecord) -> SpaceIndex:
    """An exact in-memory index over some datasets' vectors of a space (`search --dataset`); the store's own
    index covers every dataset."""
    import faiss

    from facevault.store.index import Identities, Strings

    flat = faiss.IndexFlatIP(stored.matrix.shape[1])
    if len(stored):
        flat.add(np.ascontiguousarray(stored.matrix, dtype=np.float32))
    return SpaceIndex(flat, stored.vector_ids, Strings.pack(list(stored.paths)), Identities.pack(list(stored.identities)),
                      record.revision, rebuilt=True, gpu=False, kind="flat", reason="--dataset: exact search",
                      how="built")


def _failed(query: str, error: str) -> dict:
    return {"query": query, "face": None, "error": error, "matches": []}


def expand_queries(queries: list[Path], cwd: Path | None = None) -> list[tuple[str, Path | None, str | None]]:
    """(name shown, path to read, error) of every query, in order: a folder stands for the images under it,
    walked as a dataset folder is (regular files with an image suffix, symlinks followed once, hidden entries
    ignored); what the walk skips, and a folder without images, come with their error and no path. A relative
    query is read from `cwd` when one is given (a server answering another process) and shown as written."""
    from facevault.faces.dataset import no_images_message, walk_all

    out: list[tuple[str, Path | None, str | None]] = []
    for q in queries:
        where = cwd / q if cwd is not None and not q.is_absolute() else q
        if not where.is_dir():
            out.append((str(q), where, None))
            continue
        try:
            found = walk_all(where)
        except (FacevaultError, OSError) as exc:
            out.append((str(q), None, f"unreadable: {exc}"))
            continue
        if not found.files:
            out.append((str(q), None, "empty-dataset: " + no_images_message(q).split(";")[0]))
        got = [(f"{q}/{f.rel}", Path(f.abspath), None) for f in found.files]
        got += [(f"{q}/{x.rel}", None, f"{x.kind}: {x.message}") for x in found.skipped]
        out.extend(sorted(got, key=lambda item: item[0]))
    return out


def _search_one(idx: SpaceIndex, pipeline: Pipeline, shown: str, read, k: int, depth: int,
                verdict: Verdict) -> list[dict]:
    """The results of one query image: one per face, or one with the error that stopped it (`read()` gives
    its decoded pixels)."""
    try:
        dets, vecs = pipeline.query(read().rgb)
    except FacevaultError as exc:
        return [_failed(shown, f"{exc.kind}: {exc}")]
    except OSError as exc:
        return [_failed(shown, f"unreadable: {exc.strerror or exc}")]
    return [{"query": shown, "face": {"index": fi, "box": d.box, "score": round(d.score, 4)},
             "matches": _nearest_identities(idx, v, k, depth, verdict)} for fi, (d, v) in enumerate(zip(dets, vecs))]


def _searchable(idx: SpaceIndex, k: int) -> int:
    """How many faces the index is asked for at first; an error when it holds none."""
    if not len(idx):
        raise FacevaultError("this space holds no vectors to search")
    return min(len(idx), max(k, MIN_DEPTH))


def search_images(idx: SpaceIndex, record: SpaceRecord, pipeline: Pipeline, queries: list[Path], k: int,
                  threshold: float | None = None, cwd: Path | None = None) -> list[dict]:
    """Every face of every query image (a folder: every image under it), matched to the k best identities of
    the index."""
    depth = _searchable(idx, k)
    verdict = Verdict.of(record, threshold)
    out: list[dict] = []
    for shown, q, error in expand_queries(queries, cwd):
        if q is None:
            out.append(_failed(shown, error or "unreadable"))
            continue
        out.extend(_search_one(idx, pipeline, shown, lambda q=q: imageio.load(q), k, depth, verdict))
    return out


def search_bytes(idx: SpaceIndex, record: SpaceRecord, pipeline: Pipeline, data: bytes, name: str, k: int,
                 threshold: float | None = None) -> list[dict]:
    """`search_images` for one image given as its encoded bytes (an upload), shown as `name`."""
    depth = _searchable(idx, k)
    return _search_one(idx, pipeline, name, lambda: imageio.decode(data), k, depth, Verdict.of(record, threshold))


def centroids(stored: StoredVectors) -> tuple[list[str], np.ndarray, np.ndarray]:
    groups = stored.groups()
    names = sorted(groups)
    cents = np.stack([stored.matrix[groups[n]].mean(axis=0) for n in names]) if names else np.zeros((0, stored.matrix.shape[1]))
    cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
    return names, cents.astype(np.float32), np.array([len(groups[n]) for n in names])


def lookalikes(stored: StoredVectors, record: SpaceRecord, name: str, k: int) -> dict:
    """Other identities ranked by the cosine similarity of their centroids to `name`'s."""
    names, cents, counts = centroids(stored)
    if name not in names:
        raise UnknownName("identity", name, names)
    i = names.index(name)
    sims = cents @ cents[i]
    sims[i] = -np.inf
    order = np.argsort(-sims)[:k]
    verdict = Verdict.of(record)
    return {"identity": name, "faces": int(counts[i]),
            "matches": [{"identity": names[j], "score": round(float(sims[j]), 6), "faces": int(counts[j]),
                         "verdict": verdict.decide(float(sims[j]))} for j in order]}
