"""`facevault index`: bring a space's FAISS index up to date, or rebuild it as a chosen kind."""

from __future__ import annotations

import click

from facevault.cli import cli
from facevault.cli.common import (
    emit_json,
    open_vault,
    space_options,
    stdout,
    store_options,
)


@cli.command("index")
@space_options
@click.option("--rebuild", is_flag=True, help="Rebuild from the catalog even when the index is fresh.")
@click.option("--kind", type=click.Choice(["auto", "flat", "ivf", "hnsw"]), default=None,
              help="Index kind (default: keep the current one; auto: flat up to FACEVAULT_FLAT_MAX vectors, "
                   "then IVF).")
@click.option("--nprobe", type=click.IntRange(min=1), default=None,
              help="IVF: lists searched per query, instead of the value tuned on the store's own vectors "
                   "(kept across rebuilds; the recall it gives on the store's sample is printed).")
@click.option("--ef-search", type=click.IntRange(min=1), default=None,
              help="HNSW: efSearch, instead of the tuned value (kept across rebuilds).")
@store_options
def index_cmd(model: str | None, detector: str | None, rebuild: bool, kind: str | None, nprobe: int | None,
              ef_search: int | None, store: str | None, db: str | None, as_json: bool) -> None:
    """The space's search index: loaded when fresh, extended with new vectors, rebuilt when images left the
    store. Prints the kind (flat, ivf, hnsw), why it was chosen, its search parameters and measured recall."""
    if nprobe is not None and ef_search is not None:
        raise click.UsageError("give --nprobe (IVF) or --ef-search (HNSW), not both")
    with open_vault(store, db) as vault:
        doc = vault.index(model=model, detector=detector, rebuild=rebuild, kind=kind, nprobe=nprobe,
                          ef_search=ef_search)
    if as_json:
        emit_json(doc)
        return
    params = ", ".join(f"{k}={v}" for k, v in doc["params"].items()) or "exact"
    stdout.print(f"{doc['space']}: {doc['kind']} index, {doc['vectors']:,} vectors ({doc['how']} in "
                 f"{doc['seconds']:.2f} s{', GPU' if doc['gpu'] else ''})\n  why     {doc['reason']}\n"
                 f"  params  {params}", highlight=False)
