"""`facevault serve`: one warm process that answers searches of a store, so a call pays no start-up.

A cold `facevault search` spends ~0.6 s starting (interpreter, numpy, onnxruntime and its session, dlib's
models, the index) before its first query; a served one spends only the client's start and the queries. The
server holds one `Vault` (models, pipelines and indices loaded once) and answers, one request at a time:

- on its Unix socket (`client.socket_path`, the owner's only): `facevault search` itself (query paths read
  by the server, relative ones from the caller's folder), and anything that speaks HTTP
  (`curl --unix-socket`);
- on TCP when `--port` is given (127.0.0.1 unless `--host`): image bytes only, never paths.

Endpoints: `GET /v1/info`; `POST /v1/search` with a JSON body (paths, local socket only) or an image's bytes
(`?k=5&model=&detector=&threshold=&dataset=&name=`); `POST /v1/lookalikes` with `{"identity": NAME, "k": 5}`.
Answers are JSON: `{"space": {...}, "results": ...}` as `facevault search --json` prints them, or
`{"error": "one line", "kind": ...}` with 4xx/5xx. Every request re-reads the store's spaces, so an ingest
that lands while the server runs is searched at once (the index is extended or rebuilt as in any search).

The HTTP layer is the standard library's `http.server` (threads for the connections; the searches themselves
take turns on the one vault): it is meant for a user's own machine or behind a proxy, not as an internet-facing
service.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import signal
import socket
import socketserver
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from facevault.api import Vault
from facevault.core.errors import FacevaultError
from facevault.core.jsonio import jsonable
from facevault.core.version import __version__
from facevault.server import client

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """A request this server cannot read (malformed JSON, wrong field types): 400 with its one line."""


class Forbidden(Exception):
    """A request this transport does not take (paths over TCP): 403 with its one line."""


@dataclass
class Service:
    """What the handlers share: the vault, the lock the searches take turns on, what this server is."""

    vault: Vault
    verbose: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = field(default_factory=time.time)
    answered: int = 0

    def __post_init__(self) -> None:
        s = self.vault.settings
        self.identity = client.identity(s.store, s.db_url, s.weights_dir)
        self.key = client.store_key(s.store)

    def replaced(self) -> bool:
        """The store folder this server opened is gone, or another folder now stands at its path."""
        return client.store_key(self.vault.settings.store) != self.key

    def check_store(self) -> None:
        if self.replaced():
            raise FacevaultError(f"the store {self.identity['store']} was removed or replaced since this server "
                                 "started; restart `facevault serve`")

    def info(self) -> dict:
        return {"facevault": __version__, "pid": os.getpid(), "store": self.identity["store"],
                "uptime_s": round(time.time() - self.started, 1), "answered": self.answered}

    def mismatch(self, request: dict) -> str | None:
        """Why this server's answer would not be the caller's own (None: it would be)."""
        differ = [key for key in ("store", "db", "weights", "facevault") if request.get(key) != self.identity[key]]
        if self.replaced():
            differ.append("store (replaced since this server started)")
        theirs, mine = request.get("env") or {}, self.identity["env"]
        differ += [f"${name}" for name in sorted(set(theirs) | set(mine)) if theirs.get(name) != mine.get(name)]
        return f"this server differs from the caller in: {', '.join(differ)}" if differ else None

    def search(self, req: dict, local: bool) -> dict:
        """A JSON search: the queries' paths (or `identity` for lookalikes), k, model, detector, threshold,
        datasets."""
        queries = _strings(req, "queries")
        if queries is not None and not local:
            raise Forbidden("query paths are read only for callers on the local socket; POST the image's "
                            "bytes instead")
        identity = req.get("identity")
        if identity is not None and not isinstance(identity, str):
            raise BadRequest("identity must be a string")
        if (queries is None) == (identity is None):
            raise BadRequest("give queries (a list of paths) or identity (a name), not both")
        k, threshold, datasets = _int(req, "k", 5), _number(req, "threshold"), _strings(req, "datasets") or ()
        cwd = req.get("cwd") if isinstance(req.get("cwd"), str) else None
        self.check_store()
        with self.lock:
            space = self.vault.space(_name(req, "model"), _name(req, "detector"))
            if identity is not None:
                results: Any = self.vault.lookalikes(identity, k=k, model=space.model, detector=space.detector,
                                                     datasets=datasets)
            else:
                results = self.vault.search(queries, k=k, model=space.model, detector=space.detector,
                                            threshold=threshold, datasets=datasets, cwd=cwd)
            self.answered += 1
        return _answer(space, results)

    def upload(self, params: dict[str, list[str]], data: bytes) -> dict:
        """A search of one image sent as its bytes; the options come in the query string."""
        def one(name: str) -> str | None:
            values = params.get(name)
            return values[-1] if values else None

        try:
            k = int(one("k") or 5)
            threshold = float(one("threshold")) if one("threshold") is not None else None
        except ValueError:
            raise BadRequest("k must be a whole number and threshold a number") from None
        if k < 1 or (threshold is not None and not -1 <= threshold <= 1):
            raise BadRequest("k must be at least 1 and threshold within [-1, 1]")
        self.check_store()
        with self.lock:
            space = self.vault.space(one("model"), one("detector"))
            results = self.vault.search_bytes(data, name=one("name") or "image", k=k, model=space.model,
                                              detector=space.detector, threshold=threshold,
                                              datasets=params.get("dataset") or ())
            self.answered += 1
        return _answer(space, results)


def _answer(space, results: Any) -> dict:
    return {"space": {"label": space.label, "model": space.model, "detector": space.detector,
                      "threshold": space.threshold, "threshold_source": space.threshold_source},
            "results": results}


def _name(req: dict, key: str) -> str | None:
    value = req.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def _strings(req: dict, key: str) -> list[str] | None:
    value = req.get(key)
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise BadRequest(f"{key} must be a list of strings")
    return value


def _int(req: dict, key: str, default: int) -> int:
    value = req.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(f"{key} must be a whole number of at least 1")
    return value


def _number(req: dict, key: str) -> float | None:
    value = req.get(key)
    if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or not -1 <= value <= 1):
        raise BadRequest(f"{key} must be a number within [-1, 1]")
    return value


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = f"facevault/{__version__}"
    service: Service  # set on the subclass each server makes
    local: bool = False  # the Unix socket (paths allowed) rather than TCP
    timeout = 60  # seconds a caller may stall while sending its request (or reading the answer)

    def address_string(self) -> str:
        return "unix" if self.local else super().address_string()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
        if self.service.verbose:
            log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if urllib.parse.urlsplit(self.path).path == "/v1/info":
            self._send(200, self.service.info())
        else:
            self._send(404, {"error": f"no such endpoint: GET {self.path}", "kind": "not-found"})

    def do_POST(self) -> None:  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        if url.path not in ("/v1/search", "/v1/lookalikes"):
            self._send(404, {"error": f"no such endpoint: POST {url.path}", "kind": "not-found"})
            return
        cap = self.service.vault.settings.max_file_bytes
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._send(411, {"error": "a Content-Length header is needed", "kind": "bad-request"})
            return
        if length > cap:
            self._send(413, {"error": f"{length / 1e6:.1f} MB is over the {cap / 1e6:.1f} MB cap "
                                      "(FACEVAULT_MAX_FILE_MB)", "kind": "too-large"})
            return
        body = self.rfile.read(length)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        self._answer(lambda: self._dispatch(url, ctype, body))

    def _dispatch(self, url: urllib.parse.SplitResult, ctype: str, body: bytes) -> tuple[int, dict]:
        if ctype != "application/json":
            if url.path != "/v1/search":
                raise BadRequest("lookalikes take a JSON body")
            return 200, self.service.upload(urllib.parse.parse_qs(url.query), body)
        try:
            req = json.loads(body)
        except ValueError as exc:
            raise BadRequest(f"the body is not JSON ({exc})") from None
        if not isinstance(req, dict):
            raise BadRequest("the body must be a JSON object")
        if url.path == "/v1/lookalikes" and "identity" not in req:
            raise BadRequest("lookalikes need an identity")
        if self.local and "store" in req:  # a facevault caller: answer only if the answer is its own
            why = self.service.mismatch(req)
            if why is not None:
                return 409, {"error": why, "kind": "mismatch"}
        return 200, self.service.search(req, self.local)

    def _answer(self, work: Callable[[], tuple[int, dict]]) -> None:
        try:
            status, doc = work()
        except BadRequest as exc:
            status, doc = 400, {"error": str(exc), "kind": "bad-request"}
        except Forbidden as exc:
            status, doc = 403, {"error": str(exc), "kind": "forbidden"}
        except FacevaultError as exc:  # what the caller's own search would have said
            status, doc = 422, {"error": str(exc), "kind": exc.kind}
        except Exception as exc:  # noqa: BLE001 - a bug: one line to the caller, the trace in the server's log
            log.error("%s failed: %s: %s", self.path, type(exc).__name__, exc)
            if self.service.verbose >= 2:
                log.error("%s", traceback.format_exc())
            status, doc = 500, {"error": f"{type(exc).__name__}: {exc}", "kind": "server-error"}
        self._send(status, doc)

    def _send(self, status: int, doc: dict) -> None:
        data = json.dumps(doc, default=jsonable).encode("ascii")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the caller went away (Ctrl-C): nothing to tell it
            pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """socketserver's own TCP server: http.server's would look its host name up in DNS at start."""

    daemon_threads = True
    allow_reuse_address = True


class TCP6Server(TCPServer):
    address_family = socket.AF_INET6


@dataclass
class Serving:
    """A running server: where it listens, and how to stop it."""

    socket: str
    url: str | None
    space: str  # the label of the space loaded at start
    _unix: UnixServer
    _tcp: TCPServer | None
    _lock: Any

    def serve_forever(self) -> None:
        if self._tcp is not None:
            threading.Thread(target=self._tcp.serve_forever, name="facevault-serve-tcp", daemon=True).start()
        self._unix.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        for srv in (self._tcp, self._unix):
            if srv is not None:
                srv.server_close()
        try:
            os.unlink(self.socket)
        except OSError:
            pass
        self._lock.release()


def _private_folder(folder: str) -> None:
    """Make the socket folder, this user's only; refuse one that someone else owns."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    st = os.stat(folder)
    if st.st_uid != os.getuid():
        raise FacevaultError(f"{folder} belongs to another user; set XDG_RUNTIME_DIR to a folder of your own")
    if st.st_mode & 0o077:
        os.chmod(folder, 0o700)


def start(vault: Vault, model: str | None = None, detector: str | None = None, host: str = "127.0.0.1",
          port: int | None = None, verbose: int = 0) -> Serving:
    """Load the space's models and index, then listen (Unix socket; TCP too with `port`). One server per store:
    a second is refused while the first runs; a socket left by a killed one is replaced."""
    import filelock

    record = vault.space(model, detector)  # no store, no space: one line, nothing started
    vault.index(model=record.model, detector=record.detector)
    vault.pipeline(record)
    path = client.socket_path(vault.settings.store)
    if path is None:
        raise FacevaultError(f"the store folder {vault.settings.store} cannot be read")
    _private_folder(os.path.dirname(path))
    lock = filelock.FileLock(path + ".lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise FacevaultError(f"a facevault server already serves {vault.settings.store} (socket {path})") from None
    try:
        if os.path.lexists(path):  # we hold the lock, so whatever is there was left by a server that died
            os.unlink(path)
        service = Service(vault, verbose)
        unix_handler = type("UnixHandler", (Handler,), {"service": service, "local": True})
        old = os.umask(0o177)
        try:
            unix = UnixServer(path, unix_handler)
        except OSError as exc:  # e.g. a path over the ~100 bytes a Unix socket allows
            raise FacevaultError(f"cannot listen on {path} ({exc.strerror or exc}); set XDG_RUNTIME_DIR to a "
                                 "short folder of your own") from None
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        tcp, url = None, None
        if port is not None:
            tcp_handler = type("TCPHandler", (Handler,), {"service": service, "local": False})
            try:
                tcp = (TCP6Server if ":" in host else TCPServer)((host, port), tcp_handler)
            except OSError as exc:
                unix.server_close()
                os.unlink(path)
                raise FacevaultError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
            url = f"http://{f'[{host}]' if ':' in host else host}:{tcp.server_address[1]}"
        return Serving(path, url, record.label, unix, tcp, lock)
    except BaseException:
        lock.release()
        raise


def run(serving: Serving) -> None:
    """Serve until Ctrl-C, SIGTERM or SIGHUP; the socket is removed on the way out."""
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        serving.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        serving.close()


__all__ = ["Serving", "run", "start"]
