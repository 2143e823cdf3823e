"""A SIGKILLed driver of a local Ray cluster it started itself (`--engine ray`, no `--address`) leaves no
process of that Ray session behind: gcs_server, raylet, agents and workers are all gone within seconds
(Ray alone leaves its dashboard and runtime-env agents for about a minute)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA

pytest.importorskip("ray", reason="ray is not installed (pip install 'facevault[ray]')")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

BOUND_S = 20  # Ray's agents alone linger ~60 s after their raylet dies


def _stat(pid: int) -> tuple[int, int] | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    return None if fields[0] == b"Z" else (int(fields[1]), int(fields[19]))


def _pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def _descendants(root: int) -> dict[int, int]:
    stats = {p: s for p in _pids() if (s := _stat(p)) is not None}
    out, todo = {}, [p for p, s in stats.items() if s[0] == root]
    while todo:
        p = todo.pop()
        if p not in out:
            out[p] = stats[p][1]
            todo.extend(q for q, s in stats.items() if s[0] == p)
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _uses(pid: int, session: str) -> bool:
    """True when `pid` has the session's directory in its command line or among its open files."""
    if any(session in a for a in _cmdline(pid)):
        return True
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(session):
                    return True
            except OSError:
                continue
    except OSError:
        pass
    return False


def _session_left(session: str, known: dict[int, int]) -> list[int]:
    me = os.getpid()
    left = {p for p, start in known.items() if (s := _stat(p)) is not None and s[1] == start}
    left |= {p for p in _pids() if p != me and _stat(p) is not None and _uses(p, session)}
    return sorted(left)


def _scans(store: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{store / 'catalog.db'}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM scans").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_sigkill_of_a_local_ray_driver_leaves_no_ray_process(tmp_path):
    store = tmp_path / "store"
    code = ("import sys; import facevault.services.ingest.writer as w; w.BATCH = 4; sys.argv[0] = 'facevault'; "
            "from facevault.cli import main; main()")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    driver = subprocess.Popen([sys.executable, "-c", code, "ingest", str(DATA), "--store", str(store), "--engine",
                               "ray", "--json"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    known: dict[int, int] = {}
    session = ""
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and driver.poll() is None and _scans(store) == 0:
            time.sleep(0.2)
        assert driver.poll() is None, "the driver finished before it could be killed (or failed)"
        known = _descendants(driver.pid)
        for p in known:
            for a in _cmdline(p):
                if a.startswith("--log_dir=") and "session_" in a:
                    session = str(Path(a.split("=", 1)[1]).parent)
        assert session, f"no Ray session found among the driver's processes {known}"
        watchdogs = [p for p in known if any(a.endswith("ray_watchdog.py") for a in _cmdline(p))]
        assert len(watchdogs) == 1, "the driver started no watchdog"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + BOUND_S
        left = _session_left(session, known)
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = _session_left(session, known)
        assert not left, f"processes of Ray session {session} outlived their driver: " + "; ".join(
            f"{p}: {' '.join(_cmdline(p))[:120]}" for p in left)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for p in _session_left(session, known) if session else []:  # only this test's session, never others
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
