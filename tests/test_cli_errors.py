"""Every failure a user can cause is one line and a non-zero exit, never a traceback; a command that fails on
its arguments creates and changes nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import ingest_store, run_cli

from facevault.cli import cli


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ingest_store(tmp_path_factory.mktemp("cli-errors"))


@pytest.fixture
def store_copy(store, tmp_path):
    dst = tmp_path / "store-copy"
    shutil.copytree(store, dst)
    return dst


@pytest.fixture
def bad_files(tmp_path):
    files = {
        "no-header": "Aaron_Eckhart 1 2\nAbel_Pacheco 1 Aaron_Eckhart 2\n",
        "words-header": "folds pairs\nAaron_Eckhart 1 2\n",
        "bad-number": "1\nAaron_Eckhart one 2\n",
        "bad-csv-label": "a.jpg,b.jpg,maybe\n",
    }
    out = {}
    for name, text in files.items():
        out[name] = tmp_path / f"{name}.txt"
        out[name].write_text(text)
    out["binary"] = tmp_path / "binary.dat"
    out["binary"].write_bytes(bytes(range(256)) * 8)
    out["latin1"] = tmp_path / "latin1.csv"
    out["latin1"].write_bytes("a.jpg,b\xe9.jpg,yes\n".encode("latin-1"))
    return out


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _one_line_error(r) -> None:
    """Exit 1, exactly one line on stderr starting `Error:`, and no exception escaped click."""
    assert r.exit_code == 1, (r.exit_code, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.output


def _usage_error(r, what: str = "") -> None:
    """click's usage error: exit 2, its `Usage:` lines and one `Error:` line, no traceback."""
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "Usage:" in r.stderr and "Traceback" not in r.output, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and what in errors[0], r.stderr


@pytest.mark.parametrize("name", ["no-header", "words-header", "bad-number", "bad-csv-label", "binary", "latin1"])
def test_a_bad_pairs_file_is_one_line_and_stores_no_threshold(store_copy, bad_files, name):
    r = _invoke("evaluate", "--store", str(store_copy), "--pairs-file", str(bad_files[name]))
    _one_line_error(r)
    assert str(bad_files[name].name) in r.stderr
    assert run_cli("status", "--store", str(store_copy), "--json")["spaces"][0]["threshold"] is None


@pytest.mark.parametrize("args, what", [
    (("search", "-k", "0", "x.jpg"), "'-k'"),
    (("search", "-k", "-3", "x.jpg"), "'-k'"),
    (("search", "--threshold", "2", "x.jpg"), "--threshold"),
    (("verify", "a.jpg", "b.jpg", "--threshold", "-1.5"), "--threshold"),
    (("evaluate", "--sample", "0"), "--sample"),
    (("evaluate", "--sample", "-5"), "--sample"),
    (("evaluate", "--folds", "1", "--sample", "10"), "--folds"),
    (("evaluate", "--bootstrap", "-1", "--sample", "10"), "--bootstrap"),
    (("evaluate", "--target-far", "0", "--sample", "10"), "--target-far"),
    (("evaluate", "--protocol", "identify", "--ranks", "0"), "--ranks"),
    (("evaluate", "--protocol", "identify", "--gallery-per-identity", "0"), "--gallery-per-identity"),
    (("evaluate", "--protocol", "all", "--sample", "10"), "--sample"),
    (("report", "--out", "r", "--top", "0"), "--top"),
    (("report", "--out", "r", "--hard", "-1"), "--hard"),
    (("report", "--out", "r", "--sample", "-1"), "--sample"),
    (("report", "--out", "r", "--folds", "1"), "--folds"),
    (("similarity", "--top", "-1"), "--top"),
    (("similarity", "--pairs", "-1"), "--pairs"),
    (("health", "--limit", "-1"), "--limit"),
    (("health", "--min-faces", "0"), "--min-faces"),
    (("health", "--duplicate-threshold", "2"), "--duplicate-threshold"),
    (("ingest", "DATA", "--batch-size", "0"), "--batch-size"),
    (("ingest", "DATA", "--workers", "0"), "--workers"),
    (("ingest", "DATA", "--limit", "0"), "--limit"),
])
def test_option_ranges_are_usage_errors_before_anything_opens(store_copy, lfw_small, args, what):
    args = tuple(str(lfw_small) if a == "DATA" else a for a in args)
    before = sorted(p.name for p in store_copy.iterdir())
    _usage_error(_invoke(*args, "--store", str(store_copy)), what)
    assert sorted(p.name for p in store_copy.iterdir()) == before


def test_ingest_of_a_missing_folder_or_unknown_model_creates_no_store(tmp_path, lfw_small):
    store = tmp_path / "new-store"
    _usage_error(_invoke("ingest", str(tmp_path / "does-not-exist"), "--store", str(store)), "DATASET")
    assert not store.exists()
    _one_line_error(_invoke("ingest", str(lfw_small), "--store", str(store), "--model", "no-such-model"))
    assert not store.exists()


@pytest.mark.parametrize("url, what", [
    ("nosuchdb://x", "unknown database kind"),
    ("sqlite:////missing/dir/x.db", "missing/dir"),
    ("not a url", "--db"),
])
def test_bad_db_urls_are_one_line(store_copy, url, what):
    for cmd in (("status",), ("evaluate", "--sample", "10"), ("search", "--identity", "x")):
        r = _invoke(*cmd, "--store", str(store_copy), "--db", url)
        _one_line_error(r)
        assert what in r.stderr, r.stderr


def test_a_postgresql_url_without_its_driver_is_one_line(store_copy, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed
    r = _invoke("status", "--store", str(store_copy), "--db", "postgresql+psycopg://u@h/db")
    _one_line_error(r)
    assert "psycopg" in r.stderr and "pip install" in r.stderr


def test_ingest_with_a_bad_db_url_creates_no_store_folder(tmp_path, lfw_small):
    store = tmp_path / "s"
    _one_line_error(_invoke("ingest", str(lfw_small), "--store", str(store), "--db", "nosuchdb://x"))
    assert not store.exists()


@pytest.mark.parametrize("args", [
    ("evaluate", "--pairs-file", "BIN"),
    ("status", "--db", "nosuchdb://x"),
    ("status", "--db", "sqlite:////missing/dir/x.db"),
    ("ingest", "DATA", "--db", "sqlite:////missing/dir/x.db"),
    ("search", "-k", "-3", "x.jpg"),
])
def test_the_real_command_line_prints_no_traceback(store_copy, bad_files, lfw_small, args):
    args = tuple(str(bad_files["binary"]) if a == "BIN" else str(lfw_small) if a == "DATA" else a for a in args)
    r = subprocess.run([sys.executable, "-m", "facevault", *args, "--store", str(store_copy)],
                       capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    if "-k" in args:
        assert r.returncode == 2 and "Usage:" in r.stderr
    else:
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
