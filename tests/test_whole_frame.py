"""`DETECTOR+frame` (deepface's enforce_detection=False): an image whose face the detector misses is embedded
from the whole frame; every other image embeds exactly as in the plain detector's space."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import DATA, run_cli
from PIL import Image

import facevault
from facevault.core.errors import UnknownName
from facevault.zoo import registry


@pytest.fixture
def missed(tmp_path):
    """Two LFW identities, plus an image single-pass HOG finds no face in (a face turned 90 degrees) and one
    with no face at all (flat grey)."""
    root = tmp_path / "data"
    for ident in ("Colin_Powell", "Tony_Blair"):
        shutil.copytree(DATA / ident, root / ident)
    Image.open(DATA / "Colin_Powell" / "Colin_Powell_0001.jpg").rotate(90).save(root / "Colin_Powell" / "turned.jpg")
    Image.new("RGB", (180, 200), (128, 128, 128)).save(root / "Tony_Blair" / "grey.png")
    return root


def test_frame_fallback_embeds_what_the_detector_misses_and_nothing_else_changes(missed, tmp_path):
    store = str(tmp_path / "store")
    plain = run_cli("ingest", str(missed), "--store", store, "-d", "dlib-hog-only", "--json")
    framed = run_cli("ingest", str(missed), "--store", store, "-d", "dlib-hog-only+frame", "--json")
    assert plain["no_face"] == 2 and plain["embedded"] == plain["files"] - 2 and plain["whole_frame"] == 0
    assert framed["no_face"] == 0 and framed["embedded"] == framed["files"] and framed["whole_frame"] == 2
    assert framed["faces"] == plain["faces"]  # the whole image is not counted as a face found
    assert {p["path"] for p in framed["problems"] if p["kind"] == "whole-frame"} == {
        "Colin_Powell/turned.jpg", "Tony_Blair/grey.png"}
    with facevault.open(store) as vault:
        a = vault.vectors(model="dlib", detector="dlib-hog-only")
        b = vault.vectors(model="dlib", detector="dlib-hog-only+frame")
        va, vb = dict(zip(a.paths, a.matrix)), dict(zip(b.paths, b.matrix))
        assert set(vb) - set(va) == {"Colin_Powell/turned.jpg", "Tony_Blair/grey.png"}
        assert all(np.array_equal(va[p], vb[p]) for p in va)  # found faces: the same vectors, bit for bit
        # a query the detector misses is searched from its whole frame in the +frame space only
        turned = missed / "Colin_Powell" / "turned.jpg"
        hit = vault.search(turned, k=1, detector="dlib-hog-only+frame")[0]
        assert hit["face"]["box"] == [0, 0, 250, 250] and hit["matches"][0]["image"] == "Colin_Powell/turned.jpg"
        assert "no face" in vault.search(turned, k=1, detector="dlib-hog-only")[0]["error"]
        # the same sampled pairs: those with a missed image count as wrong in the plain space, are scored here
        reports = {r.detector: r.report for r in vault.evaluate(sample=60, calibrate=False).results}
        assert reports["dlib-hog-only"].pairs == reports["dlib-hog-only+frame"].pairs
        assert reports["dlib-hog-only"].missing > 0 and reports["dlib-hog-only+frame"].missing == 0


def test_frame_suffix_names():
    entry = registry.detector("yunet+frame")
    assert entry.kwargs == {"inner": "yunet"} and entry.weights == registry.detector("yunet").weights
    assert registry.space("dlib", "dlib-hog+frame").detector == "dlib-hog+frame"
    for bad in ("nope+frame", "dlib-hog+frame+frame", "+frame"):
        with pytest.raises(UnknownName, match=r"\+frame"):
            registry.detector(bad)
    r = run_cli("ingest", str(DATA), "-d", "nope+frame", expect=1)
    assert "unknown detector 'nope+frame'" in r.output and "dlib-hog-only" in r.output
