"""Evaluation protocols on the fixture store: `all` (histograms) against exact metrics, seeded sampling."""

from __future__ import annotations

import math
import shutil
from itertools import combinations

import numpy as np
import pytest
from conftest import ingest_store, run_cli

from facevault import evaluation as metrics
from facevault.core import settings as config
from facevault.core.errors import ProtocolError
from facevault.evaluation.allpairs import all_pairs_histogram
from facevault.services import protocols, spaces
from facevault.services.evaluate import evaluate, evaluate_all
from facevault.store import Catalog


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The fixture faces ingested once with the real dlib model (48 images, 8 identities)."""
    return ingest_store(tmp_path_factory.mktemp("protocols"))


@pytest.fixture
def store_copy(store, tmp_path):
    """A writable copy, for tests that store thresholds."""
    dst = tmp_path / "store-copy"
    shutil.copytree(store, dst)
    return dst


def _open(store):
    return Catalog(config.resolve(str(store), None))


def _exact_all_pairs(stored):
    """Every pair i < j, scored the slow obvious way."""
    i, j = np.array(list(combinations(range(len(stored)), 2))).T
    cos = np.sum(stored.matrix[i].astype(np.float64) * stored.matrix[j], axis=1)
    same = np.array([stored.identities[a] == stored.identities[b] for a, b in zip(i, j)])
    return cos, same


@pytest.mark.parametrize("metric", ["cosine", "euclidean_l2", "euclidean"])
def test_all_protocol_matches_exact_metrics(store, metric):
    with _open(store) as cat:
        space = spaces.choose(cat.spaces(), "dlib")
        stored = cat.vectors(space.id)
        ev = evaluate_all(cat, space, calibrate=False, metric=metric, bootstrap=200)
    cos, same = _exact_all_pairs(stored)
    i, j = np.array(list(combinations(range(len(stored)), 2))).T
    s = metrics.metric_scores(cos, metric, stored.norms[i], stored.norms[j])
    r = ev.report
    assert (r.pairs, r.positives, r.negatives, r.missing) == (1128, 8 * 15, 1128 - 120, 0)
    assert r.auc == pytest.approx(metrics.auc(s, same), abs=1e-3)
    e, e_thr = metrics.eer(s, same)
    assert r.eer == pytest.approx(e, abs=1e-3)
    # with ~1000 pairs the exact curve interpolates across wide score gaps, the histogram across bin edges
    assert r.eer_threshold == pytest.approx(metrics.in_metric_units(e_thr, metric), abs=0.01)
    _, acc = metrics.best_threshold(s, same)
    assert r.accuracy == pytest.approx(acc, abs=1e-3)
    rule = (lambda t: s >= t) if metric == "cosine" else (lambda t: -s <= t)
    assert np.mean(rule(r.threshold) == same) == pytest.approx(r.accuracy, abs=1e-3)
    t2 = r.tar_at_far[1]  # FAR 1e-2: 1008 negatives allow 10 false accepts
    assert t2.sufficient and t2.tar == pytest.approx(metrics.tar_at_far(s, same, 0.01).tar, abs=0.01)
    assert np.mean(rule(t2.threshold)[~same]) <= 0.01
    assert not r.tar_at_far[3].sufficient  # 1e-4 needs 10,000 negatives
    assert not r.cross_validated and "threshold not cross-validated" in r.note and r.accuracy_std is None
    assert ev.histogram.positives == 120 and ev.scores is None
    assert r.auc > 0.99 and r.accuracy > 0.98  # real dlib on real faces


def test_all_pairs_blocks_do_not_change_counts(store):
    with _open(store) as cat:
        space = spaces.choose(cat.spaces(), "dlib")
        stored = cat.vectors(space.id)
    codes = np.unique(stored.identities, return_inverse=True)[1]
    big, mom = all_pairs_histogram(stored.matrix, codes, bins=1000, block=2048)
    small, mom_small = all_pairs_histogram(stored.matrix, codes, bins=1000, block=7)
    np.testing.assert_array_equal(big.pos, small.pos)
    np.testing.assert_array_equal(big.neg, small.neg)
    cos, same = _exact_all_pairs(stored)
    assert mom == pytest.approx((cos[same].mean(), cos[same].std()), abs=1e-6)
    assert mom_small == pytest.approx(mom, rel=1e-4)


def test_all_pairs_hand_made():
    # four unit vectors: a, a' (same person, 60 degrees apart), b (orthogonal to a), c = -a
    v = np.array([[1, 0], [0.5, math.sqrt(3) / 2], [0, 1], [-1, 0]], np.float32)
    h, (mean, std) = all_pairs_histogram(v, np.array([0, 0, 1, 2]), bins=4, block=3)
    # cosines: (a,a') .5 same; (a,b) 0, (a,c) -1, (a',b) .866, (a',c) -.5, (b,c) 0
    np.testing.assert_array_equal(h.pos, [0, 0, 0, 1])  # bins [-1,-.5) [-.5,0) [0,.5) [.5,1]
    np.testing.assert_array_equal(h.neg, [1, 1, 2, 1])
    assert (mean, std) == pytest.approx((0.5, 0.0))
    with pytest.raises(ValueError, match="unavailable"):
        all_pairs_histogram(v, np.array([0, 0, 1, 2]), metric="euclidean", norms=np.array([1, np.nan, 1, 1]))


def test_all_protocol_cli_and_target_far(store_copy):
    doc = run_cli("evaluate", "--store", str(store_copy), "--protocol", "all", "--target-far", "0.01", "--calibrate",
                  "--json")
    assert doc["protocol"] == "all:48 images" and doc["cross_validated"] is False
    op = doc["operating_point"]
    assert op["rule"] == "FAR <= 0.01" and op["far"] <= 0.01
    assert doc["threshold_stored"] and doc["threshold_source"].startswith("all:48 images, FAR<=0.01 (achieved ")
    assert doc["threshold_source"].endswith("), cosine")
    space = run_cli("status", "--store", str(store_copy), "--json")["spaces"][0]
    assert space["threshold"] == pytest.approx(op["threshold"])
    assert space["threshold_source"] == doc["threshold_source"]


def test_target_far_on_pairs_and_non_cosine_not_stored(store_copy):
    args = ("evaluate", "--store", str(store_copy), "--sample", "400", "--json")
    doc = run_cli(*args, "--target-far", "0.01")
    op = doc["operating_point"]
    assert op["far"] <= 0.01 and doc["threshold_source"].startswith("sample:400:seed0, FAR<=0.01")
    assert doc["threshold_source"].endswith("), cosine")
    best = run_cli("evaluate", "--store", str(store_copy), "--protocol", "all", "--calibrate", "--json")
    assert best["threshold_source"] == "all:48 images, best accuracy, all pairs, not cross-validated, cosine"
    assert best["operating_point"]["threshold"] == best["threshold"]
    doc = run_cli(*args, "--target-far", "0.01")  # back to the FAR point for the checks below
    l2 = run_cli(*args, "--metric", "euclidean_l2")
    assert l2["metric"] == "euclidean_l2" and not l2["threshold_stored"] and l2["threshold_source"] is None
    assert 0 < l2["threshold"] < 2  # a distance
    status = run_cli("status", "--store", str(store_copy), "--json")["spaces"][0]
    assert status["threshold"] == pytest.approx(op["threshold"])  # the cosine one stayed
    r = run_cli(*args, "--target-far", "0.0001", expect=1)
    assert "needs at least 10000" in r.output


def test_sample_protocol_is_seeded(store):
    with _open(store) as cat:
        known = cat.image_paths()
    a = protocols.sample_from_store(known, 100, seed=3)
    b = protocols.sample_from_store(known, 100, seed=3)
    c = protocols.sample_from_store(known, 100, seed=4)
    assert (a.a, a.b) == (b.a, b.b) and np.array_equal(a.folds, b.folds)
    assert (a.a, a.b) != (c.a, c.b)
    assert len(set(zip(a.a, a.b))) == len(a)  # no repeated pair
    for x, y, same in zip(a.a, a.b, a.labels):
        assert (known[x] == known[y]) == same and x != y
    assert a.labels.sum() == 100 and (~a.labels).sum() == 100
    args = ("evaluate", "--store", str(store), "--sample", "100", "--seed", "3", "--no-calibrate", "--json")
    first, second = run_cli(*args), run_cli(*args)
    for key in ("accuracy", "accuracy_ci", "auc", "threshold", "tar_at_far", "fold_accuracies"):
        assert first[key] == second[key], key


def test_evaluate_keeps_arrays_for_plots(store):
    with _open(store) as cat:
        space = spaces.choose(cat.spaces(), "dlib")
        pairs = protocols.sample_from_store(cat.image_paths(), 50, seed=0)
        ev = evaluate(cat, space, pairs, calibrate=False)
        assert spaces.choose(cat.spaces(), "dlib").threshold is None
    assert len(ev.scores) == len(ev.labels) == len(ev.missing) == len(ev.pair_a) == len(ev.pair_b) == len(ev.folds)
    assert ev.pair_a == pairs.a and not ev.missing.any()
    assert ev.report.auc == pytest.approx(metrics.auc(ev.scores, ev.labels))
    d = ev.to_dict()
    assert "scores" not in d and "labels" not in d and d["metric"] == "cosine"


def test_choose_protocol():
    assert protocols.choose_protocol(None, "p.txt", None) == "pairs"
    assert protocols.choose_protocol(None, None, 10) == "sample"
    assert protocols.choose_protocol("sample", None, 10) == "sample"
    assert protocols.choose_protocol("all", None, None) == "all"
    assert protocols.choose_protocol("sample", None, None) == "sample"
    for bad in ((None, None, None), (None, "p.txt", 10), ("all", "p.txt", None), ("pairs", None, None)):
        with pytest.raises(ProtocolError):
            protocols.choose_protocol(*bad)
    r = run_cli("evaluate", expect=2)
    assert "--pairs-file" in r.output and "--protocol" in r.output


def _stored(store) -> tuple[float | None, str | None]:
    space = run_cli("status", "--store", str(store), "--json")["spaces"][0]
    return space["threshold"], space["threshold_source"]


def test_only_a_cross_validated_protocol_or_calibrate_replaces_the_threshold(store_copy):
    """`--protocol all` (not cross-validated) leaves the threshold search/verify use, and says why; a sample
    (cross-validated) stores one; --calibrate stores even from `all`; --no-calibrate never stores."""
    base = ("evaluate", "--store", str(store_copy))
    assert _stored(store_copy) == (None, None)
    doc = run_cli(*base, "--protocol", "all", "--json")
    assert not doc["threshold_stored"] and doc["threshold_note"] == "not cross-validated; --calibrate stores it"
    assert _stored(store_copy) == (None, None)
    sample = run_cli(*base, "--sample", "200", "--json")
    assert sample["threshold_stored"] and sample["threshold_note"] is None
    stored = _stored(store_copy)
    assert stored[0] == pytest.approx(sample["threshold"]) and "10-fold" in stored[1]
    out = run_cli(*base, "--protocol", "all").output  # the human output says it was not stored, and why
    assert "stored for search" in out and "no (not cross-validated; --calibrate stores it)" in out
    assert _stored(store_copy) == stored
    doc = run_cli(*base, "--sample", "100", "--seed", "5", "--no-calibrate", "--json")
    assert not doc["threshold_stored"] and doc["threshold_note"] == "--no-calibrate"
    assert _stored(store_copy) == stored
    doc = run_cli(*base, "--protocol", "all", "--calibrate", "--json")
    assert doc["threshold_stored"] and _stored(store_copy)[1].startswith("all:48 images, best accuracy")


def test_threshold_policy_in_the_library(store_copy):
    """The same policy through the facade: calibrate None (default) stores only cross-validated thresholds."""
    import facevault

    with facevault.open(str(store_copy)) as vault:
        run = vault.evaluate(protocol="all")
        assert run.best.threshold_source is None and "cross-validated" in run.best.threshold_note
        assert vault.space().threshold is None
        run = vault.evaluate(protocol="all", calibrate=True)
        assert run.best.threshold_source is not None
        assert vault.space().threshold == pytest.approx(run.best.operating_point["threshold"])


def test_bad_pairs_files_are_protocol_errors(tmp_path):
    cases = {"noheader.txt": b"Aaron 1 2\nBob 1 Carl 2\n", "words.txt": b"folds pairs\n", "num.txt": b"1\nA x 2\n",
             "bin.dat": bytes(range(256)), "latin1.csv": "a,b\xe9,yes\n".encode("latin-1"),
             "header-only.csv": b"file_x,file_y,Decision\n"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ProtocolError, match=name.replace(".", r"\.")):
            protocols.read_pairs_file(tmp_path / name)


@pytest.mark.parametrize("header", ["file_a,file_b,same", "a,b,label", "img1,img2,1"])
def test_csv_header_is_not_a_pair_even_when_its_label_reads_as_one(tmp_path, header):
    f = tmp_path / "pairs.csv"
    f.write_text(f"{header}\nx/1.jpg,x/2.jpg,1\nx/1.jpg,y/1.png,0\n")
    pairs = protocols.read_pairs_file(f)
    assert pairs.a == ["x/1.jpg", "x/1.jpg"] and pairs.b == ["x/2.jpg", "y/1.png"]
    assert pairs.labels.tolist() == [True, False]
    g = tmp_path / "bare.csv"  # no header: the first row is a pair
    g.write_text("x/1.jpg,x/2.jpg,same\nx/1.jpg,y/1.png,different\n")
    assert len(protocols.read_pairs_file(g)) == 2
