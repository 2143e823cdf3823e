"""`facevault report`: one self-contained HTML page (plus Markdown and JSON) over a store with two spaces."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess

import pytest
from conftest import DATA, run_cli

import facevault.cli.report  # noqa: F401  (registers the command until cli._register() lists it)

NO_FACE = "Nobody/nobody.jpg"
IMG_SRC = re.compile(r"<img\b[^>]*?\bsrc=['\"]([^'\"]*)['\"]", re.I)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """The fixture faces (plus one image without a face) in the dlib and dlib+flip spaces, and their report."""
    from PIL import Image

    tmp = tmp_path_factory.mktemp("report")
    root = tmp / "faces"
    shutil.copytree(DATA, root)
    (root / "Nobody").mkdir()
    with Image.open(DATA / "Serena_Williams" / "Serena_Williams_0001.jpg") as im:
        im.crop((150, 170, 250, 250)).resize((250, 200)).save(root / NO_FACE)
    store = str(tmp / "store")
    out = tmp / "report"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEVAULT_WORKERS", "1")
        run_cli("ingest", str(root), "--store", store, "-j", "1", "--json")
        run_cli("ingest", str(root), "--store", store, "-j", "1", "--model", "dlib+flip", "--json")
        doc = run_cli("report", "--out", str(out), "--sample", "500", "--store", store, "--json")
    return {"store": store, "out": out, "doc": doc, "root": root}


def _png(data: bytes):
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG"
    im.load()
    return im


def test_report_files_and_numbers(built):
    out, doc = built["out"], built["doc"]
    for name in ("report.html", "report.md", "report.json"):
        assert (out / name).stat().st_size > 1000
    assert json.loads((out / "report.json").read_text())["leaderboard"] == json.loads(json.dumps(doc["leaderboard"]))
    board = doc["leaderboard"]
    assert [r["rank"] for r in board] == [1, 2]
    assert {r["model"] for r in board} == {"dlib", "dlib+flip"}
    assert board[0]["accuracy"] >= board[1]["accuracy"]
    for r in board:
        assert r["accuracy"] > 0.95 and r["auc"] > 0.99 and r["pairs"] == doc["protocol"]["pairs"]
        assert r["threshold_stored"] is False and "not stored" in r["threshold_source"]
        assert 0.0 <= r["at_threshold"]["far"] < 0.1
    assert doc["protocol"]["name"] == "sample:500:seed0"
    assert doc["summary"]["images"] == 49 and doc["summary"]["identities"] == 9
    assert all(s["no_face"] == 1 for s in doc["summary"]["spaces"])
    assert [x["path"] for x in doc["health"]["no_face"]] == [NO_FACE]
    assert doc["lookalikes"] and doc["lookalikes"][0]["similarity"] >= doc["lookalikes"][-1]["similarity"]
    # the report changes nothing in the store
    assert all(s["threshold"] is None for s in run_cli("status", "--store", built["store"], "--json")["spaces"])

    hard = doc["hardest_pairs"]
    assert len(hard) == 8 and {p["kind"] for p in hard} == {"same person", "different people"}
    for p in hard:  # the faces as the dlib model sees them: its 150 px aligned chip
        for k in ("thumb_a", "thumb_b"):
            assert _png((out / p[k]).read_bytes()).size == (150, 150)
    md = (out / "report.md").read_text()
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(refs) >= 6 and all((out / r).is_file() for r in refs)
    for heading in ("## Leaderboard", "## ROC and DET", "## Hardest pairs", "## Dataset health"):
        assert heading in md


def test_html_is_self_contained(built):
    html = (built["out"] / "report.html").read_text()
    srcs = IMG_SRC.findall(html)
    figures = 2 + 2 + 1 + ("cmc" in built["doc"]["figures"])  # ROC, DET, two distributions, heatmap, CMC
    assert len(srcs) == figures + 16  # and the two faces of each of the 8 hardest pairs
    for src in srcs:
        head, b64 = src.split(",", 1)
        assert head == "data:image/png;base64"
        assert min(_png(base64.b64decode(b64, validate=True)).size) >= 100
    assert not re.search(r"(href|src)=['\"]?(https?:|//|img/)", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    for words in ("How to read this report", "higher is better", "lower is better", "How the threshold was chosen"):
        assert words in html, words  # each section says what its numbers mean and which way is better


def test_report_with_a_pairs_file(built, tmp_path):
    people = sorted(p.name for p in DATA.iterdir())
    lines = ["file_x,file_y,Decision"]
    for i, p in enumerate(people):
        q = people[(i + 1) % len(people)]
        lines += [f"{p}/{p}_0001.jpg,{p}/{p}_000{j}.jpg,Yes" for j in (2, 3)]
        lines += [f"{p}/{p}_0001.jpg,{q}/{q}_0002.jpg,No", f"{p}/{p}_0003.jpg,{NO_FACE},No"]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("\n".join(lines) + "\n")
    doc = run_cli("report", "--out", str(tmp_path / "r"), "--pairs-file", str(pairs), "--hard", "2",
                  "--store", built["store"], "--json")
    assert doc["protocol"]["file"] == str(pairs) and doc["protocol"]["pairs"] == 32
    assert all(r["missing"] == 8 for r in doc["leaderboard"])  # the pairs with the faceless image count as errors
    assert len(doc["hardest_pairs"]) == 2 and (tmp_path / "r" / "report.html").is_file()


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0", "--hide-scrollbars"]


def _chromium(exe: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120)


def _loaded(dom: str) -> tuple[int, int]:
    m = re.search(r"<body[^>]*data-images=\"(\d+)\"[^>]*data-loaded=\"(\d+)\"", dom)
    assert m, "the page's load check did not run"
    return int(m.group(1)), int(m.group(2))


def test_report_renders_in_chromium(built, tmp_path):
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    page = built["out"] / "report.html"
    run = _chromium(exe, tmp_path, "--dump-dom", page.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    for bad in ("Uncaught", "ERR_", "Failed to load resource"):
        assert bad not in run.stderr, [ln for ln in run.stderr.splitlines() if bad in ln]
    images, loaded = _loaded(run.stdout)
    assert images == len(IMG_SRC.findall(page.read_text())) and loaded == images

    shot = tmp_path / "report.png"
    run = _chromium(exe, tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri())
    assert run.returncode == 0 and shot.is_file()
    im = _png(shot.read_bytes()).convert("L")
    assert im.size == (1280, 2400) and max(im.getextrema()) - min(im.getextrema()) > 100

    # the check can fail: a page with one unreadable image is caught
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace("</main>", "</main><img src='data:image/png;base64,AAAA'>", 1))
    images, loaded = _loaded(_chromium(exe, tmp_path, "--dump-dom", broken.as_uri()).stdout)
    assert loaded == images - 1
