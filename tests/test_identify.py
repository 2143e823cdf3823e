"""Closed- and open-set identification: hand-made vectors with known answers, then real faces with dlib."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import ingest_store, run_cli

from facevault.core import settings as config
from facevault.core.errors import ProtocolError
from facevault.core.types import StoredVectors
from facevault.evaluation.identification import identify
from facevault.services import spaces
from facevault.store import Catalog


def _stored(vectors, identities, norms=None) -> StoredVectors:
    v = np.asarray(vectors, np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    n = len(v)
    return StoredVectors(1, np.arange(n), [f"{ident}/{i}.jpg" for i, ident in enumerate(identities)],
                         list(identities), v, np.ones(n) if norms is None else np.asarray(norms, float))


def _angle(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def test_hand_made_closed_set():
    # A: two faces at 0 deg, B: two at 100 deg, C: faces at +30 and -30 deg. Whichever C face is in the
    # gallery, the other C face is 60 deg from it but 30 deg from A: rank 2 (B is 70 or 130 deg away).
    s = _stored([_angle(0), _angle(0), _angle(100), _angle(100), _angle(30), _angle(-30)],
                ["A", "A", "B", "B", "C", "C"])
    for seed in range(4):
        rep = identify(s, gallery_per_identity=1, seed=seed, unknown_fraction=0.0, ranks=5, bootstrap=0)
        assert (rep.probes, rep.gallery, rep.identities) == (3, 3, 3)
        assert rep.rank1 == pytest.approx(2 / 3) and rep.rank5 == 1.0
        np.testing.assert_allclose(rep.cmc, [2 / 3, 1, 1, 1, 1])
        assert sorted(rep.probe_ranks.tolist()) == [1, 1, 2]
        assert rep.rank1_ci is None and rep.open_set[0].dir is None and rep.unknown_identities == 0


def test_hand_made_max_over_gallery_faces():
    # with two gallery faces each, C's probe is compared with the better of C's two gallery faces
    s = _stored([_angle(0)] * 3 + [_angle(100)] * 3 + [_angle(40), _angle(-40), _angle(-45)],
                ["A"] * 3 + ["B"] * 3 + ["C"] * 3)
    reps = [identify(s, gallery_per_identity=2, seed=seed, unknown_fraction=0.0, bootstrap=0) for seed in range(6)]
    # probe at 40 with gallery {-40, -45}: A (40 deg) beats C (80 deg) -> rank 2; probe at -40 or -45 has the
    # other negative face 5 deg away -> rank 1
    assert {round(r.rank1, 4) for r in reps} <= {1.0, round(2 / 3, 4)}
    assert any(r.rank1 == 1.0 for r in reps) and any(r.rank1 < 1.0 for r in reps)


def test_ties_count_against_the_probe():
    s = _stored([[1.0, 0.0]] * 8, ["A", "A", "B", "B", "C", "C", "D", "D"])
    rep = identify(s, unknown_fraction=0.0, ranks=6, bootstrap=0)
    assert rep.rank1 == 0.0 and (rep.probe_ranks == 4).all()
    np.testing.assert_allclose(rep.cmc, [0, 0, 0, 1, 1, 1])


def test_hand_made_open_set():
    # 20 identities on orthogonal axes, two identical faces each; half held out: every known probe is found
    # with similarity 1, every unknown probe's best gallery similarity is 0
    eye = np.eye(20)
    s = _stored(np.repeat(eye, 2, axis=0), [f"id{i:02d}" for i in range(20) for _ in range(2)])
    rep = identify(s, unknown_fraction=0.5, seed=1, bootstrap=0)
    assert (rep.unknown_identities, rep.known_probes, rep.unknown_probes) == (10, 10, 20)
    assert rep.dir_at_fpir[0.1] == 1.0 and rep.dir_at_fpir[0.01] is None  # 20 unknown probes < 100
    p = rep.open_set[1]
    assert p.fpir_achieved == 0.0 and 0.0 < p.threshold < 1e-6 and p.sufficient
    doc = rep.to_dict()
    json.dumps(doc, allow_nan=False)
    assert doc["dir_at_fpir"] == {"0.01": None, "0.1": 1.0}


def test_euclidean_needs_norms():
    s = _stored([_angle(0), _angle(5), _angle(90), _angle(95)], ["A", "A", "B", "B"], norms=[1, np.nan, 1, 1])
    with pytest.raises(ProtocolError, match="raw"):
        identify(s, metric="euclidean", unknown_fraction=0.0)
    assert identify(s, metric="euclidean_l2", unknown_fraction=0.0, bootstrap=0).rank1 == 1.0


def test_bad_arguments():
    s = _stored([_angle(0), _angle(5), _angle(90), _angle(95)], ["A", "A", "B", "B"])
    with pytest.raises(ProtocolError, match="3 or more faces"):
        identify(s, gallery_per_identity=2)
    with pytest.raises(ProtocolError):
        identify(s, unknown_fraction=1.0)
    with pytest.raises(ProtocolError):
        identify(s, gallery_per_identity=0)


# ---------- real faces, real model ----------

@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    store = ingest_store(tmp_path_factory.mktemp("identify"))
    with Catalog(config.resolve(str(store), None)) as cat:
        space = spaces.choose(cat.spaces(), "dlib")
        return store, cat.vectors(space.id)


def test_fixture_faces_closed_set(stored):
    _, vectors = stored
    rep = identify(vectors, gallery_per_identity=1, seed=0, ranks=20)
    assert (rep.identities, rep.gallery, rep.probes) == (8, 8, 40)
    assert rep.rank1 >= 0.9 and rep.rank1_ci[0] <= rep.rank1 <= rep.rank1_ci[1]
    assert np.all(np.diff(rep.cmc) >= 0) and len(rep.cmc) == 20
    assert rep.cmc[7] == 1.0 and rep.cmc[-1] == 1.0  # 8 identities: every probe is within rank 8
    two = identify(vectors, gallery_per_identity=2, seed=0)
    assert (two.gallery, two.probes) == (16, 32) and two.rank1 >= rep.rank1 - 0.05
    again = identify(vectors, gallery_per_identity=1, seed=0, ranks=20)
    assert again.to_dict() == rep.to_dict()


def test_fixture_faces_open_set(stored):
    _, vectors = stored
    rep = identify(vectors, unknown_fraction=0.25, seed=2)
    assert rep.unknown_identities == 2 and rep.unknown_probes == 12 and rep.known_probes == 30
    point = rep.open_set[1]  # FPIR 0.1: 12 unknown probes allow one false accept
    assert point.sufficient and 0.0 <= point.dir <= 1.0 and 0.0 <= point.fpir_achieved <= 0.1
    assert rep.dir_at_fpir[0.1] == point.dir and rep.dir_at_fpir[0.01] is None
    assert point.dir >= 0.5  # dlib separates these eight people well


def test_identify_cli(stored):
    path, _ = stored
    doc = run_cli("evaluate", "--store", str(path), "--protocol", "identify", "--unknown-fraction", "0.25",
                  "--ranks", "10", "--json")
    assert doc["protocol"] == "identify" and doc["model"] == "dlib"
    assert len(doc["cmc"]) == 10 and doc["rank1"] >= 0.9 and doc["rank1_ci"][0] <= doc["rank1"]
    assert set(doc["dir_at_fpir"]) == {"0.01", "0.1"} and "max cosine" in doc["note"]
    text = run_cli("evaluate", "--store", str(path), "--protocol", "identify").output
    assert "rank-1" in text and "DIR @ FPIR" in text
