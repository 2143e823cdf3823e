"""`facevault report --out DIR`: one HTML page (plus Markdown and JSON) comparing every space of the store."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from facevault.cli import cli
from facevault.cli.common import (
    dataset_option,
    emit_json,
    open_vault,
    pct,
    print_note,
    print_table,
    store_options,
)

#: facevault.services.report.DEFAULT_SAMPLE, repeated so completion and --help import no library (a test keeps it equal)
DEFAULT_SAMPLE = 3000


@cli.command("report")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write report.html, report.md, report.json and img/ into.")
@click.option("--pairs-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Protocol: LFW pairs.txt, deepface file_x,file_y,Decision CSV, or a,b,label list.")
@click.option("--sample", type=click.IntRange(min=1), default=None,
              help="Protocol: N seeded same and N different pairs from the store "
                   f"(default {DEFAULT_SAMPLE}).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --sample and for folds.")
@click.option("--folds", type=click.IntRange(min=2), default=10, show_default=True, help="Folds for protocols without their own.")
@click.option("--top", "top", type=click.IntRange(min=1), default=30, show_default=True,
              help="Identities (most faces first) in the similarity heatmap.")
@click.option("--hard", "hard", type=click.IntRange(min=0), default=8, show_default=True, help="Hardest pairs shown with their faces.")
@click.option("--weights", "weights_dir", type=click.Path(file_okay=False), envvar="FACEVAULT_WEIGHTS",
              help="Extra folder to look for weights files in (to align the faces shown).")
@dataset_option
@store_options
def report_cmd(out: Path, pairs_file: Path | None, sample: int | None, seed: int, folds: int, top: int, hard: int,
               weights_dir: str | None, datasets: tuple[str, ...], store: str | None, db: str | None,
               as_json: bool) -> None:
    """An evaluation a reader can follow without running the tool: every space of the store scored on the same
    pairs (leaderboard, ROC, DET, score distributions, identification), the identity similarity heatmap, the
    hardest pairs with their aligned faces, lookalike identities and dataset health, each explained.
    Nothing in the store changes (thresholds are not stored; use `facevault evaluate` for that)."""
    if pairs_file is not None and sample is not None:
        raise click.UsageError("give --pairs-file FILE or --sample N, not both")
    with open_vault(store, db, weights_dir) as vault:
        rep = vault.report(out, pairs=pairs_file, sample=sample, seed=seed, folds=folds, top_identities=top, datasets=datasets,
                           hard_pairs=hard)
    if as_json:
        emit_json({**rep.doc, "files": {k: str(v) for k, v in rep.files.items()}})
        return
    t = Table(title=f"leaderboard  ({rep.doc['protocol']['name']}, {rep.doc['protocol']['pairs']} pairs)",
              title_justify="left")
    for col in ("#", "space", "accuracy", "AUC", "EER", "threshold"):
        t.add_column(col, justify="left" if col == "space" else "right")
    for r in rep.doc["leaderboard"]:
        t.add_row(str(r["rank"]), r["space"], pct(r["accuracy"]), f"{r['auc']:.4f}", pct(r["eer"]),
                  f"{r['threshold_used']:.4f}" + ("" if r["threshold_stored"] else " *"))
    print_table(t)
    for k, p in rep.files.items():
        print_note(f"{k:5s} {p}")
