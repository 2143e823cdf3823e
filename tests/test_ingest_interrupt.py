"""An interrupted ingest says how many images it saved, and that number is what the catalog holds: a real
`facevault ingest` process stopped by SIGINT or SIGTERM after its first commit, and a real SIGINT that lands
while a batch is being committed. The rerun completes with exactly one vector per image."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

# commits every 5 results while tasks are of 4 images: most interrupts leave a part of a batch buffered
_CLI = ("import sys; import facevault.services.ingest as ing, facevault.services.ingest.writer as w; w.BATCH = 5; "
        "ing.TASK_IMAGES = 4; sys.argv[0] = 'facevault'; from facevault.cli import main; main()")


def _counts(store: Path) -> tuple[int, int, int]:
    """(scans, vectors, images with more than one vector in a space) in the store's SQLite catalog."""
    db = store / "catalog.db"
    if not db.exists():
        return 0, 0, 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        scans = con.execute("SELECT count(*) FROM scans").fetchone()[0]
        vecs = con.execute("SELECT count(*) FROM vectors").fetchone()[0]
        dup = con.execute("SELECT count(*) FROM (SELECT f.sha256, v.space_id FROM vectors v JOIN faces f "
                          "ON f.id = v.face_id GROUP BY f.sha256, v.space_id HAVING count(*) > 1)").fetchone()[0]
        return scans, vecs, dup
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0, 0, 0
    finally:
        con.close()


def _saved(text: str) -> int:
    m = re.search(r"interrupted: (\d+) images saved", text)
    assert m, text
    return int(m.group(1))


def _rerun_completes(data: Path, store: Path, done: int) -> None:
    again = run_cli("ingest", str(data), "--store", str(store), "--json")
    assert not again["interrupted"] and again["skipped"] == done and again["processed"] == 48 - done
    assert again["saved"] == 48 - done
    assert _counts(store) == (48, 48, 0)  # exactly one vector per image


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signalled_ingest_reports_what_it_committed(sig, dataset_copy, tmp_path):
    store = tmp_path / "store"
    env = {**os.environ, "FACEVAULT_WORKERS": "1"}
    # a test run started in the background (`pytest &`) inherits SIGINT ignored, and so would the child: give it
    # the default disposition, as a terminal's foreground job has, so Python installs its Ctrl-C handler
    proc = subprocess.Popen([sys.executable, "-c", _CLI, "ingest", str(dataset_copy), "--store", str(store)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and _counts(store)[0] == 0:
            time.sleep(0.05)
        assert proc.poll() is None, "the ingest ended before the first commit could be seen"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1 and "Traceback" not in err, (proc.returncode, err)
    scans, vecs, dup = _counts(store)
    assert 0 < scans < 48, "the signal came too late to interrupt the run"
    assert _saved(err) == scans == vecs and dup == 0  # the number said is the number committed
    _rerun_completes(dataset_copy, store, scans)


def test_a_sigint_during_a_commit_is_not_counted_until_committed(dataset_copy, tmp_path, monkeypatch):
    """A real SIGINT delivered while the writer commits its second batch: that batch is committed by the final
    flush (not dropped while counted), and the message counts exactly what the catalog holds."""
    from facevault.services import ingest
    from facevault.services.ingest import writer
    from facevault.store.catalog import Catalog

    monkeypatch.setattr(ingest, "TASK_IMAGES", 4)
    monkeypatch.setattr(writer, "BATCH", 5)
    monkeypatch.setattr(writer, "BATCH_SECONDS", 1e9)  # commits by count only
    real, calls = Catalog.write_results, {"n": 0}

    def write_results(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the signal arrives mid-commit, before the transaction is written
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the KeyboardInterrupt is raised here
            raise AssertionError("SIGINT was not delivered")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Catalog, "write_results", write_results)
    # Python's own Ctrl-C handler, even where this test process inherited SIGINT ignored (`pytest &`)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        store = tmp_path / "store"
        r = run_cli("ingest", str(dataset_copy), "--store", str(store), expect=1)
    finally:
        signal.signal(signal.SIGINT, previous)
    scans, vecs, dup = _counts(store)
    assert calls["n"] == 3  # the first batch, the interrupted one, and the final flush that commits it again
    assert _saved(r.output) == scans == vecs == 10 and dup == 0
    monkeypatch.setattr(Catalog, "write_results", real)
    _rerun_completes(dataset_copy, store, scans)
