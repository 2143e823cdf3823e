"""`facevault evaluate`: verification accuracy and thresholds from stored vectors."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .. import protocols
from ..errors import ProtocolError
from ..evaluate import Evaluation, evaluate
from . import cli
from .common import emit_json, open_catalog, pct, space_options, stderr, stdout, store_options


@cli.command("evaluate")
@space_options
@click.option("--pairs-file", type=click.Path(dir_okay=False, path_type=Path),
              help="LFW pairs.txt (its own folds), deepface file_x,file_y,Decision CSV, or a,b,label list.")
@click.option("--sample", type=int, default=None, help="Evaluate N seeded same and N different pairs from the store.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --sample and for folds of files without folds.")
@click.option("--folds", type=int, default=10, show_default=True, help="Folds for protocols without their own.")
@click.option("--no-calibrate", is_flag=True, help="Do not store the chosen threshold for search.")
@store_options
def evaluate_cmd(model: str, detector: str | None, pairs_file: Path | None, sample: int | None, seed: int, folds: int,
                 no_calibrate: bool, store: str | None, db: str | None, as_json: bool) -> None:
    """Verification accuracy (mean ± std over folds, each fold's threshold chosen on the other folds),
    AUC, EER, TAR at FAR, and the threshold, computed from stored vectors only.

    A pair whose image has no face counts as an error and is reported. The study's rule
    (threshold = mean + 1 std of same-person distances) is shown for comparison.
    """
    if (pairs_file is None) == (sample is None):
        raise click.UsageError("give exactly one of --pairs-file FILE or --sample N")
    with open_catalog(store, db) as catalog:
        space = catalog.space(model, detector)
        if pairs_file is not None:
            pairs = protocols.read_pairs_file(pairs_file, k=folds, seed=seed)
        else:
            if sample <= 0:
                raise ProtocolError("--sample needs a positive number of pairs")
            paths = catalog.image_paths()
            names = sorted(paths)
            pairs = protocols.sample_pairs(names, [paths[n] for n in names], sample, seed, folds)
        result = evaluate(catalog, space, pairs, calibrate=not no_calibrate)
    if as_json:
        emit_json(result.to_dict())
        return
    _render(result)


def _render(ev: Evaluation) -> None:
    r = ev.report
    t = Table(title=f"verification  {ev.protocol}\nspace  {ev.space}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("pairs", f"{r.pairs} ({r.positives} same, {r.negatives} different)")
    t.add_row("missing a face (counted wrong)", str(r.missing))
    t.add_row("accuracy", f"{100 * r.accuracy:.2f}% ± {100 * r.accuracy_std:.2f} over {len(r.fold_accuracies)} folds")
    t.add_row("threshold (cosine)", f"{r.threshold:.4f}")
    t.add_row("AUC", f"{r.auc:.5f}")
    t.add_row("EER", f"{pct(r.eer)} at {r.eer_threshold:.4f}")
    for ta in r.tar_at_far:
        val = (f"{pct(ta.tar)} (FAR {ta.far_achieved:.1e}, thr {ta.threshold:.4f})" if ta.sufficient
               else "insufficient impostor pairs")
        t.add_row(f"TAR @ FAR {ta.far_target:g}", val)
    t.add_row("study rule (mean + 1 std)", f"{pct(r.study_accuracy)} at {r.study_threshold:.4f}")
    t.add_row("time", f"{ev.seconds:.3f} s")
    stdout.print(t)
    if ev.not_ingested:
        stderr.print(f"[yellow]warning:[/] {ev.not_ingested} pairs left out: their images are not in this store")
    if ev.missing_examples:
        stderr.print("no face in: " + ", ".join(ev.missing_examples[:5]) + (" ..." if r.missing > 5 else ""))
