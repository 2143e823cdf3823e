"""`facevault evaluate`: verification and identification from stored vectors; one space or a leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from facevault.cli import cli
from facevault.cli.common import (
    complete_detector,
    complete_model,
    dataset_option,
    emit_json,
    open_vault,
    pct,
    print_note,
    print_table,
    stderr,
    store_options,
)
from facevault.core.errors import ProtocolError

#: facevault.evaluation.metric.METRICS and facevault.services.protocols.PROTOCOLS / DEFAULT_SAMPLE, repeated here
#: so that TAB completion and --help of this command import no numpy (tests/test_cli_output.py keeps them equal)
METRICS = ("cosine", "euclidean", "euclidean_l2")
PROTOCOLS = ("pairs", "sample", "all", "identify")
DEFAULT_SAMPLE = 3000

if TYPE_CHECKING:
    from facevault.services.evaluate import Evaluation, EvaluationRun


@cli.command("evaluate")
@click.option("--model", "-m", "models", multiple=True, envvar="FACEVAULT_MODEL", shell_complete=complete_model,
              help="Recognizer to evaluate; repeat for several (default: every space in the store).")
@click.option("--detector", "-d", "detectors", multiple=True, envvar="FACEVAULT_DETECTOR",
              shell_complete=complete_detector,
              help="Only spaces built with this detector; repeat for several (default: all).")
@click.option("--protocol", type=click.Choice(PROTOCOLS), default=None,
              help="pairs (--pairs-file), sample (--sample N), all (every pair of the stored vectors), "
                   "identify (gallery/probe identification).")
@click.option("--pairs-file", type=click.Path(dir_okay=False, path_type=Path),
              help="LFW pairs.txt (its own folds), deepface file_x,file_y,Decision CSV, or a,b,label list.")
@click.option("--sample", type=click.IntRange(min=1), default=None,
              help=f"Evaluate N seeded same and N different pairs from the store (--protocol sample: "
                   f"{DEFAULT_SAMPLE}).")
@click.option("--metric", type=click.Choice(METRICS), default="cosine", show_default=True,
              help="euclidean uses the raw (unnormalised) vectors; euclidean_l2 the unit vectors.")
@click.option("--target-far", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Operating point: the threshold with FAR <= this on the protocol's pairs (default: best accuracy).")
@click.option("--gallery-per-identity", type=click.IntRange(min=1), default=1, show_default=True,
              help="identify: gallery faces per identity (identities need one more face to be used).")
@click.option("--unknown-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.1,
              show_default=True,
              help="identify: share of identities held out of the gallery for open-set DIR@FPIR.")
@click.option("--ranks", type=click.IntRange(min=1), default=20, show_default=True, help="identify: CMC curve ranks.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples for the 95% confidence intervals (0: none).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for --sample, identify's split, the bootstrap, and folds of files without folds.")
@click.option("--folds", type=click.IntRange(min=2), default=10, show_default=True,
              help="Folds for protocols without their own.")
@click.option("--calibrate/--no-calibrate", "calibrate", default=None,
              help="Store the chosen threshold for search/verify (default: only from a cross-validated protocol, "
                   "pairs or sample; --calibrate also from --protocol all; --no-calibrate never).")
@dataset_option
@click.option("--by", type=click.Choice(["dataset"]), default=None,
              help="The grid: every space (rows) on every dataset (columns), each dataset with its own protocol "
                   "(its pairs.txt / master.csv, else a seeded --sample), rows' mean rank, columns' best.")
@click.option("--metric-column", type=click.Choice(["accuracy", "auc", "eer"]), default="accuracy",
              show_default=True, help="--by dataset: what the cells show and rank by.")
@store_options
def evaluate_cmd(models: tuple[str, ...], detectors: tuple[str, ...], protocol: str | None, pairs_file: Path | None,
                 sample: int | None, metric: str, target_far: float | None, gallery_per_identity: int,
                 unknown_fraction: float, ranks: int, bootstrap: int, seed: int, folds: int, calibrate: bool | None,
                 datasets: tuple[str, ...], by: str | None, metric_column: str,
                 store: str | None, db: str | None, as_json: bool) -> None:
    """Verification accuracy (mean ± std over folds, each fold's threshold chosen on the other folds, with a
    bootstrap 95% CI), AUC, EER, TAR at FAR, and the threshold at the chosen operating point, which is stored
    on the space for `search` (cosine only); or identification (rank-1/5, CMC, open-set DIR@FPIR). Computed
    from stored vectors only.

    Several spaces (repeat --model / --detector, or none for all) give one leaderboard. A pair whose image has
    no face counts as an error and is reported. `--protocol all` scores every pair of the store from score
    histograms; its threshold is not cross-validated, so it replaces the stored one only with --calibrate.
    """
    if by is not None:
        if protocol is not None or pairs_file is not None:
            raise click.UsageError("--by dataset uses each dataset's own protocol; it takes --sample, not "
                                   "--protocol or --pairs-file")
        from facevault.cli.study import render_grid

        with open_vault(store, db) as vault:
            grid = vault.evaluate(models=models, detectors=detectors, sample=sample, metric=metric,
                                  seed=seed, folds=folds,
                                  datasets=datasets, by=by, metric_column=metric_column)
        emit_json(grid.to_dict()) if as_json else render_grid(grid)
        return
    from facevault.services import protocols

    try:  # a usage error (exit 2), before the store is opened
        chosen = protocols.choose_protocol(protocol, pairs_file, sample)
    except ProtocolError as exc:
        raise click.UsageError(str(exc)) from None
    with open_vault(store, db) as vault:
        run = vault.evaluate(models=models, detectors=detectors, protocol=chosen, pairs=pairs_file, sample=sample,
                             metric=metric, target_far=target_far, gallery_per_identity=gallery_per_identity,
                             unknown_fraction=unknown_fraction, ranks=ranks, bootstrap=bootstrap, seed=seed,
                             folds=folds, calibrate=calibrate, datasets=datasets)
    for label, reason in run.skipped:
        stderr.print(f"[yellow]skipped[/] {label}: {reason}", highlight=False)
    if as_json:
        emit_json(run.to_dict())
    elif run.identification:
        _identification(run)
    elif run.single:
        _render(run.best)
    else:
        _leaderboard(run.rows(), run.best, run.seconds, run.results)


def _ci(ci) -> str:
    return "" if ci is None else f" [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"


def _render(ev: Evaluation) -> None:
    r = ev.report
    unit = "cosine" if ev.metric == "cosine" else f"{ev.metric} distance"
    t = Table(title=f"verification  {ev.protocol}\nspace  {ev.space}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("pairs", f"{r.pairs} ({r.positives} same, {r.negatives} different)")
    t.add_row("missing a face (counted wrong)", str(r.missing))
    if r.cross_validated:
        t.add_row("accuracy", f"{100 * r.accuracy:.2f}% ± {100 * r.accuracy_std:.2f} over {len(r.fold_accuracies)} "
                              f"folds{_ci(r.accuracy_ci)}")
    else:
        t.add_row("accuracy (threshold not cross-validated)", f"{100 * r.accuracy:.2f}%{_ci(r.accuracy_ci)}")
    t.add_row(f"threshold ({unit})", f"{r.threshold:.4f}")
    t.add_row("AUC", f"{r.auc:.5f}")
    t.add_row("EER", f"{pct(r.eer)} at {r.eer_threshold:.4f}")
    for ta in r.tar_at_far:
        val = (f"{pct(ta.tar)}{_ci(ta.ci)} (FAR {ta.far_achieved:.1e}, thr {ta.threshold:.4f})" if ta.sufficient
               else "insufficient impostor pairs")
        t.add_row(f"TAR @ FAR {ta.far_target:g}", val)
    t.add_row("study rule (mean + 1 std)", f"{pct(r.study_accuracy)} at {r.study_threshold:.4f}")
    op = ev.operating_point
    t.add_row("operating point", f"{op['rule']}: {op['threshold']:.4f} (FAR {op['far']:.2e}, TAR {pct(op['tar'])})")
    stored = ev.threshold_source or f"no ({ev.threshold_note or 'not asked'})"
    t.add_row("stored for search", stored)
    t.add_row("time", f"{ev.seconds:.3f} s")
    print_table(t)
    print_note(f"[dim]{r.note}[/]")
    if ev.not_ingested:
        stderr.print(f"[yellow]warning:[/] {ev.not_ingested} pairs left out: their images are not in this "
                     "store or not yet ingested in this space")
    if ev.missing_examples:
        stderr.print("no face in: " + ", ".join(ev.missing_examples[:5]) + (" ..." if r.missing > 5 else ""))


def _leaderboard(rows: list[dict], first: Evaluation, seconds: float, results: list[Evaluation]) -> None:
    t = Table(title=f"leaderboard  {first.protocol}  ({first.metric}; {len(rows)} spaces, {seconds:.2f} s)",
              title_justify="left")
    for col in ("model", "detector", "aligner", "accuracy", "AUC", "EER", "TAR@FAR=1e-3", "missing", "img/s"):
        t.add_column(col, justify="left" if col in ("model", "detector", "aligner") else "right")
    for r in rows:
        std = "" if r["accuracy_std"] is None else f" ± {100 * r['accuracy_std']:.2f}"
        acc = f"{100 * r['accuracy']:.2f}%{std}"
        t.add_row(r["model"], r["detector"], r["aligner"], acc, f"{r['auc']:.4f}", pct(r["eer"]),
                  pct(r["tar_at_far_1e-3"]), str(r["missing"]),
                  "-" if r["images_per_second"] is None else f"{r['images_per_second']:.1f}")
    print_table(t)
    print_note(f"[dim]{first.report.note}[/]")
    stored = sum(ev.threshold_source is not None for ev in results)
    why = next((ev.threshold_note for ev in results if ev.threshold_note), None)
    print_note(f"thresholds stored for search: {stored} of {len(results)} spaces" + (f" ({why})" if why else ""))


def _identification(run: EvaluationRun) -> None:
    docs = [r.to_dict() for r in run.results]
    if run.single:
        d = docs[0]
        t = Table(title=f"identification\nspace  {d['space']}", show_header=False, title_justify="left")
        t.add_column(style="bold")
        t.add_column(justify="right")
        t.add_row("gallery", f"{d['identities']} identities, {d['gallery']} faces ({d['gallery_per_identity']} each)")
        t.add_row("probes", str(d["probes"]))
        t.add_row("rank-1", f"{pct(d['rank1'])}{_ci(d['rank1_ci'])}")
        t.add_row("rank-5", f"{pct(d['rank5'])}{_ci(d['rank5_ci'])}")
        cmc = d["cmc"]
        t.add_row("CMC", "  ".join(f"r{r}: {pct(cmc[r - 1])}" for r in (1, 2, 5, 10, 20) if r <= len(cmc)))
        t.add_row("open set", f"{d['unknown_identities']} identities held out: {d['known_probes']} known, "
                              f"{d['unknown_probes']} unknown probes")
        for p in d["open_set"]:
            t.add_row(f"DIR @ FPIR {p['fpir_target']:g}",
                      f"{pct(p['dir'])} (FPIR {p['fpir_achieved']:.3f}, thr {p['threshold']:.4f})" if p["sufficient"]
                      else "insufficient unknown probes")
        t.add_row("time", f"{d['seconds']:.3f} s")
        print_table(t)
        print_note(f"[dim]{d['note']}[/]")
        return
    t = Table(title="identification leaderboard", title_justify="left")
    for col in ("model", "detector", "aligner", "rank-1", "rank-5", "DIR@FPIR=1%", "DIR@FPIR=10%", "probes", "img/s"):
        t.add_column(col, justify="left" if col in ("model", "detector", "aligner") else "right")
    for d in docs:  # best first
        t.add_row(d["model"], d["detector"], d["aligner"], f"{pct(d['rank1'])}{_ci(d['rank1_ci'])}", pct(d["rank5"]),
                  pct(d["dir_at_fpir"].get("0.01")), pct(d["dir_at_fpir"].get("0.1")), str(d["probes"]),
                  "-" if d["images_per_second"] is None else f"{d['images_per_second']:.1f}")
    print_table(t)
    print_note(f"[dim]{docs[0]['note']}[/]")
