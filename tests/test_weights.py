"""The weights manifest, `facevault weights` (status, fetch, add) and `facevault models`.

Real files only: the offline copies in ../shared/weights and the dlib files of face-recognition-models.
Downloads go through a local http.server on 127.0.0.1 or a closed local port; nothing here touches the network.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import http.server
import json
import os
import threading
import zipfile
from pathlib import Path

import pytest
from conftest import SHARED, run_cli

import facevault.cli.weights  # noqa: F401  (registers the `weights` group)
from facevault.core.errors import WeightsError
from facevault.weights import locate as weights
from facevault.weights import manifest
from facevault.weights.manifest import WeightFile
from facevault.zoo import registry

SHARED_WEIGHTS = SHARED / "weights"


@pytest.fixture(autouse=True)
def _fresh_registry(tmp_path, monkeypatch):
    """User models live in the per-test weights folder: forget any cached registry on both sides. The per-user
    data folder points under tmp_path too, so a developer's own weights never leak into a test."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg_data"))
    registry.refresh()
    yield
    registry.refresh()


@pytest.fixture
def serve(tmp_path):
    """A local HTTP server on 127.0.0.1 over tmp_path/remote; yields a function: file path -> its http:// URL."""
    root = tmp_path / "remote"
    root.mkdir(exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    served: list[str] = []

    def url(path: Path) -> str:
        rel = path.relative_to(root).as_posix()
        return f"{base}/{rel}"

    url.requests = served  # type: ignore[attr-defined]
    _QuietHandler.log = served
    yield url
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    log: list[str] = []

    def log_request(self, code="-", size="-"):
        self.log.append(self.path)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture
def shared_weights() -> Path:
    if not (SHARED_WEIGHTS / "w600k_mbf_int8.onnx").is_file():
        pytest.skip(f"shared weights file {SHARED_WEIGHTS / 'w600k_mbf_int8.onnx'} not found "
                    "(present on the development machines only)")
    return SHARED_WEIGHTS


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_error(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


# ---------------------------------------------------------------- the manifest


def test_manifest_parses_and_names_every_registry_file():
    table = manifest.entries()
    assert len(table) >= 40
    for wf in table.values():
        assert wf.licence and wf.preprocessing, wf.name
        assert wf.url or "hand" in wf.notes or wf.sha256, f"{wf.name}: no URL and no word on where it comes from"
    # every file a built-in model or detector names is described (user models come and go)
    named = {f for e in list(registry.models().values()) + list(registry.detectors().values()) for f in e.weights}
    assert named - set(table) == set()
    # deepface's own download sources, read from its 0.0.103 source, are the ones fetch uses
    assert table["vgg_face_weights.onnx"].url.endswith("/v1.0/vgg_face_weights.onnx")
    assert table["dlib_face_recognition_resnet_model_v1.dat"].archive == "bz2"


def test_dlib_package_files_match_their_digests():
    for fname in weights.DLIB_FILES.values():
        path = weights.find(fname)
        wf = manifest.entries()[fname]
        assert path.stat().st_size == wf.size and _sha(path) == wf.sha256, fname


def test_shared_files_match_the_manifest(shared_weights):
    checked = 0
    for path in sorted(shared_weights.glob("*.onnx")):
        wf = manifest.entries().get(path.name)
        assert wf is not None, f"{path.name} is not in weights/manifest.toml"
        if wf.sha256:
            assert _sha(path) == wf.sha256 and path.stat().st_size == wf.size, path.name
            checked += 1
    assert checked >= 6


def test_a_malformed_entry_is_refused_with_its_name():
    with pytest.raises(WeightsError, match="broken.onnx.*sha256"):
        manifest._parse_entry({"name": "broken.onnx", "sha256": "abc"}, 0)
    with pytest.raises(WeightsError, match="unknown keys"):
        manifest._parse_entry({"name": "x.onnx", "sha": ""}, 0)


def test_the_manifest_is_package_data():
    from importlib import resources

    doc = resources.files("facevault.weights").joinpath("manifest.toml")
    assert doc.is_file() and "[[file]]" in doc.read_text(encoding="utf-8")


# ---------------------------------------------------------------- where files are looked up


def test_lookup_order_and_the_per_user_folder(tmp_path, monkeypatch):
    explicit = tmp_path / "explicit"
    user = tmp_path / "xdg_data" / "facevault" / "weights"
    assert weights.user_dir() == user
    dirs = weights.search_dirs(explicit)
    assert dirs[:3] == [explicit, tmp_path / "weights", user]
    assert dirs[-1] == weights.deepface_dir() == tmp_path / "deepface_home" / ".deepface" / "weights"
    repo = Path(__file__).resolve().parents[1] / "weights"
    assert weights.repo_dir() == repo and dirs[3] == repo  # running from this checkout

    # first copy wins, one level of sub-folder is searched, the dlib files come from their package last
    for d in (user / "adaface", weights.deepface_dir()):
        d.mkdir(parents=True)
        (d / "toy.onnx").write_bytes(b"x")
    assert weights.find("toy.onnx") == user / "adaface" / "toy.onnx"
    explicit.mkdir()
    (explicit / "toy.onnx").write_bytes(b"y")
    assert weights.find("toy.onnx", explicit) == explicit / "toy.onnx"
    assert "face_recognition_models" in str(weights.dlib_file("dlib-sp5"))


def test_a_missing_file_names_the_folder_to_place_it_in(tmp_path, monkeypatch):
    with pytest.raises(WeightsError, match=f"place it at {tmp_path / 'weights' / 'nothing.onnx'}$"):
        weights.find("nothing.onnx")
    monkeypatch.delenv("FACEVAULT_WEIGHTS")
    user = tmp_path / "xdg_data" / "facevault" / "weights"
    with pytest.raises(WeightsError, match=f"place it at {user / 'nothing.onnx'}$"):
        weights.find("nothing.onnx")
    assert manifest.target_path(WeightFile("nothing.onnx")) == user / "nothing.onnx"


def test_one_streaming_hasher(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    assert weights.sha256_file(big) == _sha(big) == weights.verify(big, _sha(big)[:12])
    with pytest.raises(WeightsError, match="checksum mismatch"):
        weights.verify(big, "0" * 64)
    assert not hasattr(manifest, "_sha256")


def test_a_missing_engine_is_one_line_naming_the_extra(monkeypatch):
    import sys

    from facevault.core.optional import MissingDependency, require

    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(MissingDependency, match=r"^faiss is not installed.*facevault\[cpu\].*facevault\[gpu\]"):
        require("faiss")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependency, match=r"torch is not installed.*whl/cpu.*facevault\[export\]"):
        require("torch")
    assert require("json").dumps(1) == "1"


# ---------------------------------------------------------------- status


def test_status_finds_the_shared_files_and_says_where_the_rest_go(shared_weights, monkeypatch, tmp_path):
    monkeypatch.setenv("FACEVAULT_WEIGHTS", str(shared_weights))
    rows = {r.name: r for r in manifest.status()}
    for name in ("w600k_mbf_int8.onnx", "face_detection_yunet_2023mar.onnx", "scrfd_2.5g_bnkps.onnx"):
        assert rows[name].path == shared_weights / name and rows[name].checksum == "ok", rows[name]
    missing = rows["w600k_r50.onnx"]
    assert missing.path is None and missing.checksum is None
    assert missing.target == shared_weights / "w600k_r50.onnx"
    deepface_weights = tmp_path / "deepface_home" / ".deepface" / "weights"
    assert rows["vgg_face_weights.onnx"].target == deepface_weights / "vgg_face_weights.onnx"
    assert "arcface-mbf" in rows["w600k_mbf_int8.onnx"].used_by

    doc = {r["name"]: r for r in run_cli("weights", "--json")}
    assert doc["w600k_mbf_int8.onnx"]["present"] and doc["w600k_mbf_int8.onnx"]["checksum"] == "ok"
    assert doc["w600k_r50.onnx"]["present"] is False
    table = run_cli("weights", "status").output
    assert f"{sum(r['present'] for r in doc.values())} of {len(doc)} present" in table


def test_status_flags_a_corrupt_copy(monkeypatch, tmp_path):
    wdir = tmp_path / "weights"
    wdir.mkdir()
    (wdir / "face_detection_yunet_2023mar.onnx").write_bytes(b"\0" * 232589)  # right size, wrong bytes
    row = next(r for r in manifest.status() if r.name == "face_detection_yunet_2023mar.onnx")
    assert row.path == wdir / "face_detection_yunet_2023mar.onnx" and row.checksum == "mismatch"
    with pytest.raises(WeightsError, match="fails its checksum.*--force"):
        manifest.fetch("face_detection_yunet_2023mar.onnx")


# ---------------------------------------------------------------- fetch


def _toy(tmp_path: Path, name: str = "toy.bin") -> Path:
    src = tmp_path / "remote" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(os.urandom(300_000))
    return src


def test_fetch_downloads_verifies_and_places_the_file(tmp_path, monkeypatch, serve):
    src = _toy(tmp_path)
    wf = WeightFile("toy.onnx", sha256=_sha(src), size=src.stat().st_size, url=serve(src), licence="test")
    monkeypatch.setitem(manifest.entries(), "toy.onnx", wf)
    doc = run_cli("weights", "fetch", "toy.onnx", "--json")
    placed = tmp_path / "weights" / "toy.onnx"
    assert doc["downloaded"] and doc["path"] == str(placed) and doc["sha256"] == wf.sha256
    assert placed.read_bytes() == src.read_bytes()
    again = run_cli("weights", "fetch", "toy.onnx", "--json")
    assert again["downloaded"] is False and again["path"] == str(placed)
    dest = tmp_path / "elsewhere"
    assert run_cli("weights", "fetch", "toy.onnx", "--dest", str(dest), "--json")["path"] == str(dest / "toy.onnx")


def test_fetch_unpacks_bz2_and_zip_before_verifying(tmp_path, monkeypatch, serve):
    src = _toy(tmp_path)
    packed = src.with_suffix(".bin.bz2")
    packed.write_bytes(bz2.compress(src.read_bytes()))
    zipped = src.with_suffix(".zip")
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("pack/readme.txt", "other files in the pack")
        zf.write(src, "pack/toy.onnx")
    monkeypatch.setitem(manifest.entries(), "toy.dat",
                        WeightFile("toy.dat", sha256=_sha(src), url=serve(packed), archive="bz2"))
    monkeypatch.setitem(manifest.entries(), "toy.onnx", WeightFile("toy.onnx", sha256=_sha(src), url=serve(zipped),
                                                                   archive="zip", member="toy.onnx"))
    for name in ("toy.dat", "toy.onnx"):
        result = manifest.fetch(name)
        assert result.downloaded and result.path == tmp_path / "weights" / name
        assert result.path.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["toy.dat", "toy.onnx"]  # no leftovers


def test_fetch_refuses_a_checksum_mismatch_and_keeps_nothing(tmp_path, monkeypatch, serve):
    src = _toy(tmp_path)
    wrong = "0" * 64
    monkeypatch.setitem(manifest.entries(), "toy.onnx", WeightFile("toy.onnx", sha256=wrong, url=serve(src)))
    line = _one_line_error(run_cli("weights", "fetch", "toy.onnx", expect=1))
    assert "checksum mismatch" in line and wrong in line and _sha(src) in line
    wdir = tmp_path / "weights"
    assert not (wdir / "toy.onnx").exists()
    assert not list(wdir.glob("*.part")) and not list(wdir.glob(".*"))


def test_fetch_of_a_mismatching_archive_keeps_nothing(tmp_path, monkeypatch, serve):
    src = _toy(tmp_path)
    packed = src.with_suffix(".bin.bz2")
    packed.write_bytes(bz2.compress(src.read_bytes()))
    monkeypatch.setitem(manifest.entries(), "toy.dat",
                        WeightFile("toy.dat", sha256="2" * 64, url=serve(packed), archive="bz2"))
    line = _one_line_error(run_cli("weights", "fetch", "toy.dat", expect=1))
    assert "checksum mismatch" in line and "2" * 64 in line and _sha(src) in line
    assert not list((tmp_path / "weights").iterdir())


def test_fetch_tries_the_mirrors_in_order(tmp_path, monkeypatch, serve):
    src = _toy(tmp_path)
    dead = "http://127.0.0.1:9/toy.onnx"
    missing = serve(src).replace("toy.bin", "gone.bin")
    monkeypatch.setitem(manifest.entries(), "toy.onnx", WeightFile("toy.onnx", sha256=_sha(src), url=dead,
                                                                   mirrors=(missing, serve(src))))
    result = manifest.fetch("toy.onnx")
    assert result.downloaded and result.path.read_bytes() == src.read_bytes()
    assert serve.requests == ["/gone.bin", "/toy.bin"]


def test_fetch_without_a_digest_reports_the_one_it_got(tmp_path, monkeypatch, serve):
    src = _toy(tmp_path)
    monkeypatch.setitem(manifest.entries(), "toy.onnx", WeightFile("toy.onnx", url=serve(src)))
    doc = run_cli("weights", "fetch", "toy.onnx", "--json")
    assert doc["downloaded"] and doc["sha256"] == _sha(src)
    assert any(_sha(src) in note and "no sha256 is known" in note for note in doc["notes"])
    page = tmp_path / "remote" / "login.html"
    page.write_text("<!DOCTYPE html><html><body>sign in</body></html>")
    monkeypatch.setitem(manifest.entries(), "page.onnx", WeightFile("page.onnx", url=serve(page)))
    line = _one_line_error(run_cli("weights", "fetch", "page.onnx", expect=1))
    assert "web page" in line and not (tmp_path / "weights" / "page.onnx").exists()


def test_fetch_from_an_unreachable_url_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setitem(manifest.entries(), "toy.onnx",
                        WeightFile("toy.onnx", sha256="1" * 64, url="http://127.0.0.1:9/toy.onnx"))
    line = _one_line_error(run_cli("weights", "fetch", "toy.onnx", expect=1))
    assert "could not download toy.onnx from http://127.0.0.1:9/toy.onnx" in line
    assert f"place the file at {tmp_path / 'weights' / 'toy.onnx'} by hand" in line
    assert not list((tmp_path / "weights").iterdir())


def test_fetch_of_an_unknown_name_lists_the_known_ones():
    line = _one_line_error(run_cli("weights", "fetch", "no-such.onnx", expect=1))
    assert "unknown weights file 'no-such.onnx'" in line and "arcface_weights.onnx" in line


# ---------------------------------------------------------------- add (user models) and `facevault models`


def test_add_registers_a_model_that_ingests(shared_weights, tmp_path, lfw_small):
    doc = run_cli("weights", "add", str(shared_weights / "w600k_mbf_int8.onnx"), "--like", "arcface-mbf",
                  "--name", "my-mbf", "--json")
    assert doc["dim"] == 512 and doc["aligner"] == "arcface"
    assert doc["path"] == str(tmp_path / "weights" / "w600k_mbf_int8.onnx")
    saved = json.loads((tmp_path / "weights" / "user-models.json").read_text())
    assert saved["models"]["my-mbf"]["spec"]["sha256"] == _sha(shared_weights / "w600k_mbf_int8.onnx")

    rows = {r["name"]: r for r in run_cli("models", "--json")}
    mine = rows["my-mbf"]
    assert (mine["kind"], mine["source"], mine["dim"], mine["ready"]) == ("recognizer", "onnx", 512, True)
    assert mine["description"] == "user model like arcface-mbf"
    assert rows["dlib"]["ready"] and rows["dlib"]["weights"][0]["how"].endswith(".dat")
    assert rows["VGG-Face"]["weights"][0]["how"] == "downloaded by deepface on first use"
    assert rows["arcface-r50"]["weights"][0]["how"] == "fetch: facevault weights fetch w600k_r50.onnx"

    summary = run_cli("ingest", str(lfw_small), "--model", "my-mbf", "--json")
    assert summary["embedded"] == 48 and summary["errors"] == {}, summary
    report = run_cli("evaluate", "--model", "my-mbf", "--sample", "300", "--json")
    assert report["pairs"] > 300 and report["auc"] > 0.95, report


def test_add_writes_into_the_per_user_folder(shared_weights, tmp_path, monkeypatch):
    monkeypatch.delenv("FACEVAULT_WEIGHTS")
    user = tmp_path / "xdg_data" / "facevault" / "weights"
    doc = run_cli("weights", "add", str(shared_weights / "w600k_mbf_int8.onnx"), "--like", "arcface-mbf",
                  "--name", "my-mbf", "--json")
    assert doc["path"] == str(user / "w600k_mbf_int8.onnx") and doc["registry"] == str(user / "user-models.json")
    assert "my-mbf" in json.loads((user / "user-models.json").read_text())["models"]


def test_add_refuses_a_file_that_is_not_onnx(tmp_path):
    fake = tmp_path / "notes.onnx"
    fake.write_text("not a network\n")
    line = _one_line_error(run_cli("weights", "add", str(fake), "--like", "arcface-mbf", expect=1))
    assert "notes.onnx is not an ONNX model onnxruntime can load" in line
    line = _one_line_error(run_cli("weights", "add", str(fake), "--like", "dlib", expect=1))
    assert "unknown ONNX recognizer" in line and "arcface-mbf" in line
    assert not (tmp_path / "weights").exists()


def test_add_refuses_onnx_files_that_are_not_face_recognizers(tmp_path, shared_weights):
    detector = shared_weights / "face_detection_yunet_2023mar.onnx"
    line = _one_line_error(run_cli("weights", "add", str(detector), "--like", "arcface-mbf", expect=1))
    assert "112x112" in line
    line = _one_line_error(run_cli("weights", "add", str(shared_weights / "w600k_mbf_int8.onnx"),
                                   "--like", "arcface-mbf", "--name", "dlib", expect=1))
    assert "already exists" in line
    assert not (tmp_path / "weights" / "user-models.json").exists()


def test_an_unreadable_user_registry_gives_no_models(tmp_path, caplog):
    from facevault.zoo import user

    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "user-models.json").write_text("{not json")
    assert user.entries() == []
    assert "ignoring" in caplog.text and "user-models.json" in caplog.text
    assert "dlib" in registry.models()
