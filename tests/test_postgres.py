"""The catalog on a real PostgreSQL server (started by tests/pgserver.py): migrations from empty, float32 bytea
vectors, the advisory writer lock across processes, idempotent batch writes. Skipped without initdb or psycopg."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pgserver import find_bindir
from sqlalchemy import func, inspect, select

from facevault.core import settings as config
from facevault.core.errors import StoreLocked
from facevault.core.types import Detection, ImageResult, Space
from facevault.store.catalog import Catalog

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'facevault[postgres]')")
if find_bindir() is None:
    pytest.skip("no PostgreSQL initdb binary on this machine (apt-get install postgresql)", allow_module_level=True)



def _catalog(tmp_path, url: str | None) -> Catalog:
    return Catalog(config.resolve(store=tmp_path / "store", db=url), create=True)


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from facevault.store.catalog import _migrations_dir

    cfg = Config()
    cfg.set_main_option("script_location", _migrations_dir())
    return ScriptDirectory.from_config(cfg).get_current_head()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_run_from_empty(backend, tmp_path, request):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    with _catalog(tmp_path, url) as cat:
        assert cat.engine.dialect.name == backend
        assert cat.schema_revision() == _head()
        insp = inspect(cat.engine)
        tables = set(insp.get_table_names())
        assert {"images", "identities", "faces", "vectors", "scans", "spaces", "meta"} <= tables
        vec_type = {c["name"]: c["type"] for c in insp.get_columns("vectors")}["vector"]
        assert type(vec_type).__name__ in (("BYTEA",) if backend == "postgresql" else ("BLOB",))
        assert "landmark_scheme" in {c["name"] for c in insp.get_columns("faces")}  # 0003 ran


def _results(n: int, dim: int = 512, seed: int = 0) -> list[ImageResult]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = rng.standard_normal(dim).astype(np.float32)
        out.append(ImageResult(sha256=f"{i:064x}", width=250, height=250,
                               faces=[Detection(10.0, 20.0, 100.0, 100.0, 0.9, "hog-up1")], subject=0,
                               vectors={0: v / np.linalg.norm(v)}, norms={0: float(np.linalg.norm(v))}))
    return out


def test_retried_batch_never_duplicates(tmp_path, pg_url):
    from facevault.store.models import Face, Scan, Vector

    with _catalog(tmp_path, pg_url) as cat:
        rec = cat.ensure_space(Space("dlib", "dlib-hog", "dlib-chip", 512), None)
        batch = _results(20)
        cat.write_results(rec.id, "dlib-hog", batch)
        cat.write_results(rec.id, "dlib-hog", batch[5:15])  # a retried (partly overlapping) batch
        with cat.session() as s:
            assert s.scalar(select(func.count()).select_from(Vector)) == 20
            assert s.scalar(select(func.count()).select_from(Face)) == 20
            assert s.scalar(select(func.count()).select_from(Scan)) == 20
            blob = s.scalar(select(Vector.vector).limit(1))
        assert isinstance(blob, bytes) and len(blob) == 512 * 4  # float32 bytea


def _locker(url: str, store, hold: float) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import sys, time
        from facevault.core import settings
        from facevault.core.errors import StoreLocked
        from facevault.store.catalog import Catalog
        cat = Catalog(settings.resolve(store={str(store)!r}, db={url!r}), create=True)
        try:
            cat.lock()
        except StoreLocked as exc:
            print("LOCKED", exc, flush=True); sys.exit(3)
        print("GOT", flush=True)
        time.sleep({hold})
        cat.close()
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_advisory_lock_keeps_one_writer_across_processes(tmp_path, pg_url):
    with _catalog(tmp_path / "a", pg_url) as a:
        a.lock()
        other = _locker(pg_url, tmp_path / "b", 0)  # another machine: its own store folder, the same database
        out, _ = other.communicate(timeout=60)
        assert other.returncode == 3 and out.startswith("LOCKED"), out
        with _catalog(tmp_path / "c", pg_url) as c, pytest.raises(StoreLocked):
            c.lock()  # a second connection of this process is refused as well
        a.lock()  # re-entrant for its holder
        a.unlock()
        a.unlock()
        other = _locker(pg_url, tmp_path / "b", 0)
        out, _ = other.communicate(timeout=60)
        assert other.returncode == 0 and out.startswith("GOT"), out


def test_lock_of_a_killed_writer_is_released(tmp_path, pg_url):
    holder = _locker(pg_url, tmp_path / "b", 120)
    assert holder.stdout.readline().startswith("GOT")
    with _catalog(tmp_path / "a", pg_url) as a:
        with pytest.raises(StoreLocked):
            a.lock()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        a.lock(wait=30)  # the server ends the dead session and its lock
        a.unlock()


def test_missing_driver_is_one_line(tmp_path, monkeypatch):
    from conftest import DATA, run_cli

    monkeypatch.setitem(sys.modules, "psycopg", None)
    res = run_cli("ingest", str(DATA), "--limit", "1", "--db", "postgresql+psycopg://nobody@/nothing?host=/nonexistent", expect=1)
    assert "facevault[postgres]" in res.output and len(res.output.strip().splitlines()) == 1, res.output
