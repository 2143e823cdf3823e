"""Ends a local Ray cluster whose driver died without shutting it down (SIGKILL, OOM kill, a native crash).

`ray.init()` without an address starts the cluster's processes (gcs_server, raylet, dashboard and runtime-env
agents, workers) under the driver. Ray ties the gcs_server and raylet to the driver (PR_SET_PDEATHSIG), but its
agents only notice the raylet's death and then wait up to a minute trying to report it to the dead GCS, and
workers started in between may linger too. `Watchdog` starts this file as a small stdlib-only process that
holds the read end of a pipe from the driver and, every half second, records the driver's descendants. When
the pipe closes without the driver's "stop" line (the driver died), it ends every recorded process still
alive (the same pid with the same start time), plus any process tied by RAY_RAYLET_PID to a recorded raylet:
SIGTERM, then SIGKILL a moment later. Only processes the driver itself started are ever touched, so a cluster
given with --address (never a descendant of the driver) is left alone. Linux only (it reads /proc).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

POLL_S = 0.5
GRACE_S = 1.0  # after the driver's death, before SIGTERM (Ray's own fate-sharing goes first)
TERM_S = 2.0  # after SIGTERM, before SIGKILL


# ---------------------------------------------------------------- the watchdog process (stdlib only)
def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, start time) of `pid`, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()  # after "pid (comm) "
    if fields[0] == b"Z":
        return None
    return int(fields[1]), int(fields[19])


def _pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every live descendant of `root`."""
    stats = {p: s for p in _pids() if (s := _stat(p)) is not None}
    children: dict[int, list[int]] = {}
    for p, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(p)
    out, todo = {}, list(children.get(root, []))
    while todo:
        p = todo.pop()
        if p not in out and p != os.getpid():
            out[p] = stats[p][1]
            todo.extend(children.get(p, []))
    return out


def _is_raylet(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0", 1)[0].endswith(b"/raylet")
    except OSError:
        return False


def _tied_to(raylets: set[int]) -> dict[int, int]:
    """Live processes whose environment names one of `raylets` as their raylet (its agents and workers)."""
    marks = [f"RAY_RAYLET_PID={r}".encode() for r in raylets]
    out = {}
    for p in _pids():
        if p == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if any(m in env for m in marks) and (s := _stat(p)) is not None:
            out[p] = s[1]
    return out


def _alive(known: dict[int, int]) -> list[int]:
    return [p for p, start in known.items() if (s := _stat(p)) is not None and s[1] == start]


def _end(known: dict[int, int], raylets: set[int]) -> None:
    time.sleep(GRACE_S)
    known = {**known, **_tied_to(raylets)}
    for sig, wait in ((signal.SIGTERM, TERM_S), (signal.SIGKILL, 1.0)):
        left = _alive(known)
        for p in left:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = _alive(known)
        if not left:
            return


def watch(driver: int) -> int:
    """Run until the driver says "stop" (nothing to do) or its pipe closes without it (end its cluster)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the driver's to handle
    known: dict[int, int] = {}
    raylets: set[int] = set()
    buf = b""
    while True:
        for p, start in _descendants(driver).items():
            if p not in known:
                known[p] = start
                if _is_raylet(p):
                    raylets.add(p)
        ready, _, _ = select.select([0], [], [], POLL_S)
        if not ready:
            continue
        chunk = os.read(0, 64)
        buf += chunk
        if b"stop" in buf:
            return 0
        if not chunk:  # the driver is gone without shutting its cluster down
            _end(known, raylets)
            return 0


# ---------------------------------------------------------------- driver side
class Watchdog:
    """Started by the driver right after it started a local cluster; `stop()` after `ray.shutdown()`."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        if not sys.platform.startswith("linux"):
            return
        try:
            self._proc = subprocess.Popen([sys.executable, "-S", "-u", os.path.abspath(__file__), str(os.getpid())],
                                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True, close_fds=True)
        except OSError:
            self._proc = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.write(b"stop\n")
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(watch(int(sys.argv[1])))
