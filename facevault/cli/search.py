"""`facevault search`: nearest identities for query images, or lookalikes of an identity."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from facevault.services import search as search_mod
from facevault.faces.pipeline import Pipeline, SpaceSpec
from facevault.cli import cli
from facevault.cli.common import emit_json, open_catalog, space_options, stdout, store_options


@cli.command("search")
@click.argument("images", nargs=-1, type=click.Path(path_type=Path))
@space_options
@click.option("--identity", help="Rank other identities by centroid similarity to this one (lookalikes).")
@click.option("-k", "k", type=int, default=5, show_default=True, help="How many identities to return.")
@click.option("--weights", "weights_dir", type=click.Path(file_okay=False), envvar="FACEVAULT_WEIGHTS",
              help="Extra folder to look for weights files in.")
@store_options
def search_cmd(images: tuple[Path, ...], model: str | None, detector: str | None, identity: str | None, k: int,
               weights_dir: str | None, store: str | None, db: str | None, as_json: bool) -> None:
    """Who is this? Every face in each IMAGE is embedded in the store's space and matched to the k nearest
    identities, with a same/different verdict from the threshold `evaluate` calibrated.
    With --identity NAME, list the identities that look most like NAME."""
    if bool(images) == bool(identity):
        raise click.UsageError("give query IMAGES or --identity NAME (not both)")
    with open_catalog(store, db) as catalog:
        space = catalog.space(model, detector)
        if identity:
            doc = search_mod.lookalikes(catalog, space, identity, k)
        else:
            pipeline = Pipeline(SpaceSpec(space.model, space.detector, space.aligner), weights_dir)
            doc = search_mod.search_images(catalog, space, pipeline, list(images), k)
    if as_json:
        emit_json(doc)
        return
    calib = (f"threshold {space.threshold:.4f} ({space.threshold_source})" if space.threshold is not None
             else "no calibrated threshold yet: run `facevault evaluate` for same/different verdicts")
    if identity:
        t = Table(title=f"identities most like {identity} ({doc['faces']} faces), by centroid cosine", title_justify="left")
        for col in ("rank", "identity", "faces", "similarity"):
            t.add_column(col)
        for i, m in enumerate(doc["matches"], 1):
            t.add_row(str(i), m["identity"], str(m["faces"]), f"{m['score']:.4f}")
        stdout.print(t)
        return
    stdout.print(f"space {space.model} / {space.detector} / {space.aligner}; {calib}", highlight=False)
    for q in doc:
        if q.get("error"):
            stdout.print(f"[red]{q['query']}[/]: {q['error']}", highlight=False)
            continue
        f = q["face"]
        t = Table(title=f"{q['query']}  face {f['index']} at {f['box']}", title_justify="left")
        for col in ("rank", "identity", "score", "verdict", "nearest image"):
            t.add_column(col)
        for i, m in enumerate(q["matches"], 1):
            t.add_row(str(i), m["identity"], f"{m['score']:.4f}", m["verdict"] or "-", m["image"])
        stdout.print(t)
