"""Bad input: a clear one-line message, the rest of the dataset still ingested, nothing lost."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image


def _face(lfw_small, name="Colin_Powell", n=1) -> Image.Image:
    return Image.open(lfw_small / name / f"{name}_{n:04d}.jpg").convert("RGB")


@pytest.fixture
def messy(tmp_path, lfw_small):
    """A dataset with one good image per identity plus every kind of bad input."""
    root = tmp_path / "messy"
    for ident in ("Colin_Powell", "Tony_Blair", "Serena_Williams"):
        (root / ident).mkdir(parents=True)
        shutil.copy(lfw_small / ident / f"{ident}_0001.jpg", root / ident)
    bad = root / "Hugo_Chavez"
    bad.mkdir()
    good = (lfw_small / "Hugo_Chavez" / "Hugo_Chavez_0001.jpg").read_bytes()
    (bad / "zero.jpg").write_bytes(b"")
    (bad / "text.jpg").write_text("this is not an image\n")
    (bad / "random.png").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (bad / "truncated.jpg").write_bytes(good[: len(good) // 2])
    Image.fromarray(np.full((200, 200, 3), 180, np.uint8)).save(bad / "blank.png")  # no face
    face = _face(lfw_small, "Hugo_Chavez", 2)
    buf = io.BytesIO()
    face.save(buf, format="WEBP")
    (bad / "webp_named.jpg").write_bytes(buf.getvalue())
    rgba = face.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(bad / "rgba.png")
    face.convert("L").save(bad / "gray.jpg")
    gray16 = (np.asarray(_face(lfw_small, "Hugo_Chavez", 3).convert("L"), np.uint16) * 257)
    Image.fromarray(gray16).save(bad / "gray16.png")
    a, b = _face(lfw_small, "Tony_Blair", 2), _face(lfw_small, "Serena_Williams", 2)
    two = Image.new("RGB", (500, 250))
    two.paste(a, (0, 0)); two.paste(b, (250, 0))
    (root / "Group").mkdir()
    two.save(root / "Group" / "two_faces.jpg")
    return root


def test_every_bad_input_is_counted_and_the_rest_ingested(messy):
    s = run_cli("ingest", str(messy), "--json")
    assert s["files"] == 13
    assert s["errors"] == {"empty-file": 1, "not-an-image": 2, "corrupt-image": 1}
    assert s["no_face"] == 1
    assert s["multi_face"] == 1
    # 3 good + webp, rgba, gray, 16-bit gray + the two-face image
    assert s["embedded"] == 8
    kinds = {p["path"]: p["kind"] for p in s["problems"]}
    assert kinds["Hugo_Chavez/truncated.jpg"] == "corrupt-image"
    assert kinds["Hugo_Chavez/blank.png"] == "no-face"
    assert all("\n" not in p["message"] for p in s["problems"])
    status = run_cli("status", "--json")
    assert status["images"] == {"ok": 9, "error": 4}
    # re-running does not retry or duplicate anything
    again = run_cli("ingest", str(messy), "--json")
    assert again["processed"] == 0 and again["skipped"] == 13


def test_human_summary_names_the_problems(messy):
    out = run_cli("ingest", str(messy)).output
    assert "error: corrupt-image" in out and "Hugo_Chavez/truncated.jpg" in out and "no face" in out


def test_missing_store_is_a_clear_error(tmp_path):
    r = run_cli("status", "--store", str(tmp_path / "nowhere"), expect=1)
    assert "no facevault store" in r.output and "Traceback" not in r.output


def test_unknown_names_list_the_valid_ones(dataset_copy):
    r = run_cli("ingest", str(dataset_copy), "--model", "nope", expect=1)
    assert "unknown model 'nope'" in r.output and "dlib" in r.output
    r = run_cli("ingest", str(dataset_copy), "--detector", "nope", expect=1)
    assert "unknown detector 'nope'" in r.output
    run_cli("ingest", str(dataset_copy), "--json")
    r = run_cli("search", "--identity", "Nobody_Here", expect=1)
    assert "unknown identity 'Nobody_Here'" in r.output
    r = run_cli("evaluate", "--sample", "10", "--model", "dlib+flip", expect=1)
    assert "no vectors for model 'dlib+flip'" in r.output


def test_empty_dataset(tmp_path):
    (tmp_path / "empty" / "someone").mkdir(parents=True)
    (tmp_path / "empty" / "someone" / "notes.txt").write_text("x")
    r = run_cli("ingest", str(tmp_path / "empty"), expect=1)
    assert "no images" in r.output
    r = run_cli("ingest", str(tmp_path / "does-not-exist"), expect=2)  # a usage error, before any store exists
    assert "does not exist" in r.output and not (tmp_path / "store").exists()


def test_a_second_writer_is_refused(dataset_copy):
    from facevault.core import settings as config
    from facevault.store import Catalog

    with Catalog(config.resolve(), create=True) as cat:
        cat.lock()
        r = run_cli("ingest", str(dataset_copy), expect=1)
        assert "another facevault process is writing" in r.output
    assert run_cli("ingest", str(dataset_copy), "--json")["embedded"] == 48


class _InterruptAfter:
    """A runner that runs tasks in-process and raises KeyboardInterrupt (a Ctrl-C) before task `n`."""

    name, workers = "interrupting", 1

    def __init__(self, n: int) -> None:
        from facevault.services.ingest import InProcessRunner

        self.n, self.inner = n, InProcessRunner()

    def run(self, tasks, factory):
        for i, results in enumerate(self.inner.run(tasks, factory), 1):
            if i == self.n:
                raise KeyboardInterrupt
            yield results


def test_interrupted_run_resumes_without_duplicates(dataset_copy, monkeypatch):
    from sqlalchemy import func, select

    import facevault
    from facevault.services import ingest
    from facevault.services.ingest import writer
    from facevault.store.models import Face, Scan, Vector

    monkeypatch.setattr(ingest, "TASK_IMAGES", 4)
    monkeypatch.setattr(writer, "BATCH", 8)  # some results committed, some still buffered at the interrupt
    with facevault.open() as vault:
        s1 = vault.ingest(dataset_copy, runner=_InterruptAfter(6))  # Ctrl-C during the sixth task of four images
        assert s1.interrupted and s1.processed == 20
        with vault.catalog.session() as s:
            assert s.scalar(select(func.count()).select_from(Vector)) == 20  # the buffer was saved too
    with facevault.open() as vault:
        s2 = vault.ingest(dataset_copy)
        assert not s2.interrupted and s2.skipped == 20 and s2.processed == 28
        with vault.catalog.session() as s:
            assert s.scalar(select(func.count()).select_from(Vector)) == 48
            assert s.scalar(select(func.count()).select_from(Scan)) == 48
            assert s.scalar(select(func.count(func.distinct(Face.sha256)))) == 48


def test_interrupt_through_the_cli_exits_nonzero_with_resume_hint(dataset_copy, monkeypatch):
    from facevault.services import ingest

    real = ingest.InProcessRunner.run
    calls = {"n": 0}

    def flaky(self, tasks, factory):
        for results in real(self, tasks, factory):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            yield results

    monkeypatch.setattr(ingest.InProcessRunner, "run", flaky)
    monkeypatch.setattr(ingest, "TASK_IMAGES", 4)
    r = run_cli("ingest", str(dataset_copy), expect=1)
    assert "interrupted: 4 images saved" in r.output and "resume" in r.output


def test_a_worker_that_cannot_load_its_model_stops_the_run_once(dataset_copy, tmp_path, monkeypatch):
    """A model the spawned workers cannot load (here: a checksum mismatch) is one clear error, not workers
    respawned forever by the pool."""
    from facevault.faces.embed.onnx import SPECS
    from facevault.zoo import registry, user

    weights_dir = tmp_path / "w"
    weights_dir.mkdir()
    (weights_dir / "broken.onnx").write_bytes(b"not really a model")
    spec = {**SPECS["arcface-mbf"].to_dict(), "file": "broken.onnx", "sha256": "0" * 64}
    monkeypatch.setenv("FACEVAULT_WEIGHTS", str(weights_dir))
    user.save("broken-model", {"spec": spec, "dim": spec["dim"], "like": "arcface-mbf"}, weights_dir)
    registry.refresh()
    r = run_cli("ingest", str(dataset_copy), "--model", "broken-model", "--workers", "2", expect=1)
    assert "broken.onnx fails its checksum" in r.output and "Traceback" not in r.output


def test_a_worker_that_dies_stops_the_run_with_what_was_saved(dataset_copy, monkeypatch):
    """A worker killed mid-run (out of memory, a native crash) ends the run with a clear error, not a hang;
    what was done is saved and the next run resumes."""
    import multiprocessing
    import os
    import signal

    import facevault
    from facevault.services import ingest

    monkeypatch.setattr(ingest, "TASK_IMAGES", 4)

    def progress(done, total):
        if done >= 8:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)

    with facevault.open(workers=2) as vault:
        with pytest.raises(ingest.WorkerFailed, match="worker process died"):
            vault.ingest(dataset_copy, runner=ingest.ProcessPoolRunner(2), progress=progress)
        saved = vault.catalog.stats()["spaces"][1]["vectors"]
    assert saved >= 8


def test_tasks_shrink_to_single_images_at_the_tail():
    """Full tasks first, then the last size x workers images one per task (no worker idles on the tail); every
    item once, in order; one worker keeps full tasks to the end."""
    from facevault.services.ingest import split_tasks

    items = list(range(37))
    tasks = split_tasks(items, 8, 2)
    assert [x for t in tasks for x in t] == items
    assert [len(t) for t in tasks] == [8, 8, 5] + [1] * 16
    assert [len(t) for t in split_tasks(items, 8, 1)] == [8, 8, 8, 8, 5]
    assert [len(t) for t in split_tasks(items[:10], 8, 4)] == [1] * 10
    assert split_tasks([], 8, 2) == []
