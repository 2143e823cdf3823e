"""The built wheel, installed into a fresh venv, works from another folder as a new user would run it.

The wheel is built from a copy of the sources (nothing is written into the checkout) with the running
interpreter's setuptools, and installed with `--no-deps` into a new venv created by this test; that venv sees
the current environment's third-party packages through a `.pth` file (the editable facevault hook of the
current venv is not processed there, so `facevault` imports only from the wheel). Then, from a folder outside
the repository, with HOME and XDG_DATA_HOME pointing into tmp: ingest, evaluate, search (README "Usage"),
`weights` (the manifest is package data: every known file is listed, no warning) and `weights add` (writes into
the per-user data folder, never into site-packages).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import DATA

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("facevault", "migrations", "pyproject.toml", "README.md", "LICENSE")
QUERY = REPO / "tests" / "data" / "queries" / "Tony_Blair_0010.jpg"
IDENTITIES = ("Tony_Blair", "Serena_Williams", "Colin_Powell")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the venv layout used here (bin/) is POSIX")


def _run(cmd: list[str], timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _tiny_recognizer(path: Path) -> Path:
    """A real (if useless) ONNX face recognizer: Nx3x112x112 -> global average pool -> 3x128 matmul -> Nx128."""
    onnx = pytest.importorskip("onnx", reason="onnx not installed (the `test` extra installs it)")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(3, 128)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "w"], ["embedding"])],
        "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 128])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel, install it into a fresh venv; return the venv, the wheel and a clean environment."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        p = REPO / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(p, src / name)
    dist = root / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src), "-w", str(dist)])
    (wheel,) = dist.glob("facevault-*.whl")

    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    new_site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    base = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (new_site / "_facevault_test_base.pth").write_text("".join(f"{p}\n" for p in sorted(base)))
    home = root / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FACEVAULT_", "PYTHON", "VIRTUAL_ENV", "PIP_")) and k not in ("DEEPFACE_HOME",)}
    # --ignore-installed: the editable facevault seen through the .pth is neither "already satisfied" nor removed
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", str(wheel)],
         env=env)
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), DEEPFACE_HOME=str(home),
               FACEVAULT_STORE=str(root / "store"), FACEVAULT_WORKERS="1",
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return {"root": root, "venv": venv, "py": py, "site": new_site, "wheel": wheel, "env": env, "cwd": elsewhere}


def _fv(inst: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return _run([str(inst["venv"] / "bin" / "facevault"), *args], timeout=timeout, env=inst["env"], cwd=inst["cwd"])


def test_the_wheel_holds_the_package_data_and_the_licence(installed):
    with zipfile.ZipFile(installed["wheel"]) as zf:
        names = zf.namelist()
    assert "facevault/weights/manifest.toml" in names
    assert "facevault/weights/export_adaface.py" in names
    assert any(n.startswith("facevault/migrations/versions/") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    assert not any(n.startswith(("weights/", "tests/", "scripts/")) for n in names)
    meta = zipfile.ZipFile(installed["wheel"]).read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    text = meta.decode()
    assert "Requires-Python: >=3.10" in text and "Programming Language :: Python :: 3.13" in text
    assert "Provides-Extra: cpu" in text and "Provides-Extra: gpu" in text


def test_facevault_imports_from_the_wheel_not_the_checkout(installed):
    code = ("import facevault, facevault.weights.locate as l; "
            "print(facevault.__file__); print(l.repo_dir()); print(l.user_dir())")
    out = _run([str(installed["py"]), "-c", code], env=installed["env"], cwd=installed["cwd"]).stdout.split("\n")
    assert Path(out[0]).is_relative_to(installed["site"]), out
    assert out[1] == "None", "an installed wheel has no repository weights/ folder"
    assert out[2] == str(Path(installed["env"]["XDG_DATA_HOME"]) / "facevault" / "weights")


def test_ingest_evaluate_search_from_another_folder(installed, tmp_path):
    data = tmp_path / "faces"
    for name in IDENTITIES:
        (data / name).mkdir(parents=True)
        for img in sorted((DATA / name).iterdir())[:3]:
            shutil.copy2(img, data / name / img.name)
    summary = json.loads(_fv(installed, "ingest", str(data), "--json").stdout)
    assert summary["embedded"] == 9, summary
    report = json.loads(_fv(installed, "evaluate", "--sample", "50", "--json").stdout)
    assert report["pairs"] > 0, report
    found = _fv(installed, "search", str(QUERY), "--json")
    assert "Tony_Blair" in found.stdout, found.stdout
    assert not (installed["cwd"] / ".facevault").exists()  # the store went where FACEVAULT_STORE says


def test_weights_finds_the_manifest_and_add_writes_into_the_per_user_folder(installed, tmp_path, monkeypatch):
    from facevault.weights import manifest
    from facevault.zoo import registry

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # no user models on this (editable) side either
    registry.refresh()
    table = manifest.known()
    known_here, fetchable_here = len(table), sum(bool(wf.url) for wf in table.values())
    registry.refresh()

    r = _fv(installed, "weights", "--json")
    assert "manifest" not in r.stderr.lower(), r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == known_here and sum(bool(x["url"]) for x in rows) == fetchable_here
    user = Path(installed["env"]["XDG_DATA_HOME"]) / "facevault" / "weights"
    row = next(x for x in rows if x["name"] == "w600k_r50.onnx")
    assert row["target"] == str(user / "w600k_r50.onnx") and row["url"]
    assert not any("site-packages" in (x["target"] or "") for x in rows)

    tiny = _tiny_recognizer(tmp_path / "tiny_recognizer.onnx")
    doc = json.loads(_fv(installed, "weights", "add", str(tiny), "--like", "arcface-mbf", "--name", "tiny",
                         "--json").stdout)
    assert doc["dim"] == 128 and doc["path"] == str(user / tiny.name)
    assert doc["registry"] == str(user / "user-models.json")
    assert "tiny" in json.loads((user / "user-models.json").read_text())["models"]
    assert not list(installed["venv"].rglob("user-models.json")) and not list(installed["venv"].rglob(tiny.name))
    models = {m["name"]: m for m in json.loads(_fv(installed, "models", "--json").stdout)}
    assert models["tiny"]["ready"] and models["tiny"]["dim"] == 128
