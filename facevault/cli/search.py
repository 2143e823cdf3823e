"""`facevault search`: nearest identities for query images, or lookalikes of an identity."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import click

from facevault.cli import cli, common
from facevault.cli.common import (
    dataset_option,
    emit_json,
    open_vault,
    plain_output,
    print_note,
    print_table,
    space_options,
    store_options,
    weights_option,
)


@cli.command("search")
@click.argument("images", nargs=-1, type=click.Path(path_type=Path))
@space_options
@click.option("--identity", help="Rank other identities by centroid similarity to this one (lookalikes).")
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="How many identities to return.")
@click.option("--threshold", type=click.FloatRange(-1, 1), default=None,
              help="Cosine threshold for the same/different verdict (default: the one `evaluate` calibrated).")
@click.option("--no-server", is_flag=True, envvar="FACEVAULT_NO_SERVER",
              help="Search in this process even when `facevault serve` runs for the store (env FACEVAULT_NO_SERVER).")
@weights_option
@dataset_option
@store_options
def search_cmd(images: tuple[Path, ...], model: str | None, detector: str | None, identity: str | None, k: int,
               threshold: float | None, no_server: bool, weights_dir: str | None, datasets: tuple[str, ...],
               store: str | None, db: str | None, as_json: bool) -> None:
    """Who is this? Every face in each IMAGE (a folder: every image under it) is embedded in the store's space
    and matched to the k nearest identities, with a same/different verdict from the threshold `evaluate`
    calibrated.
    With --identity NAME, list the identities that look most like NAME.

    When `facevault serve` runs for the same store and settings, it answers (the models and index are
    already loaded there); --no-server searches here regardless.

    Exits non-zero when no query image could be searched."""
    if bool(images) == bool(identity):
        raise click.UsageError("give query IMAGES or --identity NAME (not both)")
    served = None if no_server else _ask_server(images, identity, k, model, detector, threshold, datasets, store,
                                                db, weights_dir)
    if served is not None:
        space, doc = SimpleNamespace(**served["space"], served=True), served["results"]
    else:
        with open_vault(store, db, weights_dir) as vault:
            space = vault.space(model, detector)
            if identity:
                doc = vault.lookalikes(identity, k=k, model=space.model, detector=space.detector, datasets=datasets)
            else:
                doc = vault.search(list(images), k=k, model=space.model, detector=space.detector,
                                   threshold=threshold, datasets=datasets)
    failed = not identity and all(q.get("error") for q in doc)
    if as_json:
        emit_json(doc)
    elif identity:
        _lookalikes(doc, identity)
    else:
        _matches(doc, space, threshold)
    if failed:
        raise click.ClickException(f"no query could be searched ({len(doc)} failed)")


def _ask_server(images: tuple[Path, ...], identity: str | None, k: int, model: str | None, detector: str | None,
                threshold: float | None, datasets: tuple[str, ...], store: str | None, db: str | None,
                weights_dir: str | None) -> dict | None:
    """The answer of the store's `facevault serve`, or None when none answers for these settings (a server that
    failed is named on stderr, and this process searches)."""
    from facevault.server import client

    try:
        return client.search(store, db, weights_dir, queries=[str(q) for q in images], identity=identity, k=k,
                             model=model, detector=detector, threshold=threshold, datasets=datasets)
    except client.ServerFailed as exc:
        click.echo(f"warning: the facevault server of this store failed ({exc}); searching here", err=True)
        return None


def _lookalikes(doc: dict, identity: str) -> None:
    from rich.table import Table

    t = Table(title=f"identities most like {identity} ({doc['faces']} faces), by centroid cosine", title_justify="left")
    for col in ("rank", "identity", "faces", "similarity"):
        t.add_column(col)
    for i, m in enumerate(doc["matches"], 1):
        t.add_row(str(i), m["identity"], str(m["faces"]), f"{m['score']:.4f}")
    print_table(t)


def _matches(doc: list[dict], space, threshold: float | None) -> None:
    from rich.table import Table

    if threshold is not None:
        calib = f"threshold {threshold:.4f} (given with --threshold)"
    elif space.threshold is not None:
        calib = f"threshold {space.threshold:.4f} ({space.threshold_source})"
    else:
        calib = "no calibrated threshold yet: run `facevault evaluate` for same/different verdicts"
    print_note(f"space {space.label}; {calib}" + ("; answered by `facevault serve`" if getattr(space, "served", False)
                                                   else ""))
    flat = plain_output()  # not a terminal: one TSV table, the query and face as columns
    if flat:
        t = Table()
        for col in ("query", "face", "box", "rank", "identity", "score", "verdict", "nearest image"):
            t.add_column(col)
    for q in doc:
        if q.get("error"):
            common.stderr.print(f"[red]{q['query']}[/]: {q['error']}", highlight=False)
            continue
        f = q["face"]
        if not flat:
            t = Table(title=f"{q['query']}  face {f['index']} at {f['box']}", title_justify="left")
            for col in ("rank", "identity", "score", "verdict", "nearest image"):
                t.add_column(col, no_wrap=col in ("rank", "score"))
        for i, m in enumerate(q["matches"], 1):
            cells = [str(i), m["identity"], f"{m['score']:.4f}", m["verdict"] or "-", m["image"]]
            t.add_row(*([str(q["query"]), str(f["index"]), str(f["box"])] + cells if flat else cells))
        if not flat:
            print_table(t)
    if flat:
        print_table(t)
