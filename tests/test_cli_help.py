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
    for name, cmd in cli.commands.items():
        assert cmd.help and len(cmd.help) > 30, name
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
