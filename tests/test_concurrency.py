"""Several processes on one store: two first ingests, readers during a write, evaluate mid-ingest, and
workers that must not outlive their parent."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA, run_cli

CLI = [sys.executable, "-c", "import sys; from facevault.cli import main; sys.argv[0] = 'facevault'; main()"]


def test_two_first_ingests_into_a_new_store_never_race(tmp_path):
    data = tmp_path / "one" / "Colin_Powell"
    data.mkdir(parents=True)
    shutil.copy(DATA / "Colin_Powell" / "Colin_Powell_0001.jpg", data)
    for trial in range(10):
        store = tmp_path / f"store{trial}"
        env = {**os.environ, "FACEVAULT_STORE": str(store)}
        procs = [subprocess.Popen([*CLI, "ingest", str(data.parent), "--json"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=180) for p in procs]
        codes = [p.returncode for p in procs]
        for (out, err), code in zip(outs, codes):
            assert "Traceback" not in err, err
            assert code == 0 or "locked" in err or "another facevault process" in err, (code, err)
        assert 0 in codes, outs
        assert run_cli("status", "--store", str(store), "--json")


_SLOW_INGEST = """
import sys, time, facevault
import facevault.services.ingest as ing, facevault.services.ingest.writer as w
w.BATCH = 4; ing.TASK_IMAGES = 4
flush = w.Writer.flush
def slow_flush(self):  # each committed batch stays the latest for a while, whatever the machine's load
    flush(self)
    time.sleep(0.3)
w.Writer.flush = slow_flush
with facevault.open(sys.argv[1], workers=1) as v:
    v.ingest(sys.argv[2])
"""


def test_readers_work_while_an_ingest_writes_and_see_only_committed_images(tmp_path, dataset_copy):
    import facevault

    store = tmp_path / "store"
    writer = subprocess.Popen([sys.executable, "-c", _SLOW_INGEST, str(store), str(dataset_copy)],
                              stderr=subprocess.PIPE, text=True)
    seen, errors, trace = [], [], []  # trace: (seconds since start, seconds the read took, what it saw)
    t0 = time.time()
    deadline = time.time() + 240
    while writer.poll() is None and time.time() < deadline:
        if (store / "catalog.db").exists():
            t = time.time()
            try:
                with facevault.open(store) as vault:
                    seen.append(sum(sp.vectors for sp in vault.status().spaces))
                    trace.append((round(t - t0, 2), round(time.time() - t, 2), seen[-1]))
            except facevault.FacevaultError as exc:  # a store not migrated yet is the only acceptable miss
                errors.append(str(exc))
                trace.append((round(t - t0, 2), round(time.time() - t, 2), str(exc)[:80]))
        time.sleep(0.2)
    assert writer.wait(timeout=60) == 0, writer.stderr.read()
    assert seen == sorted(seen), seen  # committed vectors only ever grow
    assert len(set(seen)) >= 2, (trace, round(time.time() - t0, 2))  # readers saw the ingest in progress
    assert all("no facevault store" in e or "schema" in e for e in errors), errors


_MIGRATE_THEN_HOLD = """
import sys, time
from pathlib import Path
from alembic import command
from alembic.config import Config
from filelock import FileLock
from facevault.store.schema import migrations_dir
store = Path(sys.argv[1])
store.mkdir(parents=True)
(store / "catalog.db").touch()  # an empty database: what a reader finds while the first ingest creates the store
lock = FileLock(str(store / ".lock"))
lock.acquire()
print("locked", flush=True)
time.sleep(1.0)
cfg = Config()
cfg.set_main_option("script_location", migrations_dir())
cfg.set_main_option("sqlalchemy.url", f"sqlite:///{store / 'catalog.db'}")
command.upgrade(cfg, "head")  # migrated under the lock, which it then keeps (an ingest's whole run)
print("migrated", flush=True)
time.sleep(60)
"""


def test_a_reader_waits_for_a_first_ingests_migration_not_for_its_whole_run(tmp_path):
    """A store opened while another process creates it (schema not yet at head, writer lock held) is read as
    soon as the schema reaches head, although that process keeps the lock for its ingest; before, the reader
    waited for the lock itself, i.e. until the ingest ended (or 60 s, then "another process is writing")."""
    from facevault.core import settings as config
    from facevault.store.catalog import Catalog
    from facevault.store.schema import script_head

    store = tmp_path / "store"
    holder = subprocess.Popen([sys.executable, "-c", _MIGRATE_THEN_HOLD, str(store)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        t0 = time.monotonic()
        with Catalog(config.resolve(store)) as cat:  # opened during the migration window
            waited = time.monotonic() - t0
            assert cat.schema_revision() == script_head() and cat.spaces() == []
        assert holder.stdout.readline().strip() == "migrated"
        assert holder.poll() is None  # the lock is still held: the reader did not wait for it
        assert 0.5 < waited < 20, waited  # it waited for the migration (~1 s), not the lock (60 s)
    finally:
        holder.kill()
        holder.wait()


class _StopAfterOneTask:
    """A runner that is interrupted (Ctrl-C) after its first task: the store is left mid-ingest."""

    name = "stop-after-one"
    workers = 1

    def run(self, tasks, factory):
        from facevault.services.ingest.runner import process_task

        pipeline = factory()
        for task in tasks:
            yield process_task(pipeline, task)
            raise KeyboardInterrupt


def test_evaluate_mid_ingest_reports_not_yet_ingested_and_stores_no_threshold(dataset_copy):
    import facevault

    with facevault.open() as vault:
        s = vault.ingest(dataset_copy, runner=_StopAfterOneTask())
        assert s.interrupted and 0 < s.processed < 48
        ev = vault.evaluate(sample=300, calibrate=True).results[0]
        assert ev.not_ingested > 0  # pairs with an image the ingest has not reached yet
        assert not ev.missing.any()  # ... are never scored as "no face"
        assert ev.threshold_source is None and "not yet ingested" in ev.threshold_note
        assert vault.spaces()[0].threshold is None  # no threshold from an incomplete store
        out = " ".join(run_cli("evaluate", "--sample", "300").output.split())  # what the command says of it
        assert "missing a face (counted wrong) 0 " in out  # the pending images are not "no face"
        assert "pairs left out: their images are not in this store or not yet ingested in this space" in out
        assert "stored for search no (" in out and "not yet ingested in this space (incomplete store))" in out
        vault.ingest(dataset_copy)  # the ingest finishes: the same evaluation now stores its threshold
        done = vault.evaluate(sample=300, calibrate=True).results[0]
        assert done.not_ingested == 0 and done.threshold_source is not None
        assert vault.spaces()[0].threshold is not None


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


_POOL_INGEST = """
import sys, facevault
with facevault.open(sys.argv[1], workers=2) as v:
    v.ingest(sys.argv[2], workers=2)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_workers_die_when_their_parent_is_killed(tmp_path, dataset_copy):
    parent = subprocess.Popen([sys.executable, "-c", _POOL_INGEST, str(tmp_path / "store"), str(dataset_copy)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.time() + 120
    while time.time() < deadline and parent.poll() is None:
        workers = [c for c in _children(parent.pid)
                   if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()] if _alive(parent.pid) else []
        if len(workers) >= 2:
            break
        time.sleep(0.1)
    assert len(workers) >= 2, "the pool did not start"
    time.sleep(1.0)  # let the workers load their models
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    survivors = [w for w in workers if _alive(w)]
    for w in survivors:
        os.kill(w, signal.SIGKILL)
    assert not survivors, f"workers {survivors} outlived their parent"
