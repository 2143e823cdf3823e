"""The Python API: the README's notebook example on real faces, a swapped-in runner, and unguarded scripts."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import facevault
from facevault.core.types import Detection, ImageResult, Landmarks
from facevault.services.ingest import Runner

QUERIES = Path(__file__).resolve().parent / "data" / "queries"


def test_readme_example_on_real_faces(dataset_copy, tmp_path):
    """ingest, evaluate, search and vectors from one `facevault.open` block, as the README shows it."""
    with facevault.open(tmp_path / "vault") as vault:
        summary = vault.ingest(dataset_copy, model="dlib")
        assert summary.embedded == 48 and summary.files == 48
        run = vault.evaluate(sample=300)
        ev = run.results[0]
        assert ev.report.accuracy > 0.9 and ev.threshold_source  # calibrated, and stored for search
        hits = vault.search(QUERIES / "Tony_Blair_0010.jpg", k=3)
        assert hits[0]["matches"][0]["identity"] == "Tony_Blair" and hits[0]["matches"][0]["verdict"] == "same"
        vecs = vault.vectors(model="dlib")
        assert vecs.matrix.shape == (48, 128) and len(vecs.paths) == len(vecs.identities) == 48
        assert np.allclose(np.linalg.norm(vecs.matrix, axis=1), 1.0, atol=1e-5)
        assert set(vecs.identities) == {p.name for p in dataset_copy.iterdir()}
        # a second search in the same vault reuses the pipeline and the loaded index
        again = vault.search([QUERIES / "Serena_Williams_0010.jpg"], k=1)
        assert again[0]["matches"][0]["identity"] == "Serena_Williams"
        assert len(vault._pipelines) == 1 and len(vault._indices) == 1


def test_opening_a_missing_store_creates_nothing_until_ingest(tmp_path):
    where = tmp_path / "not-yet"
    vault = facevault.open(where)
    with pytest.raises(facevault.FacevaultError, match="no facevault store"):
        vault.status()
    with pytest.raises(facevault.FacevaultError, match="does not exist"):
        vault.ingest(tmp_path / "no-such-dataset")
    with pytest.raises(facevault.FacevaultError, match="unknown model"):
        vault.ingest(tmp_path, model="no-such-model")
    assert not where.exists()


class FakeRunner:
    """Storage and plumbing only: one box per image and a vector derived from the content hash."""

    name, workers = "fake", 1

    def __init__(self) -> None:
        self.seen: list[str] = []

    def run(self, tasks, factory):
        dim = factory.space.dim
        for task in tasks:
            out = []
            for item in task:
                self.seen.append(item.path)
                seed = int(hashlib.sha256(item.sha256.encode()).hexdigest()[:8], 16)
                v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
                pts = Landmarks(np.array([[10, 10], [20, 10], [15, 15], [11, 20], [19, 20]], np.float32), "arcface5")
                out.append(ImageResult(item.sha256, 50, 50, [Detection(5, 5, 30, 30, 0.9, "fake", pts)], 0,
                                       {0: v / np.linalg.norm(v)}, {0: float(np.linalg.norm(v))}))
            yield out


def test_a_runner_is_swapped_in_without_patching(dataset_copy, tmp_path):
    runner = FakeRunner()
    assert isinstance(runner, Runner)
    with facevault.open(tmp_path / "v") as vault:
        s = vault.ingest(dataset_copy, model="dlib", runner=runner)
        assert s.runner == "fake" and s.embedded == 48 and len(runner.seen) == 48
        vecs = vault.vectors()
        assert vecs.matrix.shape == (48, 128)
        # stored landmarks keep their scheme
        faces = vault.catalog.known_faces("dlib-hog", [hashlib.sha256((dataset_copy / vecs.paths[0]).read_bytes())
                                                      .hexdigest()])
        (det,) = next(iter(faces.values()))
        assert det.landmarks.scheme == "arcface5" and det.landmarks.points.shape == (5, 2)
        # idempotent by content: the second run hands the runner nothing
        again = FakeRunner()
        s2 = vault.ingest(dataset_copy, model="dlib", runner=again)
        assert s2.processed == 0 and s2.skipped == 48 and again.seen == []


def test_a_script_without_main_guard_still_ingests_and_says_what_to_add(dataset_copy, tmp_path):
    script = tmp_path / "notebook_like.py"
    script.write_text(textwrap.dedent(f"""
        import facevault
        with facevault.open({str(tmp_path / 'store')!r}, workers=2) as vault:
            s = vault.ingest({str(dataset_copy)!r})
            print("embedded", s.embedded, s.runner)
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "embedded 48 in-process" in r.stdout
    assert 'if __name__ == "__main__":' in r.stderr
