"""Output: rich tables fit 80 columns on a terminal; a pipe or a file gets plain TSV; --json is unchanged;
TAB completion offers model and detector names, fast."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import DATA, ingest_store, run_cli
from rich.console import Console

from facevault.cli import cli, common

BOX = set("┏┓┗┛┃━│─┌┐└┘┡┩╇╋┳┻")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ingest_store(tmp_path_factory.mktemp("cli-output"))


@pytest.fixture
def terminal(monkeypatch):
    """stdout as an 80-column terminal: what print_table and print_note write goes into the returned buffer."""
    buf = io.StringIO()
    monkeypatch.setattr(common, "stdout", Console(file=buf, force_terminal=True, width=80, color_system=None,
                                                  emoji=common.stdout._emoji))
    return buf


def _tsv(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


def test_weights_piped_is_one_line_per_file_plus_a_header():
    from facevault import api

    r = CliRunner().invoke(cli, ["weights"])  # CliRunner's stdout is not a terminal
    assert r.exit_code == 0, r.output
    rows = _tsv(r.stdout)
    assert rows[0] == ["name", "used by", "present / would go to", "sha256", "size", "licence"]
    assert len(rows) == 1 + len(api.weights_status(None))
    assert all(len(row) == 6 for row in rows) and not BOX & set(r.stdout)
    assert "…" not in r.stdout and "present;" in r.stderr  # the footer went to stderr


def test_models_and_status_piped_are_tsv(store):
    r = CliRunner().invoke(cli, ["models"])
    assert r.exit_code == 0 and not BOX & set(r.stdout)
    blocks = r.stdout.split("\n\n")  # recognizers, then detectors
    assert len(blocks) == 2 and blocks[0].startswith("name\tsource\tinput\tdim\taligner")
    assert any(line.startswith("dlib+flip\t") for line in blocks[0].splitlines())
    r = CliRunner().invoke(cli, ["status", "--store", str(store)])
    assert r.exit_code == 0 and not BOX & set(r.stdout)
    spaces = next(b for b in r.stdout.split("\n\n") if b.startswith("model\t"))
    header, row = _tsv(spaces)
    assert header == ["model", "detector", "aligner", "dim", "vectors", "no face", "errors", "threshold", "img/s"]
    assert row[:5] == ["dlib", "dlib-hog", "dlib-chip", "128", "48"]


def test_status_fits_80_columns_with_whole_headers(store, terminal):
    r = CliRunner().invoke(cli, ["status", "--store", str(store)])
    assert r.exit_code == 0, r.output
    out = terminal.getvalue()
    assert max(len(line) for line in out.splitlines()) <= 80, out
    for word in ("model", "detector", "aligner", "vectors", "errors", "threshold", "img/s", "dlib-chip"):
        assert word in out, (word, out)
    assert "…" not in out


def test_models_and_weights_at_80_columns_cut_nothing(terminal):
    for args in (["models"], ["weights"]):
        terminal.seek(0)
        terminal.truncate()
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 0, r.output
        out = terminal.getvalue()
        assert max(len(line) for line in out.splitlines()) <= 80, out
        assert "…" not in out and "here?" in out if args == ["models"] else "sha256" in out


def test_evaluate_and_search_piped(store, tmp_path):
    r = CliRunner().invoke(cli, ["evaluate", "--store", str(store), "--sample", "100", "--no-calibrate"])
    assert r.exit_code == 0, r.output
    rows = dict(row for row in _tsv(r.stdout) if len(row) == 2)
    assert rows["stored for search"] == "no (--no-calibrate)" and rows["pairs"].startswith("200 ")
    assert "sample:100:seed0" in r.stderr  # the title, to stderr, with no emoji made of ":100:"
    query = str(DATA / "Colin_Powell" / min(os.listdir(DATA / "Colin_Powell")))
    r = CliRunner().invoke(cli, ["search", query, "--store", str(store), "-k", "3"])
    assert r.exit_code == 0, r.output
    header, *rows = _tsv(r.stdout)
    assert header == ["query", "face", "box", "rank", "identity", "score", "verdict", "nearest image"]
    assert len(rows) == 3 and rows[0][0] == query and rows[0][4] == "Colin_Powell"


def test_json_is_unchanged_by_the_tsv_mode(store):
    doc = run_cli("status", "--store", str(store), "--json")
    assert doc["spaces"][0]["vectors"] == 48
    weights = json.loads(CliRunner().invoke(cli, ["weights", "--json"]).stdout)
    assert isinstance(weights, list) and {"name", "path"} <= set(weights[0])


def test_tsv_cells_have_no_markup_tabs_or_newlines(monkeypatch, capsys):
    from rich.table import Table

    monkeypatch.setattr(common, "stdout", Console(file=io.StringIO(), force_terminal=False))
    t = Table("a", "b", title="ignored on stdout")
    t.add_row("[green]yes[/]", "two\nlines\twith a tab")
    common.print_table(t)
    out, err = capsys.readouterr()
    assert out.splitlines() == ["a\tb", "yes\ttwo; lines with a tab"] and "ignored on stdout" in err


def _complete(words: str) -> tuple[list[str], float]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {**os.environ, "_FACEVAULT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "facevault"], env=env, capture_output=True, text=True, timeout=30, check=False)
    seconds = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    return [line.split(",", 1)[1] for line in r.stdout.splitlines()], seconds


def test_model_and_detector_names_complete_fast():
    runs = [_complete("facevault ingest --model d") for _ in range(3)]  # the best of 3: a busy machine is noisy
    names, seconds = runs[0][0], min(t for _, t in runs)
    assert {"dlib", "dlib+flip"} <= set(names) and all(n.startswith("d") for n in names)
    assert seconds < 1.0, f"completion took {seconds:.2f} s"
    names, _ = _complete("facevault evaluate --detector dlib")
    assert "dlib-hog" in names
    names, _ = _complete("facevault search -d yu")
    assert names and all(n.startswith("yu") for n in names)


def test_completion_imports_no_library():
    """Completing a model name reads registry entries only: no numpy, SQLAlchemy or framework."""
    code = ("import os, sys; os.environ.update(_FACEVAULT_COMPLETE='bash_complete', "
            "COMP_WORDS='facevault ingest --model d', COMP_CWORD='3')\n"
            "from facevault.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('numpy', 'sqlalchemy', 'tensorflow', 'torch', 'onnxruntime', 'cv2', 'dlib')"
            " if m in sys.modules]\n"
            "print('BAD', bad, file=sys.stderr); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_cli_copies_of_library_defaults_stay_equal():
    """The CLI repeats a few library constants so --help and completion import no numpy; they must agree."""
    from facevault.cli import evaluate as cli_eval
    from facevault.cli import health as cli_health
    from facevault.cli import report as cli_report
    from facevault.cli import similarity as cli_sim
    from facevault.evaluation.metric import METRICS
    from facevault.services import health, protocols, report, similarity

    assert cli_eval.METRICS == tuple(METRICS) and cli_eval.PROTOCOLS == tuple(protocols.PROTOCOLS)
    assert cli_eval.DEFAULT_SAMPLE == protocols.DEFAULT_SAMPLE and cli_report.DEFAULT_SAMPLE == report.DEFAULT_SAMPLE
    assert (cli_health.DUPLICATE_THRESHOLD, cli_health.MIN_FACES, cli_health.LIMIT) == (
        health.DUPLICATE_THRESHOLD, health.MIN_FACES, health.LIMIT)
    assert (cli_sim.DEFAULT_TOP, cli_sim.ORDERS) == (similarity.DEFAULT_TOP, tuple(similarity.ORDERS))
