"""Store-level failures: a corrupt database, a newer schema, a full disk, a read-only store. Each is one line
and a non-zero exit, nothing committed is lost, and a read-only store can still be read. `facevault check`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA, ingest_store, run_cli

from facevault.cli import cli

CLI = [sys.executable, "-c", "import sys; from facevault.cli import main; sys.argv[0] = 'facevault'; main()"]


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _one_line_failure(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.startswith("Error")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    return ingest_store(tmp_path_factory.mktemp("failures"))


@pytest.fixture
def store(stored, tmp_path) -> Path:
    import shutil

    dst = tmp_path / "store_copy"
    shutil.copytree(stored, dst)
    return dst


def _vectors(store: Path) -> int:
    with sqlite3.connect(store / "catalog.db") as db:
        return db.execute("select count(*) from vectors").fetchone()[0]


def test_corrupt_database_is_one_line(store):
    with open(store / "catalog.db", "r+b") as f:
        f.write(b"this is not a sqlite file" * 8)
    for args in (("status", "--store", str(store)), ("ingest", str(DATA), "--store", str(store))):
        line = _one_line_failure(_cli(*args))
        assert "corrupt" in line
    p = subprocess.run([*CLI, "status", "--store", str(store)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) <= 2


def test_newer_schema_is_refused_in_one_line(store):
    with sqlite3.connect(store / "catalog.db") as db:
        db.execute("update alembic_version set version_num = '9999_from_the_future'")
    line = _one_line_failure(_cli("status", "--store", str(store)))
    assert "newer" in line and "9999_from_the_future" in line
    with sqlite3.connect(store / "catalog.db") as db:  # nothing was touched
        assert db.execute("select version_num from alembic_version").fetchone()[0] == "9999_from_the_future"


def test_full_disk_is_one_line_and_keeps_what_was_committed(store, tmp_path, monkeypatch):
    """SQLite's max_page_count gives the very error a full disk gives (SQLITE_FULL) on the real write path."""
    import facevault.services.ingest.writer as writer_mod
    from facevault.store import catalog as catalog_mod

    before = _vectors(store)
    with sqlite3.connect(store / "catalog.db") as db:
        pages = db.execute("pragma page_count").fetchone()[0]
    more = tmp_path / "more"  # new contents (flipped images) so that vectors must be written
    from PIL import Image

    for ident in ("Colin_Powell", "Tony_Blair"):
        (more / ident).mkdir(parents=True)
        for i in range(1, 7):
            img = Image.open(DATA / ident / f"{ident}_{i:04d}.jpg").transpose(Image.FLIP_LEFT_RIGHT)
            img.save(more / ident / f"flip_{i}.jpg")
    real = catalog_mod._sqlite_pragmas

    def tight(conn, rec):
        real(conn, rec)
        conn.execute(f"PRAGMA max_page_count={pages + 1}")

    monkeypatch.setattr(catalog_mod, "_sqlite_pragmas", tight)
    monkeypatch.setattr(writer_mod, "BATCH", 2)
    result = _cli("ingest", str(more), "--store", str(store))
    line = _one_line_failure(result)
    assert "full" in line and "committed before is kept" in line
    monkeypatch.setattr(catalog_mod, "_sqlite_pragmas", real)
    assert _vectors(store) >= before  # what was committed is still there
    s = run_cli("status", "--store", str(store), "--json")
    assert s  # and the store still opens


def _read_only_mount(store: Path, tmp_path: Path):
    """A read-only bind mount of `store` (root only), else None."""
    if os.geteuid() != 0:
        return None
    ro = tmp_path / "ro"
    ro.mkdir()
    ok = subprocess.run(["mount", "--bind", str(store), str(ro)], capture_output=True).returncode == 0
    if ok and subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True).returncode == 0:
        return ro
    if ok:
        subprocess.run(["umount", str(ro)])
    return None


@pytest.fixture
def read_only_store(store, tmp_path, monkeypatch):
    ro = _read_only_mount(store, tmp_path)
    if ro is None:  # not root (permission bits do not stop root): the read-only switch instead
        monkeypatch.setenv("FACEVAULT_READ_ONLY", "1")
        yield store
        return
    try:
        yield ro
    finally:
        subprocess.run(["umount", str(ro)])


def test_read_only_store_can_be_read_not_written(read_only_store):
    ro = str(read_only_store)
    s = run_cli("status", "--store", ro, "--json")
    assert s
    ev = run_cli("evaluate", "--store", ro, "--no-calibrate", "--sample", "200", "--json")
    assert ev
    hits = run_cli("search", str(DATA / "Colin_Powell" / "Colin_Powell_0001.jpg"), "--store", ro, "--json")
    assert hits
    line = _one_line_failure(_cli("ingest", str(DATA), "--store", ro))
    assert "read-only" in line


def test_check_finds_and_repairs_orphans_without_touching_referenced_vectors(store):
    ok = run_cli("check", "--store", str(store), "--json")
    assert ok["ok"] and ok["integrity"] == ["ok"]
    before = _vectors(store)
    with sqlite3.connect(store / "catalog.db") as db:
        blob = db.execute("select vector from vectors limit 1").fetchone()[0]
        db.execute("insert into vectors (face_id, space_id, vector, norm) values (999999, 1, ?, 1.0)", (blob,))
        db.execute("insert into scans (sha256, space_id, status, faces, created_at) "
                   "values ('0' , 42, 'ok', 1, '2026-01-01')")
        db.execute("insert into faces (sha256, detector, idx, x, y, w, h, score, is_subject) "
                   "values ('feed', 'dlib-hog', 0, 1, 1, 10, 10, 1.0, 1)")
    r = _cli("check", "--store", str(store), "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["orphans"] == {"vectors without a face": 1, "vectors of a missing space": 0,
                              "faces without an image": 1, "scans of a missing space": 1}
    fixed = run_cli("check", "--store", str(store), "--repair", "--json")
    assert fixed["ok"] and fixed["repaired"]["vectors without a face"] == 1
    assert _vectors(store) == before
    assert run_cli("check", "--store", str(store), "--json")["ok"]


def test_check_reports_vectors_of_the_wrong_length(store):
    with sqlite3.connect(store / "catalog.db") as db:
        vid = db.execute("select id from vectors limit 1").fetchone()[0]
        db.execute("update vectors set vector = ? where id = ?", (b"\0" * 12, vid))
    r = _cli("check", "--store", str(store), "--repair")
    assert r.exit_code == 1 and "length" in r.output
    with sqlite3.connect(store / "catalog.db") as db:  # reported, never deleted
        assert db.execute("select count(*) from vectors where id = ?", (vid,)).fetchone()[0] == 1


def test_vault_check_api(store):
    import facevault

    with facevault.open(store) as vault:
        rep = vault.check()
    assert rep.ok and rep.database_ok and rep.indices and rep.indices[0]["space_id"] == 1


@pytest.mark.parametrize("damage", ["index file deleted", "map truncated"])
def test_check_finds_a_missing_or_damaged_index_and_repair_rebuilds_it(store, damage):
    """The index is derived data: a pointer whose files are gone or damaged is reported as such (not "fresh",
    which compares revisions only), and --repair rebuilds it; search answered the same before and after."""
    query = str(DATA / "Colin_Powell" / "Colin_Powell_0001.jpg")
    before = run_cli("search", query, "--store", str(store), "--json")  # builds the index
    assert run_cli("check", "--store", str(store), "--json")["indices"][0]["unreadable"] is None
    folder = store / "indices"
    if damage == "index file deleted":
        next(folder.glob("*.faiss")).unlink()
    else:
        npz = next(folder.glob("*.map.npz"))
        npz.write_bytes(npz.read_bytes()[:100])
    import shutil

    shutil.copytree(store, store.parent / "searched")  # search on a damaged index: it builds a new one
    assert run_cli("search", query, "--store", str(store.parent / "searched"), "--json") == before
    r = _cli("check", "--store", str(store))
    line = _one_line_failure(r)
    assert r.exit_code == 1 and "cannot be loaded" in line and ("missing" in line or "cannot be read" in line)
    fixed = run_cli("check", "--store", str(store), "--repair", "--json")
    assert fixed["ok"] and fixed["indices"][0]["rebuilt"] and fixed["repaired"]["indices rebuilt"] == 1
    assert run_cli("check", "--store", str(store), "--json")["ok"]
    assert run_cli("search", query, "--store", str(store), "--json") == before
