"""A throwaway PostgreSQL server for tests: initdb into a temporary folder, listen on a Unix socket in that
folder only (no TCP), stopped and deleted at the end. Uses the machine's Debian `postgresql` binaries.

    with PgServer() as pg:
        url = pg.url("facevault")   # postgresql+psycopg://postgres@/facevault?host=/tmp/...
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb (or the one on PATH), else None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
                   if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class PgServer:
    """One PostgreSQL server in a temporary folder (`start()` / `stop()`, or as a context manager)."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise FileNotFoundError("no PostgreSQL initdb binary (apt-get install postgresql)")
        self.root: Path | None = None
        self.user = "postgres"  # the database superuser's name (trust auth on the socket only)
        self._as: str | None = None
        if os.geteuid() == 0:
            import pwd

            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                    self._as = name
                    break
                except KeyError:
                    continue

    @property
    def socket_dir(self) -> Path:
        assert self.root is not None
        return self.root / "sock"

    def _run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as:  # initdb and postgres refuse to run as root: drop to an unprivileged account
            cmd = ["runuser", "-u", self._as, "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

    def start(self) -> "PgServer":
        # a short path: a Unix socket path is limited to ~107 bytes
        self.root = Path(tempfile.mkdtemp(prefix="fvpg-"))
        data = self.root / "data"
        self.socket_dir.mkdir()
        if self._as:
            import pwd

            pw = pwd.getpwnam(self._as)
            for path in (self.root, self.socket_dir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        self._run("initdb", "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync", env=env)
        opts = f"-c listen_addresses='' -c unix_socket_directories={self.socket_dir} -c fsync=off " \
               "-c max_connections=50 -c shared_buffers=64MB"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.root / "log"), "-o", opts, "-w", "-t", "60", "start",
                  env=env)
        return self

    def createdb(self, name: str) -> str:
        self._run("createdb", "-h", str(self.socket_dir), "-U", self.user, name)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://{self.user}@/{name}?host={self.socket_dir}"

    def stop(self) -> None:
        if self.root is None:
            return
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> "PgServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

