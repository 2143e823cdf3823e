"""The whole job through the CLI, on real LFW faces with the real dlib model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli


@pytest.fixture
def gallery(tmp_path, lfw_small) -> tuple[Path, list[Path]]:
    """Five images per identity ingested; the sixth of each held out as a query."""
    root = tmp_path / "gallery"
    held = []
    for ident in sorted(p for p in lfw_small.iterdir() if p.is_dir()):
        files = sorted(ident.glob("*.jpg"))
        (root / ident.name).mkdir(parents=True)
        for f in files[:-1]:
            shutil.copy(f, root / ident.name / f.name)
        held.append(files[-1])
    return root, held


def test_ingest_evaluate_similarity_search(gallery, tmp_path):
    root, held = gallery
    summary = run_cli("ingest", str(root), "--json")
    assert summary["files"] == 40 and summary["identities"] == 8
    assert summary["embedded"] == 40 and summary["no_face"] == 0 and summary["errors"] == {}

    status = run_cli("status", "--json")
    (space,) = status["spaces"]
    assert (space["model"], space["detector"], space["aligner"], space["dim"]) == ("dlib", "dlib-hog", "dlib-chip", 128)
    assert space["vectors"] == 40

    ev = run_cli("evaluate", "--sample", "300", "--json")
    for key in ("accuracy", "accuracy_std", "auc", "eer", "threshold", "pairs", "missing"):
        assert key in ev
    assert ev["pairs"] == 80 + 300  # all 8 x C(5,2) same pairs exist; 300 different
    assert ev["missing"] == 0
    assert ev["auc"] > 0.98 and ev["accuracy"] > 0.93
    assert 0.0 < ev["threshold"] < 1.0
    assert run_cli("status", "--json")["spaces"][0]["threshold"] == pytest.approx(ev["threshold"])

    sim = run_cli("similarity", "--out", str(tmp_path / "sim.png"), "--csv", str(tmp_path / "sim.csv"), "--json")
    m = np.array(sim["matrix"], float)
    assert m.shape == (8, 8) and np.allclose(m, m.T)
    # every identity is closer to itself than to any other identity, on average
    assert all(m[i, i] > np.delete(m[i], i).max() for i in range(8))
    assert (tmp_path / "sim.png").stat().st_size > 10_000
    assert len((tmp_path / "sim.csv").read_text().splitlines()) == 9

    hits = run_cli("search", *map(str, held), "-k", "3", "--json")
    assert len(hits) == len(held)  # one face per LFW query here
    correct = sum(h["matches"][0]["identity"] == Path(h["query"]).parent.name for h in hits)
    assert correct >= 7, hits
    top = hits[0]["matches"][0]
    assert set(top) >= {"identity", "score", "image"} and top["verdict"] in ("same", "different")

    look = run_cli("search", "--identity", "George_W_Bush", "-k", "3", "--json")
    assert len(look["matches"]) == 3 and "George_W_Bush" not in [m["identity"] for m in look["matches"]]
    scores = [m["score"] for m in look["matches"]]
    assert scores == sorted(scores, reverse=True)


def test_pairs_csv_protocol(dataset_copy, tmp_path):
    run_cli("ingest", str(dataset_copy), "--json")
    people = sorted(p.name for p in dataset_copy.iterdir())
    lines = ["file_x,file_y,Decision"]
    for a in people:
        lines.append(f"{a}/{a}_0001.jpg,{a}/{a}_0002.jpg,Yes" if (dataset_copy / a / f"{a}_0002.jpg").exists()
                     else "")
    files = {p: sorted(f.relative_to(dataset_copy).as_posix() for f in (dataset_copy / p).glob("*.jpg")) for p in people}
    lines = ["file_x,file_y,Decision"]
    for p in people:
        lines += [f"{files[p][0]},{files[p][i]},Yes" for i in range(1, 6)]
    for i, p in enumerate(people):
        q = people[(i + 1) % len(people)]
        lines += [f"{files[p][j]},{files[q][j]},No" for j in range(5)]
    csv = tmp_path / "pairs.csv"
    csv.write_text("\n".join(lines) + "\n")
    ev = run_cli("evaluate", "--pairs-file", str(csv), "--json")
    assert ev["pairs"] == 80 and ev["positives"] == 40 and ev["missing"] == 0
    assert ev["accuracy"] > 0.9 and ev["auc"] > 0.97


def test_reingest_is_idempotent_and_follows_renames(dataset_copy):
    first = run_cli("ingest", str(dataset_copy), "--json")
    assert first["embedded"] == 48
    second = run_cli("ingest", str(dataset_copy), "--json")
    assert second["processed"] == 0 and second["embedded"] == 0 and second["skipped"] == 48

    src = dataset_copy / "Tony_Blair" / "Tony_Blair_0001.jpg"
    src.rename(src.with_name("renamed.jpg"))
    (dataset_copy / "Laura_Bush" / "Laura_Bush_0001.jpg").unlink()
    third = run_cli("ingest", str(dataset_copy), "--json")
    assert third["embedded"] == 0 and third["new"] == 1 and third["missing"] == 2
    status = run_cli("status", "--json")
    assert status["spaces"][0]["vectors"] == 48  # one vector per content: nothing re-embedded
    ev = run_cli("evaluate", "--sample", "50", "--json")
    assert ev["missing"] == 0
    from facevault.core import settings as config
    from facevault.store import Catalog

    with Catalog(config.resolve()) as cat:
        stored = cat.vectors(1)
    assert "Tony_Blair/renamed.jpg" in stored.paths and len(stored) == 47


def test_flip_variant_is_its_own_space(dataset_copy):
    run_cli("ingest", str(dataset_copy), "--json")
    flip = run_cli("ingest", str(dataset_copy), "--model", "dlib+flip", "--json")
    assert flip["embedded"] == 48 and flip["reused_detections"] == 48  # same detector: detections reused
    spaces = run_cli("status", "--json")["spaces"]
    assert [s["model"] for s in spaces] == ["dlib", "dlib+flip"]
    ev = run_cli("evaluate", "--model", "dlib+flip", "--sample", "100", "--json")
    assert ev["auc"] > 0.98
    # reads without --model take the default model's space when the store holds several
    assert run_cli("similarity", "--json")["space"] == "dlib / dlib-hog / dlib-chip"
    assert run_cli("similarity", "--model", "dlib+flip", "--json")["space"].startswith("dlib+flip /")


def test_reads_without_model_use_the_stores_only_space(dataset_copy):
    run_cli("ingest", str(dataset_copy), "--model", "dlib+flip", "--json")
    assert run_cli("similarity", "--json")["space"].startswith("dlib+flip /")


def test_search_returns_k_identities_even_when_one_fills_the_first_neighbours(dataset_copy, monkeypatch):
    from facevault.services import search

    run_cli("ingest", str(dataset_copy), "--json")
    monkeypatch.setattr(search, "MIN_DEPTH", 1)  # the first answer holds the query's own identity only
    hits = run_cli("search", str(dataset_copy / "Tony_Blair" / "Tony_Blair_0001.jpg"), "-k", "4", "--json")
    names = [m["identity"] for m in hits[0]["matches"]]
    assert len(names) == 4 == len(set(names)) and names[0] == "Tony_Blair"
