"""`facevault weights`: which weights files are here, fetching them (sha256-verified), registering your own."""

from __future__ import annotations

import os

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from facevault.weights import manifest
from facevault.cli import cli
from facevault.cli.common import emit_json, stderr, stdout

_weights_option = click.option(
    "--weights", "weights_dir", type=click.Path(file_okay=False), envvar="FACEVAULT_WEIGHTS",
    help="Extra folder to look for weights files in (env FACEVAULT_WEIGHTS; default: the repository's weights/).")
_json_option = click.option("--json", "as_json", is_flag=True,
                            help="Print one JSON document on stdout instead of tables.")
_verify_option = click.option("--verify", is_flag=True, help="Also hash files over 200 MB (slow).")


@cli.group("weights", invoke_without_command=True)
@_weights_option
@_verify_option
@_json_option
@click.pass_context
def weights_group(ctx: click.Context, weights_dir: str | None, verify: bool, as_json: bool) -> None:
    """Weights files: which are present (sha256 checked), where each goes, and how to get the rest.

    \b
    facevault weights                          the table (same as `facevault weights status`)
    facevault weights fetch NAME               download NAME, verify its sha256, put it in place
    facevault weights add FILE --like MODEL    register your own ONNX recognizer (MODEL's preprocessing)
    """
    if ctx.invoked_subcommand is None:
        _show(weights_dir, verify, as_json)


@weights_group.command("status")
@_weights_option
@_verify_option
@_json_option
def status_cmd(weights_dir: str | None, verify: bool, as_json: bool) -> None:
    """Every known weights file: used by, present where (or where it would go), sha256 ok?, size, licence."""
    _show(weights_dir, verify, as_json)


def _show(weights_dir: str | None, verify: bool, as_json: bool) -> None:
    rows = manifest.status(weights_dir, verify=verify)
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    t = Table(title="weights files", title_justify="left")
    for col in ("name", "used by", "present / would go to", "sha256", "size", "licence"):
        t.add_column(col, justify="right" if col == "size" else "left", overflow="fold",
                     no_wrap=col in ("name", "sha256", "size"))
    marks = {"ok": "[green]ok[/]", "mismatch": "[red]MISMATCH[/]", "unknown": "no digest", "unchecked": "not hashed"}
    for r in rows:
        where = f"[green]{r.path}[/]" if r.path else f"[dim]{r.target}[/]" + ("" if r.url else " [yellow](by hand)[/]")
        t.add_row(r.name, ", ".join(r.used_by) or "-", where, marks.get(r.checksum or "", "-"), _size(r.size),
                  r.licence or "-")
    stdout.print(t)
    present = sum(r.path is not None for r in rows)
    stdout.print(f"{present} of {len(rows)} present; `facevault weights fetch NAME` downloads one.", highlight=False)


def _size(n: int | None) -> str:
    if not n:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@weights_group.command("fetch")
@click.argument("name")
@click.option("--dest", type=click.Path(file_okay=False), default=None,
              help="Folder to put the file in (default: $FACEVAULT_WEIGHTS or the repository's weights/; "
                   "deepface's files go to $DEEPFACE_HOME/.deepface/weights).")
@click.option("--force", is_flag=True, help="Download again even if a copy is present.")
@_json_option
def fetch_cmd(name: str, dest: str | None, force: bool, as_json: bool) -> None:
    """Download weights file NAME, verify its sha256 and move it into place (nothing is kept on a mismatch)."""
    with Progress(TextColumn(f"[bold]{name}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=stderr, transient=True, disable=as_json) as bar:
        task = bar.add_task("fetch", total=None)
        result = manifest.fetch(name, dest, force=force,
                                progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        emit_json(result.to_dict())
        return
    verb = "fetched" if result.downloaded else "already present:"
    stdout.print(f"{verb} {result.name} -> {result.path}\nsha256 {result.sha256}", highlight=False)
    for note in result.notes:
        stderr.print(f"[yellow]note:[/] {note}", highlight=False)


@weights_group.command("add")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--like", required=True, help="ONNX model whose preprocessing to copy (e.g. arcface-mbf, adaface-ir101).")
@click.option("--name", default=None, help="Model name (default: from the file name).")
@_json_option
def add_cmd(file: str, like: str, name: str | None, as_json: bool) -> None:
    """Register your own ONNX recognizer FILE with the preprocessing of --like MODEL.

    The file is checked with onnxruntime (one ~112x112 image input; its real output size is read), copied
    into the weights folder ($FACEVAULT_WEIGHTS or the repository's weights/) and recorded in
    user-models.json there. Then `facevault ingest DATASET --model NAME` uses it.
    """
    entry = manifest.add(file, like, name)
    doc = {"name": entry.name, "like": like, "dim": entry.dim, "input": entry.input, "aligner": entry.aligner,
           "file": entry.weights[0], "path": str(manifest.locate(entry.weights[0])),
           "registry": str(os.path.join(_user_folder(), "user-models.json"))}
    if as_json:
        emit_json(doc)
        return
    stdout.print(f"registered {doc['name']} (like {like}): {doc['dim']}-d, input {doc['input']}, "
                 f"aligner {doc['aligner']}\nweights {doc['path']}\nrecorded in {doc['registry']}", highlight=False)


def _user_folder() -> str:
    from facevault.zoo import user

    return str(user.folder())
