"""Hostile dataset folders: every odd directory entry is reported on its own line and skipped, never opened
blocking, and every real face beside it is still embedded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA, run_cli
from PIL import Image

from facevault.faces import dataset, imageio

BAD_NAME = os.fsdecode(b"\xff\xfe.jpg")
HERE_QUERIES = Path(__file__).resolve().parent / "data" / "queries"
CLI = [sys.executable, "-c", "import sys; from facevault.cli import main; sys.argv[0] = 'facevault'; main()"]


def _copy(src_ident: str, dst: Path, n: int = 2) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        shutil.copy(DATA / src_ident / f"{src_ident}_{i:04d}.jpg", dst)


@pytest.fixture
def hostile(tmp_path) -> Path:
    root = tmp_path / "hostile"
    _copy("Colin_Powell", root / "Colin_Powell")
    _copy("Tony_Blair", root / "Tony_Blair")
    _copy("Hugo_Chavez", root / "Hugo_Chavez", 1)
    cp = root / "Colin_Powell"
    os.mkfifo(cp / "y.jpg")                                   # a FIFO named like an image
    os.symlink("/dev/zero", cp / "x.jpg")                     # a device behind a link
    shutil.copy(DATA / "Hugo_Chavez" / "Hugo_Chavez_0002.jpg", root / "Hugo_Chavez" / BAD_NAME)  # not UTF-8
    os.symlink(".", cp / "loop")                              # a loop
    os.symlink("..", cp / "up")                               # the dataset root again
    os.symlink("Tony_Blair", root / "Tony_Blair_alias")       # an identity folder linked to another
    os.symlink("../Colin_Powell/Colin_Powell_0001.jpg", root / "Tony_Blair" / "borrowed.jpg")  # 2 identities
    (cp / "z.jpg").mkdir()                                    # a folder named like an image
    (cp / "notes.txt").write_text("not an image\n")           # a stray file
    (cp / ".hidden.jpg").write_bytes(b"ignored")              # hidden: ignored silently
    return root


def test_walk_reports_every_hostile_entry_fast(hostile):
    t0 = time.perf_counter()
    found = dataset.walk_all(hostile, max_bytes=100_000_000)
    assert time.perf_counter() - t0 < 5  # the FIFO is never opened
    kinds = {s.rel: s.kind for s in found.skipped}
    assert kinds == {
        "Colin_Powell/y.jpg": "not-a-regular-file",
        "Colin_Powell/x.jpg": "not-a-regular-file",
        "Colin_Powell/z.jpg": "not-a-regular-file",
        "Colin_Powell/loop": "symlink-loop",
        "Colin_Powell/up": "symlink-loop",
        "Colin_Powell/notes.txt": "not-an-image-file",
        "Tony_Blair_alias": "symlink-conflict",
        "Tony_Blair/borrowed.jpg": "symlink-conflict",
    }
    rels = [f.rel for f in found.files]
    assert rels == sorted(rels) and len(rels) == 6
    assert "Hugo_Chavez/%FF%FE.jpg" in rels
    assert {f.identity for f in found.files} == {"Colin_Powell", "Tony_Blair", "Hugo_Chavez"}  # nothing relabelled
    assert [r.rel for r in found.renamed] == ["Hugo_Chavez/%FF%FE.jpg"]


def test_non_utf8_names_round_trip():
    from urllib.parse import unquote_to_bytes

    stored = dataset.stored_name(BAD_NAME)
    assert stored == "%FF%FE.jpg" and unquote_to_bytes(stored) == b"\xff\xfe.jpg"
    assert dataset.stored_name("José.jpg") == "José.jpg"


def test_hostile_ingest_embeds_every_real_face(hostile, tmp_path):
    # a subprocess with a timeout: a FIFO that blocked would hang the run, not the test suite
    env = {**os.environ, "FACEVAULT_STORE": str(tmp_path / "store")}
    p = subprocess.run([*CLI, "ingest", str(hostile), "--json"],
                       capture_output=True, text=True, timeout=180, env=env)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    s = json.loads(p.stdout)
    assert s["files"] == 6 and s["embedded"] == 6  # 2 + 2 + 2 real faces, the non-UTF-8 one included
    assert s["skipped_files"] == 8
    assert s["errors"] == {"not-a-regular-file": 3, "symlink-loop": 2, "symlink-conflict": 2, "not-an-image-file": 1}
    listed = {p["path"]: p["kind"] for p in s["problems"]}
    assert listed["Colin_Powell/y.jpg"] == "not-a-regular-file"
    assert listed["Hugo_Chavez/%FF%FE.jpg"] == "name-not-utf8"
    assert s["identities"] == 3


def test_size_cap_is_checked_before_reading(hostile, monkeypatch):
    big = hostile / "Hugo_Chavez" / "big.png"
    Image.effect_noise((700, 700), 64).convert("RGB").save(big)  # ~1.4 MB, incompressible
    monkeypatch.setenv("FACEVAULT_MAX_FILE_MB", "1")
    s = run_cli("ingest", str(hostile), "--json")
    assert s["errors"]["too-large"] == 1
    assert {p["path"]: p["kind"] for p in s["problems"]}["Hugo_Chavez/big.png"] == "too-large"
    assert s["embedded"] == 6
    with pytest.raises(imageio.FileTooLarge):
        imageio.read_bytes(big, max_bytes=1_000_000)


def test_read_bytes_never_blocks_on_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "f.jpg")
    t0 = time.perf_counter()
    with pytest.raises(imageio.UnsupportedImage):
        imageio.read_bytes(tmp_path / "f.jpg")
    assert time.perf_counter() - t0 < 2


def test_huge_jpeg_decodes_reduced_with_bounded_memory(tmp_path):
    face = Image.open(DATA / "Colin_Powell" / "Colin_Powell_0001.jpg").convert("RGB")
    path = tmp_path / "huge.jpg"
    face.resize((9000, 9000), Image.BILINEAR).save(path, quality=60)
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's RSS at fork (kept across exec), and the
    # pytest process may be large by now
    code = ("import sys; from facevault.faces import imageio; d = imageio.load(sys.argv[1]); "
            "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
            "print(d.rgb.shape[0], d.rgb.shape[1], hwm)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    h, w, rss_kb = map(int, out.stdout.split())
    assert h * w <= imageio.DEFAULT_MAX_PIXELS and (h, w) == (4500, 4500)
    assert rss_kb < 600_000, f"peak RSS {rss_kb / 1024:.0f} MB decoding a 9000x9000 JPEG"


def test_pixel_cap_refuses_what_cannot_be_decoded_reduced(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (3000, 2000), (120, 120, 120)).save(path)
    imageio.set_limits(max_pixels=1_000_000)
    try:
        with pytest.raises(imageio.UnsupportedImage, match="decode cap"):
            imageio.load(path)
    finally:
        imageio.set_limits(max_pixels=imageio.DEFAULT_MAX_PIXELS)


def test_a_real_name_like_an_encoded_one_is_a_conflict_not_a_duplicate(tmp_path):
    ident = tmp_path / "d" / "Colin_Powell"
    ident.mkdir(parents=True)
    face = DATA / "Colin_Powell" / "Colin_Powell_0001.jpg"
    shutil.copy(face, ident / os.fsdecode(b"\xff.jpg"))
    shutil.copy(face, ident / "%FF.jpg")
    found = dataset.walk_all(tmp_path / "d")
    assert [f.rel for f in found.files] == ["Colin_Powell/%FF.jpg"]
    assert [(s.rel, s.kind) for s in found.skipped] == [("Colin_Powell/%FF.jpg", "name-conflict")]


def test_search_walks_a_query_folder_as_it_walks_a_dataset(tmp_path):
    """A folder given to `search` stands for the images under it; a FIFO, a link loop or a text file among them
    is one result with its error, never opened blocking, and every real face beside them is still searched."""
    store = tmp_path / "store"
    run_cli("ingest", str(DATA), "--store", str(store), "--json")
    queries = tmp_path / "queries"
    (queries / "more").mkdir(parents=True)
    shutil.copy(HERE_QUERIES / "Tony_Blair_0010.jpg", queries)
    shutil.copy(HERE_QUERIES / "Serena_Williams_0010.jpg", queries / "more")
    os.mkfifo(queries / "fifo.jpg")
    os.symlink(".", queries / "more" / "loop")
    (queries / "notes.jpg").write_text("not an image\n")
    (queries / "empty").mkdir()
    env = {**os.environ, "FACEVAULT_STORE": str(store)}
    p = subprocess.run([*CLI, "search", str(queries), str(queries / "empty"), "-k", "1", "--json"],
                       capture_output=True, text=True, timeout=180, env=env)
    assert p.returncode == 0, p.stderr
    got = {Path(r["query"]).relative_to(tmp_path).as_posix(): r for r in json.loads(p.stdout)}
    assert sorted(got) == ["queries/Tony_Blair_0010.jpg", "queries/empty", "queries/fifo.jpg",
                           "queries/more/Serena_Williams_0010.jpg", "queries/more/loop", "queries/notes.jpg"]
    assert got["queries/Tony_Blair_0010.jpg"]["matches"][0]["identity"] == "Tony_Blair"
    assert got["queries/more/Serena_Williams_0010.jpg"]["matches"][0]["identity"] == "Serena_Williams"
    assert got["queries/fifo.jpg"]["error"].startswith("not-a-regular-file: a FIFO")
    assert got["queries/more/loop"]["error"].startswith("symlink-loop")
    assert got["queries/notes.jpg"]["error"].startswith("not-an-image")
    assert got["queries/empty"]["error"].startswith("empty-dataset: no images")
    # a folder without any image is an error of its own, and the call fails when nothing could be searched
    p = subprocess.run([*CLI, "search", str(queries / "empty")], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "no query could be searched" in p.stderr
