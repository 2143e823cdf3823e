"""The Ray engine on a real local Ray cluster, the catalog on a real PostgreSQL server: the same vectors and the
same evaluate / search / similarity answers as the local engine on SQLite, bad inputs handled alike, and a
SIGKILLed driver that loses nothing (the rerun leaves exactly one vector per image per space)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, HERE, run_cli
from pgserver import find_bindir

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'facevault[ray]')")
pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'facevault[postgres]')")
if find_bindir() is None:
    pytest.skip("no PostgreSQL initdb binary on this machine (apt-get install postgresql)", allow_module_level=True)

QUERIES = HERE / "data" / "queries"


@pytest.fixture(scope="module")
def cluster():
    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ctx.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """The 48 fixture faces plus two bad files (an empty one and one that is not an image)."""
    root = tmp_path_factory.mktemp("ray_faces") / "lfw"
    shutil.copytree(DATA, root)
    (root / "Colin_Powell" / "empty.jpg").write_bytes(b"")
    (root / "Colin_Powell" / "notes.jpg").write_bytes(b"not an image at all\n" * 20)
    return root


def _drop_volatile(doc):
    """JSON answers without timings and where-the-store-is facts."""
    if isinstance(doc, dict):
        return {k: _drop_volatile(v) for k, v in doc.items()
                if k not in {"seconds", "elapsed", "store", "db", "images_per_second", "created_at", "path_to_store"}}
    if isinstance(doc, list):
        return [_drop_volatile(v) for v in doc]
    return doc


def _vectors(store: Path, db: str | None):
    import facevault

    with facevault.open(store, db=db) as vault:
        rec = vault.space()
        return vault.catalog.vectors(rec.id)


def test_encoding_crosses_without_pickle():
    from facevault.core.types import Detection, ImageResult, Landmarks
    from facevault.services.ingest.ray_runner import decode_result, encode_result

    pts = np.arange(10, dtype=np.float64).reshape(5, 2)
    r = ImageResult("ab" * 32, 250, 250, [Detection(1.5, 2.0, 30.0, 40.0, 0.75, "hog-up1", Landmarks(pts, "dlib5")),
                                          Detection(5.0, 6.0, 7.0, 8.0, 0.5, "hog-up1")], subject=0,
                    vectors={0: np.linspace(0, 1, 128, dtype=np.float32)}, norms={0: 0.6})
    row = encode_result(r)
    assert all(isinstance(v, (str, bytes, int, bool)) for v in row.values())
    back = decode_result(row)
    assert back.faces == r.faces and back.faces[0].landmarks.scheme == "dlib5"
    np.testing.assert_array_equal(back.faces[0].landmarks.points, pts)
    np.testing.assert_array_equal(back.vectors[0], r.vectors[0])
    assert back.subject == 0 and back.norms == {0: 0.6} and back.error_kind is None
    bad = decode_result(encode_result(ImageResult("cd" * 32).fail("corrupt-image", "truncated")))
    assert bad.error_kind == "corrupt-image" and bad.subject is None and bad.vectors == {}


def test_ray_on_postgres_matches_local_on_sqlite(cluster, pg_url, faces, tmp_path, monkeypatch):
    import facevault.store.catalog as catalog_mod

    monkeypatch.setattr(catalog_mod, "STREAM_ROWS", 5)  # the PostgreSQL read streams in several fetches
    local, remote = tmp_path / "local", tmp_path / "remote"
    a = run_cli("ingest", str(faces), "--store", str(local), "--engine", "local", "--json")
    b = run_cli("ingest", str(faces), "--store", str(remote), "--db", pg_url, "--engine", "ray", "--json")
    assert b["runner"] == "ray" and a["runner"] != "ray"
    for key in ("files", "processed", "embedded", "faces", "no_face", "multi_face", "errors"):
        assert a[key] == b[key], key
    assert a["embedded"] == 48 and sum(a["errors"].values()) == 2
    assert sorted(p["path"] for p in a["problems"]) == sorted(p["path"] for p in b["problems"])

    va, vb = _vectors(local, None), _vectors(remote, pg_url)
    assert va.paths == vb.paths and va.identities == vb.identities and len(va) == 48
    np.testing.assert_allclose(va.matrix, vb.matrix, atol=1e-6, rtol=0)
    np.testing.assert_allclose(va.norms, vb.norms, atol=1e-6, rtol=0)

    def both(*args):
        return [_drop_volatile(run_cli(*args, "--store", str(s), *db, "--json"))
                for s, db in ((local, ()), (remote, ("--db", pg_url)))]

    ea, eb = both("evaluate", "--sample", "200", "--bootstrap", "50")
    assert ea == eb
    sa, sb = both("search", str(QUERIES / "Tony_Blair_0010.jpg"), str(QUERIES / "Serena_Williams_0010.jpg"))
    assert sa == sb
    ma, mb = both("similarity")
    assert ma == mb

    again = run_cli("ingest", str(faces), "--store", str(remote), "--db", pg_url, "--engine", "ray", "--json")
    assert again["processed"] == 0 and again["skipped"] == 50  # resumable, nothing twice


def test_without_ray_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    res = run_cli("ingest", str(DATA), "--engine", "ray", "--limit", "2", expect=1)
    assert "pip install 'facevault[ray]'" in res.output and len(res.output.strip().splitlines()) == 1, res.output


def _counts(url: str) -> tuple[int, int, int]:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    try:
        with eng.connect() as c:
            scans = c.execute(text("SELECT count(*) FROM scans")).scalar()
            vecs = c.execute(text("SELECT count(*) FROM vectors")).scalar()
            per = c.execute(text("SELECT count(*) FROM (SELECT f.sha256, v.space_id FROM vectors v JOIN faces f "
                                 "ON f.id = v.face_id GROUP BY f.sha256, v.space_id HAVING count(*) > 1) d")).scalar()
        return scans, vecs, per
    except Exception:
        return 0, 0, 0  # the schema is not there yet
    finally:
        eng.dispose()


def test_sigkill_of_the_driver_then_rerun(cluster, pg_url, tmp_path):
    store = tmp_path / "store"
    # the driver commits every 4 results and pauses after each commit, so the kill lands between commits
    # whatever the machine's speed (48 images take ~2 s on dlib's ResNet on onnxruntime)
    code = ("import sys, time; import facevault.services.ingest.writer as w; w.BATCH = 4; flush = w.Writer.flush\n"
            "def slow_flush(self):\n    flush(self)\n    time.sleep(0.3)\n"
            "w.Writer.flush = slow_flush; sys.argv[0] = 'facevault'\n"
            "from facevault.cli import main; main()")
    env = {**os.environ, "FACEVAULT_WORKERS": "1"}
    driver = subprocess.Popen([sys.executable, "-c", code, "ingest", str(DATA), "--store", str(store), "--db", pg_url,
                               "--engine", "ray", "--address", cluster, "--json"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and driver.poll() is None:
            if 0 < _counts(pg_url)[0] < 48:
                break
            time.sleep(0.2)
        assert driver.poll() is None, "the driver finished before it could be killed (or failed)"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    scans, vecs, dup = _counts(pg_url)
    assert 0 < scans < 48 and vecs == scans and dup == 0  # what was committed is whole
    again = run_cli("ingest", str(DATA), "--store", str(store), "--db", pg_url, "--engine", "ray", "--json")
    assert again["skipped"] == scans and again["processed"] == 48 - scans
    assert _counts(pg_url) == (48, 48, 0)  # exactly one vector per image per space
