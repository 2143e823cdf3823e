"""The facevault command line: thin commands over the library (click + rich)."""

from __future__ import annotations

import logging

import click

from facevault.core.errors import FacevaultError


class Group(click.Group):
    """Turns domain errors into one-line messages and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FacevaultError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="facevault")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """facevault: embed a folder-per-identity face dataset once, then evaluate, compare and search it.

    \b
    facevault ingest DATASET          detect, align and embed every image into the store
    facevault status                  what the store holds
    facevault evaluate                verification accuracy, AUC, EER, TAR@FAR, threshold
    facevault similarity              identity x identity mean similarity (PNG + CSV)
    facevault search IMAGE            who is this? / --identity NAME for lookalikes
    facevault verify A.jpg B.jpg      same person or not, at the calibrated threshold
    facevault report --out DIR        one HTML page: leaderboard, curves, hardest pairs, health
    facevault health                  likely mislabels, duplicates, thin identities, bad images
    facevault models | weights        the models and detectors available, and their weights files

    Every command takes --store DIR (env FACEVAULT_STORE, default ./.facevault), --model (default dlib),
    --detector (default dlib-hog) and --json.
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    cli(prog_name="facevault")


def _register() -> None:
    """Attach the command modules (each adds itself to `cli`)."""
    from facevault.cli import evaluate# noqa: F401
    from facevault.cli import health
    from facevault.cli import ingest
    from facevault.cli import report
    from facevault.cli import search
    from facevault.cli import similarity
    from facevault.cli import status
    from facevault.cli import verify
    from facevault.cli import weights


_register()
