"""`facevault verify A B`: real faces, the real dlib model, the threshold `evaluate` calibrated."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, run_cli

import facevault.cli.verify  # noqa: F401  (registers the command until cli._register() lists it)

QUERIES = DATA.parent / "queries"


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> str:
    """The fixture faces ingested and calibrated with `evaluate --sample 300` (one store for the module)."""
    store = str(tmp_path_factory.mktemp("verify") / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEVAULT_WORKERS", "1")
        run_cli("ingest", str(DATA), "--store", store, "-j", "1", "--json")
        run_cli("evaluate", "--sample", "300", "--store", store, "--json")
    return store


def _no_face_image(path: Path) -> Path:
    """A real photo region with no face in it: the shirt and background corner of an LFW image."""
    from PIL import Image

    with Image.open(DATA / "Serena_Williams" / "Serena_Williams_0001.jpg") as im:
        im.crop((150, 170, 250, 250)).resize((250, 200)).save(path)
    return path


def test_same_person_and_different_people(calibrated):
    blair = DATA / "Tony_Blair" / "Tony_Blair_0001.jpg"
    same = run_cli("verify", str(blair), str(QUERIES / "Tony_Blair_0010.jpg"), "--store", calibrated, "--json")
    diff = run_cli("verify", str(blair), str(QUERIES / "Serena_Williams_0010.jpg"), "--store", calibrated, "--json")
    assert set(same) >= {"a", "b", "score", "threshold", "threshold_source", "verdict", "space", "faces_a", "faces_b"}
    status = run_cli("status", "--store", calibrated, "--json")["spaces"][0]
    for doc in (same, diff):
        assert doc["threshold"] == pytest.approx(status["threshold"])
        assert doc["threshold_source"] == status["threshold_source"] and "sample:300" in doc["threshold_source"]
        assert doc["space"] == "dlib / dlib-hog / dlib-chip"
        assert doc["faces_a"] == 1 and doc["faces_b"] == 1
    assert same["verdict"] == "same" and same["score"] >= same["threshold"]
    assert diff["verdict"] == "different" and diff["score"] < diff["threshold"]
    assert same["score"] - diff["score"] > 0.1
    res = run_cli("verify", str(blair), str(QUERIES / "Tony_Blair_0010.jpg"), "--store", calibrated)
    text = " ".join(res.output.split())
    assert "the same person" in text and "sample:300" in text


def test_score_is_the_stored_spaces_cosine(calibrated):
    """Embedding at verify time gives the vectors ingest stored: the score is their dot product."""
    from facevault.core import settings as config
    from facevault.store import Catalog

    a, b = "Laura_Bush/Laura_Bush_0001.jpg", "Jennifer_Aniston/Jennifer_Aniston_0001.jpg"
    doc = run_cli("verify", str(DATA / a), str(DATA / b), "--store", calibrated, "--json")
    with Catalog(config.resolve(calibrated)) as cat:
        stored = cat.vectors(1)
    where = stored.by_path()
    expected = float(np.dot(stored.matrix[where[a]], stored.matrix[where[b]]))
    assert doc["score"] == pytest.approx(expected, abs=1e-5)


def test_several_faces_are_reported_and_no_face_fails(calibrated, tmp_path):
    from PIL import Image

    pair = Image.new("RGB", (500, 250))
    with Image.open(DATA / "Tony_Blair" / "Tony_Blair_0003.jpg") as l, \
            Image.open(DATA / "Serena_Williams" / "Serena_Williams_0003.jpg") as r:
        pair.paste(l, (0, 0))
        pair.paste(r, (250, 0))
    group = tmp_path / "two.jpg"
    pair.save(group)
    one = DATA / "Tony_Blair" / "Tony_Blair_0001.jpg"
    doc = run_cli("verify", str(group), str(one), "--store", calibrated, "--json")
    assert doc["faces_a"] == 2 and doc["faces_b"] == 1 and doc["verdict"] in ("same", "different")
    res = run_cli("verify", str(group), str(one), "--store", calibrated)
    assert "has 2 faces" in " ".join(res.output.split())

    empty = _no_face_image(tmp_path / "nobody.jpg")
    res = run_cli("verify", str(empty), str(one), "--store", calibrated, expect=1)
    assert "no face found in" in res.output and "nobody.jpg" in " ".join(res.output.split())


def test_uncalibrated_space_gives_the_score_and_no_verdict(tmp_path):
    root = tmp_path / "tiny"
    for ident in ("Tony_Blair", "Serena_Williams"):
        (root / ident).mkdir(parents=True)
        shutil.copy(DATA / ident / f"{ident}_0001.jpg", root / ident)
    run_cli("ingest", str(root), "-j", "1", "--json")
    a, b = DATA / "Tony_Blair" / "Tony_Blair_0001.jpg", QUERIES / "Tony_Blair_0010.jpg"
    doc = run_cli("verify", str(a), str(b), "--json")
    assert doc["verdict"] is None and doc["threshold"] is None and doc["threshold_source"] is None
    assert 0.9 < doc["score"] <= 1.0  # the same man, scored all the same
    text = " ".join(run_cli("verify", str(a), str(b)).output.split())
    assert "no calibrated threshold" in text and "facevault evaluate" in text
