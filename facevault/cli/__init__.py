"""The facevault command line: parse options, make one call on the Python API, render what it returns.

Command modules load on demand (`facevault --help` and TAB completion import none of them, nor the library
underneath); each module registers its command on `cli` when it is imported.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from facevault.core.errors import FacevaultError

#: command name -> (module that defines it, one-line help), in the order `--help` lists them
COMMANDS = {
    "ingest": ("facevault.cli.ingest", "Detect, align and embed every image of a dataset into the store."),
    "status": ("facevault.cli.status", "What the store holds: images, identities, spaces."),
    "evaluate": ("facevault.cli.evaluate", "Verification accuracy, AUC, EER, TAR@FAR and thresholds."),
    "study": ("facevault.cli.study", "Every dataset x model x detector: ingest, the grid, the report."),
    "similarity": ("facevault.cli.similarity", "Identity x identity mean similarity (heatmap + CSV)."),
    "search": ("facevault.cli.search", "Who is this? Nearest identities, or lookalikes of one."),
    "serve": ("facevault.cli.serve", "Keep a store's model and index loaded; answer searches fast."),
    "index": ("facevault.cli.index", "The search index of a space: kind (flat, IVF, HNSW), why, rebuild."),
    "verify": ("facevault.cli.verify", "Are two images the same person?"),
    "report": ("facevault.cli.report", "One HTML report of every space: curves, hardest pairs, health."),
    "health": ("facevault.cli.health", "Likely mislabels, duplicates, thin identities, bad images."),
    "models": ("facevault.cli.status", "Every recognizer and detector, its weights and device."),
    "weights": ("facevault.cli.weights", "Weights files: present, verified, fetch, add your own."),
    "check": ("facevault.cli.check", "Is the store consistent? integrity, orphans, vectors, indices (--repair)."),
}


class Group(click.Group):
    """Loads command modules lazily and turns domain errors into one line and a non-zero exit."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            importlib.import_module(COMMANDS[name][0])
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table above, so `--help` imports no command module."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in COMMANDS.items()])

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FacevaultError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="facevault")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug, and tracebacks of failures).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """facevault: embed a folder-per-identity face dataset once, then evaluate, compare and search it.

    Every command takes --store DIR (env FACEVAULT_STORE, default ./.facevault), --model (default dlib),
    --detector (default dlib-hog) and --json. `facevault COMMAND --help` explains each one.
    """
    ctx.ensure_object(dict)["verbose"] = verbose
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _verbosity(argv: list[str]) -> int:
    n = 0
    for a in argv:
        if a == "--verbose":
            n += 1
        elif a.startswith("-") and not a.startswith("--") and set(a[1:]) == {"v"}:
            n += len(a) - 1
    return n


def main() -> None:
    """The console entry point: an unexpected failure is one line and exit 1; `-vv` shows its traceback."""
    try:
        cli(prog_name="facevault", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug or an environment problem: say what, keep the traceback for -vv
        if _verbosity(sys.argv[1:]) >= 2:
            raise
        text = " ".join(str(exc).split()) or type(exc).__name__
        click.echo(f"Error: {type(exc).__name__}: {text[:300]} (run with -vv for the traceback)", err=True)
        sys.exit(1)
