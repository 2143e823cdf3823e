"""Every command explains itself, and importing facevault imports no heavy framework."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from facevault.cli import cli


def test_every_command_has_help():
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0 and "ingest" in top.output
    ctx = cli.make_context("facevault", ["--help"], resilient_parsing=True)
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        assert cmd is not None and cmd.help and len(cmd.help) > 30, name
        r = runner.invoke(cli, [name, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output, name
        if name not in ("models", "weights"):
            assert "--store" in r.output and "--json" in r.output, name


def test_importing_facevault_loads_no_tensorflow_and_no_deepface():
    code = ("import sys, facevault.cli, facevault.services.ingest.runner, facevault.services.evaluate, facevault.services.search;"
            "bad = [m for m in ('tensorflow', 'deepface', 'torch', 'dlib', 'faiss') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_help_loads_no_command_module_and_no_library():
    """`facevault --help` (and TAB completion) must stay fast: no command module, SQLAlchemy or numpy."""
    code = ("import sys; from click.testing import CliRunner; from facevault.cli import cli;"
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output;"
            "bad = [m for m in sys.modules if m.startswith(('facevault.cli.', 'sqlalchemy', 'numpy', 'facevault.services'))"
            " and m != 'facevault.cli.__init__'];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_an_unexpected_failure_is_one_line_and_vv_shows_the_traceback(tmp_path):
    """A failure no command anticipates (here a bug planted in settings resolution) is one line and a non-zero
    exit; -vv keeps the traceback for a bug report."""
    code = ("import sys; import facevault.core.settings as s\n"
            "def boom(*a, **k):\n    raise RuntimeError('planted bug')\n"
            "s.resolve = boom\n"
            "from facevault.cli import main\n"
            "sys.argv = ['facevault', *sys.argv[1:]]; main()")
    store = str(tmp_path / "store")
    r = subprocess.run([sys.executable, "-c", code, "status", "--store", store], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "RuntimeError: planted bug" in r.stderr and "-vv" in r.stderr
    r = subprocess.run([sys.executable, "-c", code, "-vv", "status", "--store", store], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" in r.stderr and "planted bug" in r.stderr
