"""Asking a running `facevault serve` from another process: where a store's server listens, and one request.

A server listens on a Unix socket named after the store folder's device and inode, in a per-user runtime folder
(`$XDG_RUNTIME_DIR/facevault/`, else `$TMPDIR/facevault-UID/`, kept 0700; the socket itself is 0600), so only
its owner can reach it and `facevault search --store S` finds it without being told, under any path that
leads to the store. A request carries what
decides its answer besides its arguments (store, catalog URL, weights folder, the FACEVAULT_* environment,
the facevault version); a server that differs answers 409 and the caller searches in its own process.

This module is what a `facevault search` imports before it knows whether a server answers, so it uses only the
standard library's `os`, `socket` and `json`: the exchange is one HTTP/1.0 request over the socket
(the server is the standard library's `http.server`), written here in a few lines because `http.client`'s
import (ssl, email) alone costs ~20 ms, most of what a served call spends besides the search itself.
"""

from __future__ import annotations

import json
import os
import socket

from facevault.core import locations
from facevault.core.errors import FacevaultError
from facevault.core.version import __version__

#: environment variables that change a search's answer besides its arguments (the ones a request resolves
#: itself, the store, catalog and weights, are compared resolved; the model and detector are arguments)
_ENV_KEPT = ("DEEPFACE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")
_ENV_RESOLVED = frozenset({"FACEVAULT_STORE", "FACEVAULT_DB", "FACEVAULT_WEIGHTS", "FACEVAULT_MODEL",
                           "FACEVAULT_DETECTOR", "FACEVAULT_WORKERS", "FACEVAULT_NO_SERVER"})
CONNECT_TIMEOUT_S = 2.0


class ServerFailed(Exception):
    """A server took the request but gave no usable answer (it died, or failed); the caller searches itself."""


def runtime_dir() -> str:
    """The per-user folder of server sockets: $XDG_RUNTIME_DIR/facevault, else $TMPDIR (or /tmp)/facevault-UID."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        return os.path.join(base, "facevault")
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", f"facevault-{os.getuid()}")


def store_key(store: str | os.PathLike) -> str | None:
    """The store folder's device and inode ("803-1a2b"), or None when there is no such folder."""
    try:
        st = os.stat(store)
    except OSError:
        return None
    return f"{st.st_dev:x}-{st.st_ino:x}"


def socket_path(store: str | os.PathLike) -> str | None:
    """Where the server of the store at `store` listens, whether or not one runs (None: no store folder)."""
    key = store_key(store)
    return None if key is None else os.path.join(runtime_dir(), key + ".sock")


def private(folder: str) -> bool:
    """The folder is this user's and nobody else's (a socket in anyone else's folder is never trusted)."""
    try:
        st = os.stat(folder)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o077


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if (k.startswith("FACEVAULT_") and k not in _ENV_RESOLVED) or k in _ENV_KEPT}


def identity(store: str | os.PathLike, db_url: str, weights_dir: str | None) -> dict[str, object]:
    """What must be equal between a server and a caller for the server's answer to be the caller's."""
    return {"store": os.path.realpath(store), "db": db_url,
            "weights": os.path.realpath(weights_dir) if weights_dir else None,
            "env": environment(), "facevault": __version__}


def exchange(path: str, method: str, target: str, body: bytes = b"",
             content_type: str = "application/json") -> tuple[int, bytes] | None:
    """One HTTP/1.0 request to the server listening at `path`: (status, body), or None when no server listens
    there. ServerFailed when one took the request and the exchange broke."""
    if not private(os.path.dirname(path)):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect(path)
        except OSError:  # no socket, or a stale one left by a server that was killed
            return None
        sock.settimeout(None)  # a search of many images takes as long as it takes
        head = (f"{method} {target} HTTP/1.0\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        try:
            sock.sendall(head.encode("ascii") + body)
            chunks = []
            while True:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise ServerFailed(f"the exchange broke ({exc})") from None
    finally:
        sock.close()
    reply = b"".join(chunks)
    status_line, _, rest = reply.partition(b"\r\n")
    _, sep, payload = rest.partition(b"\r\n\r\n")
    parts = status_line.split(b" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ServerFailed(f"not an HTTP answer ({len(reply)} bytes)")
    return int(parts[1]), payload


def ask(store: str | os.PathLike, db_url: str, weights_dir: str | None, target: str, request: dict) -> dict | None:
    """POST `request` (plus the caller's identity) to the store's server: its answer, or None when no server
    answers for this store or it serves another configuration. A FacevaultError the server met is raised here
    with its one-line message, as the caller's own search would have; ServerFailed when the server failed."""
    try:
        doc = {**identity(store, db_url, weights_dir), "cwd": os.getcwd(), **request}
    except OSError:  # no current folder any more: the caller's own search says what is wrong
        return None
    path = socket_path(store)
    got = None if path is None else exchange(path, "POST", target, json.dumps(doc).encode("ascii"))
    if got is None:
        return None
    status, payload = got
    try:
        answer = json.loads(payload)
    except ValueError:
        raise ServerFailed(f"HTTP {status} with a body that is not JSON") from None
    if status == 200 and isinstance(answer, dict):
        return answer
    error = answer.get("error", "") if isinstance(answer, dict) else ""
    if status == 409:  # another configuration: this process searches itself
        return None
    if status == 422:
        raise FacevaultError(error)
    raise ServerFailed(f"HTTP {status}: {error}")


def search(store: str | os.PathLike | None, db: str | None, weights_dir: str | os.PathLike | None, *,
           queries: list[str] | None = None, identity: str | None = None, k: int = 5, model: str | None = None,
           detector: str | None = None, threshold: float | None = None, datasets: list[str] | tuple = ()) -> dict | None:
    """A `facevault search` asked of the store's server (store, catalog and weights resolved from the options and
    FACEVAULT_* as the search itself would): the answer, or None as `ask` says. `queries` are sent as given; the
    server reads each as a Path, as click's Path type does."""
    request = {"k": k, "model": model, "detector": detector, "threshold": threshold, "datasets": list(datasets)}
    request.update({"identity": identity} if identity is not None else {"queries": list(queries or ())})
    where = locations.store(store)
    return ask(where, locations.db_url(where, db), locations.weights_dir(weights_dir), "/v1/search", request)
