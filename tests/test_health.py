"""`facevault health` on a deliberately damaged copy of the fixture faces (real dlib vectors)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import DATA, run_cli

import facevault.cli.health  # noqa: F401  (registers the command until cli._register() lists it)
from facevault.core.types import StoredVectors
from facevault.services.health import likely_mislabels


def l2_normalise(x) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


MOVED = "Colin_Powell/Colin_Powell_9999.jpg"  # really Tony_Blair_0002
COPIED = "Jennifer_Aniston/Jennifer_Aniston_9999.jpg"  # the very file Laura_Bush/Laura_Bush_0001.jpg
NO_FACE = "Nobody/nobody.jpg"
SOLO = "Solo_Person/Solo_Person_0001.jpg"


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> str:
    from PIL import Image

    tmp = tmp_path_factory.mktemp("health")
    root = tmp / "faces"
    shutil.copytree(DATA, root)
    (root / "Tony_Blair" / "Tony_Blair_0002.jpg").rename(root / MOVED)
    shutil.copy(root / "Laura_Bush" / "Laura_Bush_0001.jpg", root / COPIED)
    (root / "Nobody").mkdir()
    with Image.open(DATA / "Serena_Williams" / "Serena_Williams_0001.jpg") as im:  # shirt and background only
        im.crop((150, 170, 250, 250)).resize((250, 200)).save(root / NO_FACE)
    (root / "Solo_Person").mkdir()
    shutil.copy(DATA.parent / "queries" / "Serena_Williams_0010.jpg", root / SOLO)
    store = str(tmp / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEVAULT_WORKERS", "1")
        run_cli("ingest", str(root), "--store", store, "-j", "1", "--json")
    return store


def test_damage_is_found(damaged):
    doc = run_cli("health", "--store", damaged, "--json")
    flagged = {m["path"]: m for m in doc["mislabels"]}
    assert MOVED in flagged, doc["mislabels"]
    moved = flagged[MOVED]
    assert moved["identity"] == "Colin_Powell" and moved["nearest"] == "Tony_Blair" and moved["margin"] > 0.02
    assert moved["nearest_similarity"] - moved["own_similarity"] == pytest.approx(moved["margin"], abs=1e-5)
    assert flagged[COPIED]["nearest"] == "Laura_Bush"
    assert len(flagged) <= 3  # the undamaged faces are not accused
    assert doc["totals"]["mislabels"] == len(flagged)

    dups = [d for d in doc["duplicates"] if {d["a"], d["b"]} == {COPIED, "Laura_Bush/Laura_Bush_0001.jpg"}]
    assert len(dups) == 1 and dups[0]["identical_file"] and dups[0]["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert all(d["identity_a"] != d["identity_b"] for d in doc["duplicates"])

    assert [x["path"] for x in doc["no_face"]] == [NO_FACE]
    few = {f["identity"]: f for f in doc["few_faces"]}
    assert few["Nobody"]["usable_faces"] == 0 and few["Nobody"]["images"] == 1
    assert few["Solo_Person"]["usable_faces"] == 1
    assert "Tony_Blair" not in few  # five faces left
    assert doc["errors"] == [] and doc["totals"]["no_face"] == 1


def test_health_tables_and_thresholds(damaged):
    text = " ".join(run_cli("health", "--store", damaged).output.split())
    for heading in ("likely mislabels", "duplicates across identities", "fewer than 2 usable faces",
                    "images with no face found"):
        assert heading in text
    assert "Colin_Powell_9999.jpg" in text or "Colin_Powell/…" in text
    strict = run_cli("health", "--store", damaged, "--duplicate-threshold", "0.5", "--min-faces", "7", "--json")
    assert strict["totals"]["duplicates"] > 1  # many different people exceed cosine 0.5 with dlib
    # only Colin_Powell and Jennifer_Aniston (6 + one planted face each) reach 7 usable faces
    assert {f["identity"] for f in strict["few_faces"]} == {
        "George_W_Bush", "Hugo_Chavez", "Junichiro_Koizumi", "Laura_Bush", "Serena_Williams", "Tony_Blair", "Nobody",
        "Solo_Person"}


def test_leave_one_out_centroids():
    """A face cannot vouch for itself: counted in its own centroid, this mislabelled face would look fine."""
    t = np.deg2rad(55)  # x is nearer B's direction than A's
    x = [np.cos(t), np.sin(t), 0.0]
    vecs = np.array([[1, 0, 0], x, [0, 1, 0], [0, 0.99, 0.14], [0, 0.99, -0.14]], float)
    idents = ["A", "A", "B", "B", "B"]
    sv = StoredVectors(1, np.arange(5), [f"{i}/{k}.jpg" for k, i in enumerate(idents)], idents, l2_normalise(vecs))
    found = likely_mislabels(sv)
    assert [m["path"] for m in found] == ["A/1.jpg"] and found[0]["nearest"] == "B"
    assert found[0]["own_similarity"] == pytest.approx(np.cos(t), abs=1e-6)  # its own centroid is A's other face
    m = sv.matrix
    naive = float(m[1] @ l2_normalise(m[:2].sum(0)))
    assert naive > found[0]["nearest_similarity"]  # with itself in A's centroid it would pass as A
