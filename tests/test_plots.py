"""Figures: files are written and readable, and the heatmap's clustering order groups lookalikes."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import run_cli

from facevault import evaluation as metrics
from facevault.core.types import StoredVectors
from facevault.evaluation.similarity import cluster_order
from facevault.services import plots, similarity


def l2_normalise(x) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _scores(rng, shift: float) -> tuple[np.ndarray, np.ndarray]:
    labels = np.r_[np.ones(200, bool), np.zeros(2000, bool)]
    scores = np.where(labels, rng.normal(0.75 - shift, 0.08, labels.size), rng.normal(0.2, 0.1, labels.size))
    return scores, labels


def _check_png(path, min_bytes: int = 10_000) -> None:
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > min_bytes, (path, len(data))
    with Image.open(path) as im:
        assert min(im.size) >= 300


def _check_svg(path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert path.stat().st_size > 10_000
    assert len(list(root.iter())) > 50  # real drawing, not an empty canvas


def test_every_figure_writes_png_and_svg(tmp_path):
    rng = np.random.default_rng(0)
    roc, det, ops = [], [], []
    for name, shift in (("space a", 0.0), ("space b", 0.15)):
        s, lab = _scores(rng, shift)
        r = metrics.roc(s, lab)
        roc.append((name, r.far, r.tar))
        det.append((name, r.far, 1 - r.tar))
        ops.append((0.01, 0.9))
    written = []
    written += plots.roc_plot(roc, tmp_path / "roc.png", operating=ops, formats=("png", "svg"))
    written += plots.det_plot(det, tmp_path / "det.svg", operating=ops, formats=("png", "svg"))
    written += plots.distribution_plot(s, lab, tmp_path / "dist.png", threshold=0.45, threshold_source="test pairs",
                                       extra=[("EER threshold", 0.44)], formats=("png", "svg"))
    sim = np.corrcoef(rng.normal(size=(10, 30)))
    written += plots.heatmap_plot([f"id{i}" for i in range(10)], [3] * 10, sim, tmp_path / "heat.png",
                                  formats=("png", "svg"))
    written += plots.cmc_plot([("space a", np.array([0.8, 0.9, 0.95, 1.0]))], tmp_path / "cmc.png",
                              formats=("png", "svg"))
    assert sorted(p.name for p in written) == sorted(
        f"{n}.{ext}" for n in ("roc", "det", "dist", "heat", "cmc") for ext in ("png", "svg"))
    for p in written:
        assert p.exists()
        _check_png(p) if p.suffix == ".png" else _check_svg(p)
    # the suffix alone chooses the format
    (only,) = plots.roc_plot(roc, tmp_path / "alone.svg")
    _check_svg(only)
    with pytest.raises(ValueError):
        plots.roc_plot(roc, tmp_path / "x.jpg")


def test_cluster_order_puts_lookalike_identities_side_by_side():
    rng = np.random.default_rng(3)
    names = ["aaron", "bella", "carl", "dora", "emil", "zoe"]
    base = l2_normalise(rng.normal(size=(6, 64)))
    base[5] = l2_normalise(base[0] + 0.05 * rng.normal(size=64))  # zoe looks like aaron
    vecs, idents = [], []
    for k, name in enumerate(names):
        for _ in range(3):
            vecs.append(base[k] + 0.15 * rng.normal(size=64))
            idents.append(name)
    sv = StoredVectors(1, np.arange(len(vecs)), [f"{n}/{i}.jpg" for i, n in enumerate(idents)], idents,
                       l2_normalise(np.array(vecs)))
    by_name = similarity.compute(sv, top=None, order="name")
    clustered = similarity.compute(sv, top=None, order="cluster")
    assert by_name.names == names  # alphabetical: the lookalikes are at both ends
    assert sorted(clustered.names) == names
    pos = {n: i for i, n in enumerate(clustered.names)}
    assert abs(pos["aaron"] - pos["zoe"]) == 1, clustered.names
    # the same matrix, permuted
    perm = [names.index(n) for n in clustered.names]
    assert np.allclose(clustered.matrix, by_name.matrix[np.ix_(perm, perm)], equal_nan=True)
    assert clustered.to_dict()["order"] == "cluster"


def test_cluster_order_recovers_shuffled_blocks():
    rng = np.random.default_rng(7)
    blocks = np.repeat(np.arange(4), 5)
    sim = np.where(blocks[:, None] == blocks[None, :], 0.9, 0.1) + rng.uniform(0, 0.05, (20, 20))
    sim = (sim + sim.T) / 2
    shuffle = rng.permutation(20)
    order = cluster_order(sim[np.ix_(shuffle, shuffle)])
    assert sorted(order) == list(range(20))
    runs = blocks[shuffle][order]
    assert int(np.sum(runs[1:] != runs[:-1])) == 3  # each block contiguous


def test_similarity_cli_svg_and_order(tmp_path, lfw_small):
    root = tmp_path / "small"
    for ident in ("Colin_Powell", "Jennifer_Aniston", "Laura_Bush", "Tony_Blair"):
        (root / ident).mkdir(parents=True)
        for f in sorted((lfw_small / ident).glob("*.jpg"))[:3]:
            shutil.copy(f, root / ident / f.name)
    run_cli("ingest", str(root), "-j", "1", "--json")
    svg = tmp_path / "sim.svg"
    doc = run_cli("similarity", "--out", str(svg), "--json")
    assert doc["order"] == "cluster" and doc["heatmap"] == str(svg)
    _check_svg(svg)
    names = run_cli("similarity", "--order", "name", "--json")
    assert names["identities"] == sorted(names["identities"])
    assert sorted(doc["identities"]) == names["identities"]
    pos = {n: i for i, n in enumerate(doc["identities"])}  # dlib finds these two pairs most alike (see the matrix)
    assert abs(pos["Colin_Powell"] - pos["Tony_Blair"]) == 1 and abs(pos["Laura_Bush"] - pos["Jennifer_Aniston"]) == 1
    m = np.array(doc["matrix"], float)
    assert np.allclose(m, m.T)
    # the cluster order keeps each identity's row: the same values, permuted
    perm = [names["identities"].index(n) for n in doc["identities"]]
    assert np.allclose(m, np.array(names["matrix"], float)[np.ix_(perm, perm)])
    run_cli("similarity", "--out", str(tmp_path / "sim.jpg"), expect=2)
