"""`facevault weights`: which weights files are here, fetching them (sha256-verified), registering your own."""

from __future__ import annotations

import os

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from facevault.cli import cli
from facevault.cli.common import (
    complete_model,
    emit_json,
    print_note,
    print_table,
    stderr,
    stdout,
)


def _api():
    """facevault.api, imported on use so that completion and --help of these commands stay fast."""
    from facevault import api

    return api


_weights_option = click.option(
    "--weights", "weights_dir", type=click.Path(file_okay=False), envvar="FACEVAULT_WEIGHTS",
    help="Extra folder to look for weights files in, searched first (env FACEVAULT_WEIGHTS); then the per-user "
         "data folder, a checkout's weights/, $DEEPFACE_HOME/.deepface/weights.")
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
    facevault weights export-adaface CKPT OUT  AdaFace PyTorch checkpoint -> ONNX (needs torch)
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
    rows = _api().weights_status(weights_dir, verify=verify)
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
    print_table(t)
    present = sum(r.path is not None for r in rows)
    print_note(f"{present} of {len(rows)} present; `facevault weights fetch NAME` downloads one.")


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
              help="Folder to put the file in (default: $FACEVAULT_WEIGHTS, else the per-user data folder; "
                   "deepface's files go to $DEEPFACE_HOME/.deepface/weights).")
@click.option("--force", is_flag=True, help="Download again even if a copy is present.")
@_json_option
def fetch_cmd(name: str, dest: str | None, force: bool, as_json: bool) -> None:
    """Download weights file NAME, verify its sha256 and move it into place (nothing is kept on a mismatch)."""
    with Progress(TextColumn(f"[bold]{name}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=stderr, transient=True, disable=as_json) as bar:
        task = bar.add_task("fetch", total=None)
        result = _api().fetch_weights(name, dest, force=force,
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
@click.option("--like", required=True, shell_complete=complete_model, help="ONNX model whose preprocessing to copy (e.g. arcface-mbf, adaface-ir101).")
@click.option("--name", default=None, help="Model name (default: from the file name).")
@_json_option
def add_cmd(file: str, like: str, name: str | None, as_json: bool) -> None:
    """Register your own ONNX recognizer FILE with the preprocessing of --like MODEL.

    The file is checked with onnxruntime (one ~112x112 image input; its real output size is read), copied
    into the weights folder ($FACEVAULT_WEIGHTS, else the per-user data folder) and recorded in
    user-models.json there. Then `facevault ingest DATASET --model NAME` uses it.
    """
    entry = _api().register_model(file, like, name)
    doc = {"name": entry.name, "like": like, "dim": entry.dim, "input": entry.input, "aligner": entry.aligner,
           "file": entry.weights[0], "path": str(_api().weights_path(entry.weights[0])),
           "registry": str(os.path.join(_user_folder(), "user-models.json"))}
    if as_json:
        emit_json(doc)
        return
    stdout.print(f"registered {doc['name']} (like {like}): {doc['dim']}-d, input {doc['input']}, "
                 f"aligner {doc['aligner']}\nweights {doc['path']}\nrecorded in {doc['registry']}", highlight=False)


def _user_folder() -> str:
    from facevault.core.paths import writable_weights_dir

    return str(writable_weights_dir())


@weights_group.command("export-adaface")
@click.argument("ckpt", type=click.Path(exists=True, dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--arch", default="ir_101", show_default=True, help="IR depth: ir_18, ir_34, ir_50, ir_100 or ir_101.")
@click.option("--opset", type=click.IntRange(9, None), default=17, show_default=True, help="ONNX opset.")
@click.option("--tolerance", type=click.FloatRange(0, None), default=1e-4, show_default=True,
              help="Largest |onnxruntime - torch| accepted on a random batch.")
def export_adaface_cmd(ckpt: str, out: str, arch: str, opset: int, tolerance: float) -> None:
    """Export AdaFace checkpoint CKPT (.ckpt) as ONNX file OUT and check onnxruntime agrees with PyTorch.

    No code from the checkpoint runs (only torch's tensor rebuilders are resolved). Needs torch, CPU build:
    pip install torch --index-url https://download.pytorch.org/whl/cpu, then pip install 'facevault[export]'.
    """
    result = _api().export_adaface(ckpt, out, arch=arch, opset=opset, tolerance=tolerance)
    stdout.print("\n".join(result.lines()), highlight=False, markup=False)
    if not result.ok:
        raise click.ClickException(f"exported model differs from torch by {result.max_diff:.3g} > {tolerance:g}")
