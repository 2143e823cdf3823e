"""`facevault evaluate` over several spaces: one leaderboard, each space loaded once."""

from __future__ import annotations

import shutil

import pytest
from conftest import DATA, run_cli

ROW_KEYS = {"model", "detector", "aligner", "accuracy", "accuracy_std", "accuracy_ci", "auc", "eer",
            "tar_at_far_1e-3", "missing", "images_per_second", "pairs", "protocol", "metric", "threshold"}


@pytest.fixture(scope="module")
def two_spaces(tmp_path_factory):
    """The fixture faces ingested with `dlib` and with `dlib+flip` (same detector, so detections are reused)."""
    root = tmp_path_factory.mktemp("leaderboard")
    store = root / "store"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEVAULT_WORKERS", "1")
        mp.setenv("FACEVAULT_WEIGHTS", str(root / "weights"))
        mp.setenv("DEEPFACE_HOME", str(root / "deepface_home"))
        mp.delenv("FACEVAULT_DB", raising=False)
        for model in ("dlib", "dlib+flip"):
            run_cli("ingest", str(DATA), "--store", str(store), "--model", model, "--json")
    return store


@pytest.fixture
def store(two_spaces, tmp_path):
    dst = tmp_path / "store"
    shutil.copytree(two_spaces, dst)
    return str(dst)


def test_leaderboard_json_rows(store):
    rows = run_cli("evaluate", "--store", store, "--sample", "200", "--json")
    assert isinstance(rows, list) and len(rows) == 2
    assert {r["model"] for r in rows} == {"dlib", "dlib+flip"}
    for r in rows:
        assert ROW_KEYS <= set(r), ROW_KEYS - set(r)
        assert r["detector"] == "dlib-hog" and r["aligner"] == "dlib-chip" and r["missing"] == 0
        assert r["auc"] > 0.98 and r["accuracy_ci"][0] <= r["accuracy"] <= r["accuracy_ci"][1]
        assert r["images_per_second"] > 0 and r["protocol"] == "sample:200:seed0"
    assert rows[0]["accuracy"] >= rows[1]["accuracy"]
    # both spaces were calibrated on the same pairs
    spaces = run_cli("status", "--store", store, "--json")["spaces"]
    by_model = {r["model"]: r for r in rows}
    for sp in spaces:
        assert sp["threshold"] == pytest.approx(by_model[sp["model"]]["threshold"])
        assert sp["threshold_source"] == "sample:200:seed0, best accuracy, 10-fold, cosine"


def test_selection_by_model_and_detector(store):
    both = run_cli("evaluate", "--store", store, "--sample", "100", "-m", "dlib", "-m", "dlib+flip", "--json")
    by_detector = run_cli("evaluate", "--store", store, "--sample", "100", "-d", "dlib-hog", "--json")
    assert [r["model"] for r in both] == [r["model"] for r in by_detector]
    assert [r["accuracy"] for r in both] == [r["accuracy"] for r in by_detector]
    one = run_cli("evaluate", "--store", store, "--sample", "100", "-m", "dlib+flip", "--json")
    assert isinstance(one, dict) and one["model"] == "dlib+flip" and "tar_at_far" in one
    r = run_cli("evaluate", "--store", store, "--sample", "100", "-d", "mmod", expect=1)
    assert "no vectors made with detector 'mmod'" in r.output and "dlib-hog" in r.output
    r = run_cli("evaluate", "--store", store, "--sample", "100", "-m", "nope", expect=1)
    assert "no vectors for model 'nope'" in r.output


def test_leaderboard_table(store, tmp_path):
    lines = ["file_x,file_y,Decision"]
    people = sorted(p.name for p in DATA.iterdir() if p.is_dir())
    files = {p: sorted(f.relative_to(DATA).as_posix() for f in (DATA / p).glob("*.jpg")) for p in people}
    for i, p in enumerate(people):
        q = people[(i + 1) % len(people)]
        lines += [f"{files[p][0]},{files[p][j]},Yes" for j in range(1, 6)]
        lines += [f"{files[p][j]},{files[q][j]},No" for j in range(5)]
    csv = tmp_path / "pairs.csv"
    csv.write_text("\n".join(lines) + "\n")
    out = run_cli("evaluate", "--store", store, "--pairs-file", str(csv), "--no-calibrate").output
    for word in ("leaderboard", "dlib+flip", "dlib-hog", "TAR@FAR=1e-3", "img/s", "accuracy", "AUC", "EER", "missing"):
        assert word in out, word
    body = [ln for ln in out.splitlines() if "dlib-chip" in ln]
    assert len(body) == 2
    assert run_cli("status", "--store", store, "--json")["spaces"][0]["threshold"] is None


def test_identify_and_all_leaderboards(store):
    rows = run_cli("evaluate", "--store", store, "--protocol", "identify", "--json")
    assert isinstance(rows, list) and len(rows) == 2
    assert all(r["rank1"] >= 0.9 and {"rank1_ci", "rank5", "dir_at_fpir"} <= set(r) for r in rows)
    rows = run_cli("evaluate", "--store", store, "--protocol", "all", "--no-calibrate", "--json")
    assert len(rows) == 2 and all(r["accuracy_std"] is None and r["pairs"] == 1128 for r in rows)
