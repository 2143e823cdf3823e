"""`facevault ingest`: detect, align and embed a dataset into the store."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from facevault.cli import cli
from facevault.cli.common import (
    emit_json,
    open_vault,
    print_note,
    print_table,
    space_options,
    stderr,
    store_options,
    weights_option,
)
from facevault.core import settings as config
from facevault.zoo.registry import FRAME_SUFFIX


@contextmanager
def _sigterm_interrupts():
    """SIGTERM stops the run like Ctrl-C: what is done is committed and the message says how much."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Rate(TextColumn):
    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # images/s over the whole run so far
        speed = task.completed / task.elapsed if task.elapsed else 0.0
        return f"{speed:5.1f} img/s"


@cli.command("ingest")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@space_options
@click.option("--aligner", default=None, help="Alignment (default: the recognizer's own; `facevault models` lists them).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Faces per recognizer call (default: sized for the device; models with a fixed batch are always "
                   "fed correctly).")
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: the cores available; env FACEVAULT_WORKERS).")
@weights_option
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Ingest only the first N images (for a quick look; images not walked are left as they are).")
@click.option("--retry-failed", is_flag=True, help="Process again the images that gave no face or an error "
              "in this space (e.g. after changing detector settings); others are still skipped.")
@click.option("--dataset", "dataset_name", default=None,
              help="Name of the dataset in the store (default: the folder's name); a store holds several.")
@click.option("--move-root", is_flag=True,
              help="The folder of an existing --dataset moved on disk: re-root it here (vectors are kept).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where the per-image work runs: this machine's processes, or Ray Data actors (pip install "
                   "'facevault[ray]'); this process always plans and writes the catalog.")
@click.option("--address", default=None, help="--engine ray: the cluster (auto, ray://HOST:PORT); default: a "
              "local Ray started for this run.")
@click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=None,
              help="--engine ray: GPUs per actor where the cluster has GPUs (default 1; 0: CPU actors only).")
@store_options
def ingest_cmd(dataset: Path, model: str | None, detector: str | None, aligner: str | None, batch_size: int | None,
               workers: int | None, weights_dir: str | None, limit: int | None, retry_failed: bool,
               dataset_name: str | None, move_root: bool, engine: str, address: str | None,
               gpus_per_worker: float | None, store: str | None, db: str | None, as_json: bool) -> None:
    """Detect, align and embed every image of DATASET (DATASET/<identity>/**/<image>) once per model.

    Idempotent by content: a second run embeds only new or changed images, renamed files keep their
    vectors, and an interrupted run resumes where it stopped. Bad images are counted and skipped.
    """
    from facevault.api import recognizer_device

    model = model or config.DEFAULT_MODEL
    detector = detector or config.DEFAULT_DETECTOR
    device = recognizer_device(model)  # also refuses an unknown model before anything is created
    with open_vault(store, db, weights_dir, workers) as vault, \
            Progress(TextColumn(f"[bold]ingest[/] {model} on {device}"), BarColumn(), MofNCompleteColumn(), _Rate(),
                     TextColumn("eta"), TimeRemainingColumn(), TimeElapsedColumn(), console=stderr, transient=True,
                     disable=as_json or not stderr.is_terminal) as bar:  # transient: a failure leaves one line
        task = bar.add_task("ingest", total=None)
        with _sigterm_interrupts():
            summary = vault.ingest(dataset, model, detector, aligner, batch_size=batch_size, limit=limit,
                                   retry_failed=retry_failed, dataset=dataset_name, move_root=move_root,
                                   engine=engine, address=address, gpus_per_worker=gpus_per_worker,
                                   workers=workers if engine == "ray" else None,
                                   progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        emit_json({**summary.to_dict(), "device": device})
    else:
        _render(summary, device)
    if summary.interrupted:
        raise click.ClickException(
            f"interrupted: {summary.saved} images saved; run the same command again to resume")


def _render(s, device: str) -> None:
    t = Table(title=f"ingest  {s.root}\ndataset  {s.dataset}\nspace  {s.space}", show_header=False,
              title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    rows = [
        ("files", s.files), ("identities", s.identities),
        ("new / changed / unchanged files", f"{s.new} / {s.changed} / {s.unchanged}"),
        ("deleted since last run", s.missing),
        ("skipped (already embedded)", s.skipped), ("processed", s.processed),
        ("faces found", s.faces), ("embedded", s.embedded),
        ("images with several faces", s.multi_face), ("no face", s.no_face),
    ]
    if s.whole_frame or s.space.split(" / ")[1].endswith(FRAME_SUFFIX):
        rows.append(("no face: embedded whole (+frame)", s.whole_frame))
    if getattr(s, "skipped_files", 0):
        rows.insert(1, ("files not read (not images, too large, links...)", s.skipped_files))
    for kind, n in sorted(s.errors.items()):
        rows.append((f"error: {kind}", n))
    rows.append(("time", f"{s.seconds:.1f} s ({s.images_per_second:.1f} images/s, {s.workers} workers, {device})"))
    if not s.complete:
        rows.append(("partial run (--limit)", "images not walked were left as they are"))
    for k, v in rows:
        t.add_row(k, str(v))
    print_table(t)
    quiet = ("no-face", "whole-frame")
    shown = [p for p in s.problems if p["kind"] not in quiet][:10] + [p for p in s.problems if p["kind"] in quiet][:5]
    for p in shown:
        print_note(f"  [yellow]{p['kind']}[/]  {p['path']}: {p['message']}")
