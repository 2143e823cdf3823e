"""`facevault study DIR... --model M... --detector D...`: the whole study in one command; and the grid's table
(also printed by `evaluate --by dataset`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from facevault.cli import cli
from facevault.cli.common import (
    emit_json,
    open_vault,
    print_note,
    print_table,
    stderr,
    store_options,
    weights_option,
)

if TYPE_CHECKING:
    from facevault.services.grid import Grid


def _cell(c, metric: str) -> str:
    if c is None:
        return "-"
    if metric == "accuracy":
        std = "" if c.accuracy_std is None else f" ± {100 * c.accuracy_std:.2f}"
        return f"{100 * c.accuracy:.2f}%{std}"
    return f"{100 * c.eer:.2f}%" if metric == "eer" else f"{c.auc:.4f}"


def render_grid(grid: Grid) -> None:
    """Rows: spaces, best mean rank first; columns: datasets; last row: each column's best combination."""
    metric = grid.metric_column
    mr, best = grid.mean_rank(), grid.best()
    labels = {s.id: f"{s.model} / {s.detector} / {s.aligner}" for s in grid.spaces}
    t = Table(title=f"grid  {metric}{' (cross-validated, ± std over folds)' if metric == 'accuracy' else ''}  "
                    f"{len(grid.spaces)} spaces x {len(grid.datasets)} datasets, {grid.seconds:.2f} s",
              title_justify="left")
    t.add_column("model / detector / aligner")
    for ds in grid.datasets:
        t.add_column(ds, justify="right")
    t.add_column("mean rank", justify="right")
    for sp in grid.ordered_spaces():
        t.add_row(labels[sp.id], *[_cell(grid.cell(sp.id, ds), metric) for ds in grid.datasets],
                  "-" if mr[sp.id] is None else f"{mr[sp.id]:.2f}")
    t.add_row("best", *[labels.get(best[ds], "-") if best[ds] is not None else "-" for ds in grid.datasets], "")
    print_table(t)
    print_note("\n".join(f"{ds}: {proto}" for ds, proto in grid.protocols.items()))
    for space, ds, why in grid.skipped:
        stderr.print(f"[yellow]skipped[/] {space} on {ds}: {why}", highlight=False)


@cli.command("study")
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", "-m", "models", multiple=True, help="Recognizer; repeat for several (default: dlib).")
@click.option("--detector", "-d", "detectors", multiple=True, help="Detector; repeat for several (default: dlib-hog).")
@click.option("--dataset", "names", multiple=True, metavar="NAME",
              help="Dataset name of each FOLDER, in order (default: each folder's name).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the study report here (study.html, study.md, study.json, img/).")
@click.option("--metric-column", type=click.Choice(["accuracy", "auc", "eer"]), default="accuracy",
              show_default=True, help="What the grid's cells show and rank by.")
@click.option("--sample", type=click.IntRange(min=1), default=None,
              help="Pairs per kind sampled for datasets without a pairs file (default 3000, capped by the data).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample and its folds.")
@click.option("--folds", type=click.IntRange(min=2), default=10, show_default=True, help="Folds of the sample.")
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None, help="Worker processes for ingest.")
@weights_option
@store_options
def study_cmd(folders: tuple[Path, ...], models: tuple[str, ...], detectors: tuple[str, ...], names: tuple[str, ...],
              out: Path | None, metric_column: str, sample: int | None, seed: int, folds: int, workers: int | None,
              weights_dir: str | None, store: str | None, db: str | None, as_json: bool) -> None:
    """Ingest every FOLDER as a dataset for every --model x --detector, print the grid of spaces x datasets
    (each dataset with its own pairs file, else a seeded sample with k folds) and, with --out, write the
    study report. A rerun does only what is missing; combinations without their weights are skipped."""
    from facevault.core import settings as config

    with open_vault(store, db, weights_dir, workers) as vault:
        result = vault.study(list(folders), models=models or (config.DEFAULT_MODEL,),
                             detectors=detectors or (config.DEFAULT_DETECTOR,), names=names or None, out=out,
                             sample=sample, seed=seed, folds=folds, metric_column=metric_column)
    if as_json:
        emit_json(result.to_dict())
        return
    for s in result.skipped:
        stderr.print(f"[yellow]skipped[/] {s['model']} / {s['detector']}: {s['reason']}", highlight=False)
    print_note(f"ingested {len(result.datasets)} datasets x {len(result.combinations)} combinations: "
               f"{result.processed} images processed, {result.embedded} embedded ({result.seconds:.1f} s)")
    if result.grid is not None:
        render_grid(result.grid)
    for kind, path in result.report.items():
        print_note(f"{kind}: {path}")
