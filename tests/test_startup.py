"""What one cold `facevault search` pays for at start: no alembic, no other framework, no CNN for HOG, and dlib's
HOG detector from its cached binary copy. Checks of what is imported and built, never of timings (speed
targets live in the benchmarks)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, ingest_store

#: never imported by a search with the default model (dlib) of a store already at the schema's head
#: (onnxruntime is: it runs dlib's ResNet; `onnx`, which converts that network once, is not once it is cached)
NOT_ON_THE_SEARCH_PATH = ("alembic", "mako", "deepface", "tensorflow", "tf_keras", "keras", "torch", "onnx", "cv2",
                          "pandas", "scipy", "matplotlib", "sklearn", "ray", "psycopg")

_PROBE = """
import json, sys
from facevault.cli import main
sys.argv = ["facevault", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
roots = sorted({name.split(".")[0] for name in sys.modules})
print("\\nPROBE " + json.dumps({"code": code, "roots": roots}), file=sys.stderr)
"""


def _probe(*args: str, env: dict | None = None) -> dict:
    """Run the CLI in a fresh interpreter; the exit code and the top-level modules it imported."""
    p = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **(env or {})})
    line = next(line for line in p.stderr.splitlines() if line.startswith("PROBE "))
    return {**json.loads(line[len("PROBE "):]), "stdout": p.stdout, "stderr": p.stderr}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return ingest_store(tmp_path_factory.mktemp("startup"))


def test_search_help_imports_no_library():
    r = _probe("search", "--help")
    assert r["code"] == 0 and "Who is this?" in r["stdout"]
    loaded = set(r["roots"])
    assert not loaded & {"numpy", "sqlalchemy", "alembic", "dlib", "faiss", *NOT_ON_THE_SEARCH_PATH}, sorted(loaded)


def test_search_of_a_current_store_imports_no_alembic_nor_other_frameworks(store, tmp_path):
    query = next((DATA / "Colin_Powell").glob("*.jpg"))
    first = _probe("search", str(query), "--store", str(store), "-k", "2", "--json")  # builds and saves the index
    assert first["code"] == 0 and "sqlalchemy" in first["roots"]
    cold_cache = _probe("search", str(query), "--store", str(store), "-k", "2", "--json",
                        env={"FACEVAULT_CACHE": str(tmp_path / "cache")})  # converts dlib's ResNet, caches it
    assert cold_cache["code"] == 0 and "onnx" in cold_cache["roots"], cold_cache["stderr"][-2000:]
    r = _probe("search", str(query), "--store", str(store), "-k", "2", "--json",
               env={"FACEVAULT_CACHE": str(tmp_path / "cache")})
    assert r["code"] == 0, r["stderr"][-2000:]
    assert r["stdout"] == cold_cache["stdout"]
    doc = json.loads(r["stdout"])
    assert doc[0]["matches"][0]["identity"] == "Colin_Powell"
    loaded = set(r["roots"])
    assert {"dlib", "faiss", "onnxruntime"} <= loaded
    # the store's spaces come from sqlite3 and the fresh index from its files: SQLAlchemy is not needed either
    assert not loaded & {"sqlalchemy", *NOT_ON_THE_SEARCH_PATH}, sorted(loaded & {"sqlalchemy", *NOT_ON_THE_SEARCH_PATH})


def test_the_light_reader_sees_what_the_catalog_sees_and_steps_aside_otherwise(store, tmp_path):
    import shutil

    from facevault.core import settings as config
    from facevault.store import lite
    from facevault.store.catalog import Catalog

    st = config.resolve(str(store))
    assert lite.spaces(st) == Catalog(st).spaces() and len(lite.spaces(st)) == 1
    assert lite.spaces(config.resolve(str(tmp_path / "none"))) is None  # no store: Catalog says so
    assert lite.spaces(config.resolve(str(store), f"sqlite:///{store / 'catalog.db'}x")) is None  # a URL given
    newer = tmp_path / "newer"
    shutil.copytree(store, newer)
    with sqlite3.connect(newer / "catalog.db") as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    assert lite.spaces(config.resolve(str(newer))) is None
    r = _probe("search", str(next((DATA / "Colin_Powell").glob("*.jpg"))), "--store", str(newer))
    assert r["code"] == 1 and "newer" in r["stderr"] and "Traceback" not in r["stderr"], r["stderr"][-1500:]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "catalog.db").write_bytes(b"not a database" * 100)
    assert lite.spaces(config.resolve(str(broken))) is None


def test_the_cheap_head_is_alembics_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from facevault.store.catalog import _migrations_dir, script_head

    cfg = Config()
    cfg.set_main_option("script_location", _migrations_dir())
    assert script_head() == ScriptDirectory.from_config(cfg).get_current_head()


def test_schema_revision_reads_the_version_table_as_alembic_does(store):
    from alembic.runtime.migration import MigrationContext

    from facevault.core import settings as config
    from facevault.store import Catalog

    with Catalog(config.resolve(store)) as cat:
        with cat.engine.connect() as conn:
            assert cat.schema_revision() == MigrationContext.configure(conn).get_current_revision()


def test_an_old_store_is_still_migrated_on_open(tmp_path):
    """The fast path only skips alembic for a store at head: an older one is upgraded as before."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from facevault.core import settings as config
    from facevault.store import Catalog
    from facevault.store.catalog import _migrations_dir, script_head

    settings = config.resolve(tmp_path / "old")
    settings.store.mkdir(parents=True)
    cfg = Config()
    cfg.set_main_option("script_location", _migrations_dir())
    with create_engine(settings.db_url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    with Catalog(settings) as cat:
        assert cat.schema_revision() == script_head()
    with sqlite3.connect(settings.store / "catalog.db") as db:
        assert db.execute("select version_num from alembic_version").fetchone()[0] == script_head()


def test_hog_detector_comes_from_the_cache_with_the_same_detections(tmp_path, monkeypatch, lfw_small):
    import dlib

    from facevault.faces import imageio
    from facevault.faces.detect import dlib as dlib_mod

    monkeypatch.setenv("FACEVAULT_CACHE", str(tmp_path / "cache"))
    built = dlib_mod.frontal_face_detector(dlib)  # nothing cached yet: built, then saved
    saved = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(saved) == 2 and saved[0].endswith(".svm") and saved[1] == saved[0] + ".sha256"
    calls = []
    monkeypatch.setattr(dlib, "get_frontal_face_detector", lambda: calls.append(1))
    cached = dlib_mod.frontal_face_detector(dlib)  # loaded from the cache: dlib's builder is not called
    assert not calls
    for path in sorted(lfw_small.glob("*/*.jpg"))[:6]:
        rgb = imageio.load(path).rgb
        a, b = built.run(rgb, 1, 0.0), cached.run(rgb, 1, 0.0)
        assert [(r.left(), r.top(), r.right(), r.bottom()) for r in a[0]] == \
               [(r.left(), r.top(), r.right(), r.bottom()) for r in b[0]]
        assert list(a[1]) == list(b[1]) and list(a[2]) == list(b[2])


def test_a_damaged_or_unwritable_cache_only_costs_a_rebuild(tmp_path, monkeypatch):
    import dlib

    from facevault.faces.detect import dlib as dlib_mod

    cache = tmp_path / "cache"
    monkeypatch.setenv("FACEVAULT_CACHE", str(cache))
    dlib_mod.frontal_face_detector(dlib)
    svm = next(cache.glob("*.svm"))
    svm.write_bytes(svm.read_bytes()[:1000])  # truncated: its digest no longer matches
    assert dlib_mod.frontal_face_detector(dlib).num_detectors == 5
    assert svm.stat().st_size > 1000  # made again
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FACEVAULT_CACHE", str(blocker / "cache"))
    assert dlib_mod.frontal_face_detector(dlib).num_detectors == 5


def test_hog_loads_the_cnn_fallback_only_when_an_image_needs_it(tmp_path, monkeypatch, lfw_small):
    import numpy as np

    from facevault.faces import imageio
    from facevault.faces.detect.dlib import DlibHog

    monkeypatch.setenv("FACEVAULT_CACHE", str(tmp_path / "cache"))
    hog = DlibHog()
    assert hog._cnn is None
    rgb = imageio.load(next((lfw_small / "Colin_Powell").glob("*.jpg"))).rgb
    assert hog.detect(rgb) and hog._cnn is None  # found by the first HOG pass
    hog.detect(np.ascontiguousarray(np.rot90(rgb)))  # a face HOG misses: the CNN runs
    assert hog._cnn is not None and hog._cnn._shape is hog._shape  # one shape predictor for both
    assert DlibHog(fallback=False).cnn is not None  # still buildable on request


def test_missing_cnn_weights_still_fail_when_the_detector_is_built(tmp_path, monkeypatch):
    from facevault.core.errors import WeightsError
    from facevault.faces.detect import dlib as dlib_mod

    real = dlib_mod.weights.dlib_file

    def dlib_file(key, explicit=None):
        if key == "dlib-mmod":
            raise WeightsError("weights file mmod_human_face_detector.dat not found")
        return real(key, explicit)

    monkeypatch.setenv("FACEVAULT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dlib_mod.weights, "dlib_file", dlib_file)
    with pytest.raises(WeightsError):
        dlib_mod.DlibHog()
    assert dlib_mod.DlibHog(fallback=False)._cnn is None
