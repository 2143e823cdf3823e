"""`facevault.services.evaluate.run`, the one leaderboard: protocol choice, skipped spaces, JSON shapes and order,
on a fake catalog of hand-made vectors (no ingest)."""

from __future__ import annotations

import numpy as np
import pytest

from facevault.core.errors import ProtocolError
from facevault.core.types import Space, SpaceRecord, StoredVectors
from facevault.evaluation.similarity import cluster_order, mean_similarity
from facevault.services.evaluate import Evaluation, EvaluationRun, Identification, run

IDENTITIES = [f"id{k}" for k in range(6)]


def _vectors(space_id: int, noise: float, seed: int, dim: int = 16) -> StoredVectors:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(IDENTITIES), dim))
    rows, idents = [], []
    for k, name in enumerate(IDENTITIES):
        for _ in range(5):
            rows.append(centres[k] + noise * rng.normal(size=dim))
            idents.append(name)
    m = np.asarray(rows, np.float32)
    norms = np.linalg.norm(m, axis=1)
    paths = [f"{name}/{name}_{i:04d}.jpg" for i, name in enumerate(idents)]
    return StoredVectors(space_id, np.arange(len(m)), paths, idents, m / norms[:, None], norms)


class FakeCatalog:
    def __init__(self, spaces: dict[int, StoredVectors]):
        self._vectors = spaces
        self.records = [SpaceRecord(i, Space(f"model{i}", "det", "align", 16)) for i in spaces]
        self.thresholds: dict[int, tuple[float, str]] = {}
        self.loads: list[int] = []

    def spaces(self) -> list[SpaceRecord]:
        return self.records

    def vectors(self, space_id: int) -> StoredVectors:
        self.loads.append(space_id)
        return self._vectors[space_id]

    def image_paths(self) -> dict[str, str | None]:
        v = next(iter(self._vectors.values()))
        return dict(zip(v.paths, v.identities))

    def set_threshold(self, space_id: int, threshold: float, source: str) -> None:
        self.thresholds[space_id] = (threshold, source)


@pytest.fixture
def catalog() -> FakeCatalog:
    # space 1 is noisier than space 2, so space 2 leads
    return FakeCatalog({1: _vectors(1, 0.9, 0), 2: _vectors(2, 0.3, 0)})


def test_leaderboard_once_per_space_best_first(catalog):
    r = run(catalog, catalog.records, None, sample=100, bootstrap=50)
    assert isinstance(r, EvaluationRun) and r.protocol == "sample" and not r.skipped and r.seconds > 0
    assert sorted(catalog.loads) == [1, 2]  # each space's vectors loaded once
    assert [ev.space_id for ev in r.results] == [2, 1] and all(isinstance(ev, Evaluation) for ev in r.results)
    rows = r.to_dict()
    assert rows == r.rows() and [row["model"] for row in rows] == ["model2", "model1"]
    assert rows[0]["accuracy"] >= rows[1]["accuracy"] and rows[0]["protocol"] == "sample:100:seed0"
    assert r.results[0].space == "model2 / det / align"
    assert set(catalog.thresholds) == {1, 2}  # calibrated
    assert catalog.thresholds[2][1] == "sample:100:seed0, best accuracy, 10-fold, cosine"


def test_one_space_prints_its_whole_document(catalog):
    r = run(catalog, catalog.records[:1], None, sample=50, bootstrap=0, calibrate=False)
    d = r.to_dict()
    assert isinstance(d, dict) and d["space"] == "model1 / det / align" and "tar_at_far" in d
    assert not catalog.thresholds


def test_identify_and_all(catalog):
    r = run(catalog, catalog.records, "identify", bootstrap=0)
    assert r.protocol == "identify" and r.identification
    assert all(isinstance(x, Identification) for x in r.results)
    assert r.rows()[0]["rank1"] >= r.rows()[1]["rank1"] and "cmc" not in r.rows()[0]
    one = run(catalog, catalog.records[1:], "identify", bootstrap=0).to_dict()
    assert one["protocol"] == "identify" and "cmc" in one and one["model"] == "model2"
    a = run(catalog, catalog.records, "all", bootstrap=0, calibrate=False)
    assert [row["pairs"] for row in a.rows()] == [435, 435] and a.results[0].histogram is not None


def test_failures_are_skipped_with_several_spaces_and_raised_with_one(catalog):
    catalog._vectors[1].norms[:] = np.nan  # euclidean needs raw norms: space 1 cannot be evaluated
    r = run(catalog, catalog.records, None, sample=50, metric="euclidean", bootstrap=0)
    assert [ev.space_id for ev in r.results] == [2]
    assert r.skipped == [("model1 / det / align", r.skipped[0][1])] and "raw norms" in r.skipped[0][1]
    with pytest.raises(ProtocolError, match="raw norms"):
        run(catalog, catalog.records[:1], None, sample=50, metric="euclidean", bootstrap=0)
    catalog._vectors[2].norms[:] = np.nan
    with pytest.raises(ProtocolError, match="no space could be evaluated"):
        run(catalog, catalog.records, None, sample=50, metric="euclidean", bootstrap=0)


@pytest.mark.parametrize("protocol, pairs_file, sample", [(None, None, None), (None, "p.txt", 10), ("all", None, 10),
                                                          ("pairs", None, None)])
def test_protocol_choice_errors(catalog, protocol, pairs_file, sample):
    with pytest.raises(ProtocolError):
        run(catalog, catalog.records, protocol, pairs_file=pairs_file, sample=sample)
    assert not catalog.loads


def test_mean_similarity_by_hand():
    v = np.array([[1, 0], [0, 1], [1, 0]], float)  # identity a: [1,0] and [0,1]; identity b: [1,0]
    m = mean_similarity([v[0] + v[1], v[2]], [2, 1])
    assert m[0, 1] == pytest.approx(0.5) and m[0, 0] == pytest.approx(0.0) and np.isnan(m[1, 1])


def test_cluster_order_is_scipy_average_linkage_with_optimal_leaves():
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    rng = np.random.default_rng(5)
    x = rng.normal(size=(9, 4))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    s = x @ x.T
    d = 1 - s
    np.fill_diagonal(d, 0)
    y = squareform(np.maximum((d + d.T) / 2, 0), checks=False)
    expect = leaves_list(optimal_leaf_ordering(linkage(y, "average"), y))
    s_nan_diag = s.copy()
    np.fill_diagonal(s_nan_diag, np.nan)  # the diagonal does not matter
    assert list(cluster_order(s)) == list(expect) == list(cluster_order(s_nan_diag))
    assert list(cluster_order(np.ones((2, 2)))) == [0, 1]
    with pytest.raises(ValueError):
        cluster_order(np.ones((2, 3)))
