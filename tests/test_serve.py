"""`facevault serve`: a running server answers `facevault search` with exactly what the search's own process
prints, on real faces and the dlib default; it steps aside when its answer would not be the caller's (another
configuration, a killed server, a replaced store, a broken server); it sees an ingest that lands while it runs;
and over TCP it takes image bytes, never paths."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from pathlib import Path

import pytest

from conftest import DATA, HERE, ingest_store

QUERIES = HERE / "data" / "queries"


@pytest.fixture(autouse=True)
def _runtime_dir(monkeypatch):
    """Each test's sockets in a folder of its own, with a short path (a Unix socket's is limited to ~100 bytes)."""
    folder = tempfile.mkdtemp(prefix="fvrt")
    monkeypatch.setenv("XDG_RUNTIME_DIR", folder)
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return ingest_store(tmp_path_factory.mktemp("serve"))


def fv(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The installed command line (`python -m facevault`, the console script's entry), in a fresh process."""
    return subprocess.run([sys.executable, "-m", "facevault", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, cwd=cwd)


class Server:
    """`facevault serve` in a child process, ready once it has printed its JSON line."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "facevault", "serve", *args, "--json"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(180)
        if not line or not line[0].strip():
            self.proc.kill()
            raise AssertionError(f"serve did not start: {self.proc.stderr.read()[-3000:]}")
        self.info = json.loads(line[0])
        self.socket = self.info["socket"]

    def answered(self) -> int:
        from facevault.server import client

        status, body = client.exchange(self.socket, "GET", "/v1/info")
        assert status == 200
        return json.loads(body)["answered"]

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, err

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()


def test_a_served_search_prints_what_the_search_itself_prints(store, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    folder = tmp_path / "qq"
    shutil.copytree(QUERIES, folder)
    (folder / "empty.jpg").write_bytes(b"")
    s = str(store)
    tony = str(QUERIES / "Tony_Blair_0010.jpg")
    forms = [  # (argv, working folder): the fast path's plain forms and ones only click reads
        (["search", tony, "queries", str(text), str(folder), "--store", s, "-k", "2", "--json"], HERE / "data"),
        (["search", "--json", f"--store={s}", "-m", "dlib", "--detector=dlib-hog", "--threshold", "0.5", "--",
          "queries/Serena_Williams_0010.jpg"], HERE / "data"),
        (["search", tony, "--store", s, "-k3", "--json"], None),  # -k3: click's form only
        (["search", "--identity", "Tony_Blair", "--store", s, "-k", "3", "--json"], None),
        (["search", tony, "--store", s, "-k", "2"], None),  # tables (TSV when piped)
    ]
    with Server("--store", s) as server:
        for argv, cwd in forms:
            before = server.answered()
            served = fv(*argv, cwd=cwd)
            assert server.answered() == before + 1, (argv, served.stderr)
            local = fv("search", "--no-server", *argv[1:], cwd=cwd)
            assert server.answered() == before + 1
            assert served.returncode == local.returncode == 0, (argv, served.stderr, local.stderr)
            assert served.stdout == local.stdout, argv
            if "--json" in argv:
                assert served.stderr == local.stderr == "", argv
            else:
                assert "answered by `facevault serve`" in served.stderr
        doc = json.loads(fv(*forms[0][0], cwd=forms[0][1]).stdout)
        assert [(q["query"], bool(q.get("error"))) for q in doc][:3] == [(tony, False), ("queries/Serena_Williams_0010.jpg", False),
                                                                     ("queries/Tony_Blair_0010.jpg", False)]
        assert doc[0]["matches"][0]["identity"] == "Tony_Blair"
        assert doc[1]["matches"][0]["identity"] == "Serena_Williams"
        errors = {q["query"]: q["error"] for q in doc if q.get("error")}
        assert errors[str(text)].startswith("not-an-image") and errors[f"{folder}/empty.jpg"].startswith("empty-file")
        # errors: one line each, and the same exit, whichever process answers
        for argv in (["search", "--identity", "Nobody", "--store", s, "--json"],
                     ["search", tony, "-m", "no-such-model", "--store", s, "--json"],
                     ["search", str(text), "--store", s, "--json"]):
            served, local = fv(*argv), fv(*argv, "--no-server")
            assert served.returncode == local.returncode == 1, (argv, served.stderr)
            assert served.stdout == local.stdout and served.stderr == local.stderr, argv
            assert len(served.stderr.strip().splitlines()) == 1 and "Traceback" not in served.stderr
        code, err = server.stop()
    assert code == 0 and "Traceback" not in err
    assert not os.path.exists(server.socket)  # removed on the way out


def test_the_fast_path_reads_only_plain_forms(monkeypatch):
    from facevault.entry import _parse

    monkeypatch.delenv("FACEVAULT_MODEL", raising=False)
    monkeypatch.delenv("FACEVAULT_DETECTOR", raising=False)
    monkeypatch.delenv("FACEVAULT_NO_SERVER", raising=False)
    got = _parse(["a.jpg", "--json", "--store=S", "-m", "dlib", "--dataset", "x", "--dataset=y", "-k", "2", "--",
                  "-b.jpg"])
    assert got == {"images": ["a.jpg", "-b.jpg"], "dataset": ["x", "y"], "store": "S", "model": "dlib", "k": 2,
                   "threshold": None, "detector": None}
    monkeypatch.setenv("FACEVAULT_DETECTOR", "yunet")
    assert _parse(["--identity", "X", "--json"])["detector"] == "yunet"
    for argv in (["a.jpg"],  # tables: click renders them
                 ["a.jpg", "--json", "--no-server"], ["a.jpg", "--json", "-k=2"], ["a.jpg", "--json", "-k2"],
                 ["a.jpg", "--json", "-k", "0"], ["a.jpg", "--json", "--threshold", "2"],
                 ["a.jpg", "--json", "--threshold", "nan"], ["a.jpg", "--json", "--store", ""],
                 ["a.jpg", "--json", "--store"], ["a.jpg", "--json", "--store", "--db"], ["a.jpg", "--json", "-h"],
                 ["a.jpg", "--json", "--verbose"], ["--json"], ["a.jpg", "--identity", "X", "--json"]):
        assert _parse(argv) is None, argv
    monkeypatch.setenv("FACEVAULT_NO_SERVER", "1")
    assert _parse(["a.jpg", "--json"]) is None


def test_an_ingest_that_lands_while_serving_is_searched_at_once(tmp_path):
    first, later = tmp_path / "first", tmp_path / "later"
    for name in ("Colin_Powell", "George_W_Bush", "Laura_Bush"):
        shutil.copytree(DATA / name, first / name)
    shutil.copytree(DATA / "Tony_Blair", later / "Tony_Blair")
    store = str(tmp_path / "store")
    assert fv("ingest", str(first), "--store", store, "--json").returncode == 0
    query = str(QUERIES / "Tony_Blair_0010.jpg")
    with Server("--store", store) as server:
        before = json.loads(fv("search", query, "--store", store, "--json").stdout)
        assert before[0]["matches"][0]["identity"] != "Tony_Blair"
        r = fv("ingest", str(later), "--store", store, "--json")  # a second dataset of the store
        assert r.returncode == 0, r.stderr
        n = server.answered()
        after = fv("search", query, "--store", store, "-k", "4", "--json")
        assert server.answered() == n + 1
        assert json.loads(after.stdout)[0]["matches"][0]["identity"] == "later/Tony_Blair"  # "dataset/identity" once a store holds two
        assert after.stdout == fv("search", query, "--store", store, "-k", "4", "--json", "--no-server").stdout


def test_a_server_steps_aside_when_its_answer_would_not_be_the_callers(store, tmp_path):
    s, query = str(store), str(QUERIES / "Tony_Blair_0010.jpg")
    local = fv("search", query, "--store", s, "--json", "--no-server").stdout
    with Server("--store", s) as server:
        # another configuration: a FACEVAULT_* setting, another weights folder; this process searches itself
        for env, extra in (({"FACEVAULT_MAX_PIXELS": "2000000"}, ()), ({}, ("--weights", str(tmp_path)))):
            n = server.answered()
            r = fv("search", query, "--store", s, "--json", *extra, env=env)
            assert r.returncode == 0 and r.stdout == local and server.answered() == n, r.stderr
        # a second server for the same store is refused in one line
        second = fv("serve", "--store", s)
        assert second.returncode == 1 and "already serves" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        # a store moved away and another put at its path: the old server's answer is not this store's
        moved = tmp_path / "moved"
        shutil.move(s, moved)
        try:
            shutil.copytree(moved, s)
            n = server.answered()
            r = fv("search", query, "--store", s, "--json")
            assert r.returncode == 0 and r.stdout == local and server.answered() == n, r.stderr
        finally:
            shutil.rmtree(s)
            shutil.move(moved, s)
        # killed without a chance to clean up: its socket stays, and is passed over
        code, _ = server.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL and os.path.exists(server.socket)
    r = fv("search", query, "--store", s, "--json")
    assert r.returncode == 0 and r.stdout == local and r.stderr == ""
    with Server("--store", s) as again:  # and a new server replaces it
        assert again.socket == server.socket
        n = again.answered()
        assert fv("search", query, "--store", s, "--json").stdout == local and again.answered() == n + 1


def test_a_broken_server_is_named_and_the_search_runs_here(store):
    from facevault.server import client

    path = client.socket_path(store)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()

    def hang_up() -> None:  # takes each request and closes without a word
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(1 << 16)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        query = str(QUERIES / "Tony_Blair_0010.jpg")
        r = fv("search", query, "--store", str(store), "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)[0]["matches"][0]["identity"] == "Tony_Blair"
        assert "the facevault server of this store failed" in r.stderr and "searching here" in r.stderr
        assert "Traceback" not in r.stderr
    finally:
        listener.close()
        os.unlink(path)


def test_http_clients_send_image_bytes_and_never_paths(store):
    query = QUERIES / "Serena_Williams_0010.jpg"
    local = json.loads(fv("search", str(query), "--store", str(store), "-k", "3", "--json").stdout)
    with Server("--store", str(store), "--port", "0") as server:
        assert stat.S_IMODE(os.stat(server.socket).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(server.socket)).st_mode) == 0o700
        host, port = server.info["url"].removeprefix("http://").split(":")

        def post(target: str, body: bytes, ctype: str) -> tuple[int, dict]:
            conn = http.client.HTTPConnection(host, int(port), timeout=120)
            conn.request("POST", target, body=body, headers={"Content-Type": ctype})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())

        status, doc = post(f"/v1/search?k=3&name={urllib.parse.quote(str(query))}", query.read_bytes(), "image/jpeg")
        assert status == 200 and doc["space"]["model"] == "dlib"
        assert doc["results"] == local
        status, doc = post("/v1/search", b"GIF89a not really", "application/octet-stream")
        assert status == 200 and doc["results"][0]["error"].startswith(("not-an-image", "corrupt-image"))
        status, doc = post("/v1/search", json.dumps({"queries": [str(query)]}).encode(), "application/json")
        assert status == 403 and "bytes" in doc["error"]
        status, doc = post("/v1/lookalikes", json.dumps({"identity": "Serena_Williams", "k": 2}).encode(),
                           "application/json")
        assert status == 200 and len(doc["results"]["matches"]) == 2
        status, doc = post("/v1/lookalikes", json.dumps({"identity": "Nobody"}).encode(), "application/json")
        assert status == 422 and "Nobody" in doc["error"]
        for target, body, ctype, want in (("/v1/search", b"{oops", "application/json", 400),
                                          ("/v1/search?k=0", query.read_bytes(), "image/jpeg", 400),
                                          ("/v1/nothing", b"", "application/json", 404)):
            status, doc = post(target, body, ctype)
            assert status == want and doc["error"], (target, status, doc)
        with socket.create_connection((host, int(port)), timeout=60) as raw:  # refused before the body is read
            raw.sendall(b"POST /v1/search HTTP/1.0\r\nContent-Type: image/jpeg\r\nContent-Length: 999999999\r\n\r\n")
            reply = raw.makefile("rb").read()
        assert reply.startswith(b"HTTP/1.0 413") and b"FACEVAULT_MAX_FILE_MB" in reply
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request("GET", "/v1/info")
        info = json.loads(conn.getresponse().read())
        assert info["store"] == os.path.realpath(store) and info["pid"] == server.info["pid"]


def test_serve_says_what_is_wrong_in_one_line(tmp_path, store):
    r = fv("serve", "--store", str(tmp_path / "nothing"))
    assert r.returncode == 1 and "no facevault store" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        r = fv("serve", "--store", str(store), "--port", str(busy.getsockname()[1]))
        assert r.returncode == 1 and "cannot listen" in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        busy.close()
    r = fv("serve", "--store", str(store), "-m", "no-such-model")
    assert r.returncode == 1 and "no-such-model" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    from facevault.server import client  # the failed starts left no socket behind

    assert not os.path.exists(client.socket_path(store))


def test_a_store_whose_catalog_is_on_postgresql_is_served_alike(tmp_path, pg_url):
    """A real PostgreSQL catalog: the server reads its spaces through SQLAlchemy at each request; a caller with
    the same --db is answered, one naming another database is not."""
    faces = tmp_path / "faces"
    for name in ("Tony_Blair", "Serena_Williams", "Colin_Powell"):
        shutil.copytree(DATA / name, faces / name)
    store, query = str(tmp_path / "store"), str(QUERIES / "Tony_Blair_0010.jpg")
    r = fv("ingest", str(faces), "--store", store, "--db", pg_url, "--json")
    assert r.returncode == 0, r.stderr
    local = fv("search", query, "--store", store, "--db", pg_url, "-k", "2", "--json", "--no-server")
    assert local.returncode == 0 and json.loads(local.stdout)[0]["matches"][0]["identity"] == "Tony_Blair"
    with Server("--store", store, "--db", pg_url) as server:
        served = fv("search", query, "--store", store, "--db", pg_url, "-k", "2", "--json")
        assert served.stdout == local.stdout and server.answered() == 1
        other = fv("search", query, "--store", store, "-k", "2", "--json")  # the store folder's SQLite: none there
        assert other.returncode == 1 and server.answered() == 1
