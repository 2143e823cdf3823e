"""`facevault similarity`: identity x identity mean cosine similarity."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from facevault.cli import cli
from facevault.cli.common import (
    dataset_option,
    emit_json,
    open_vault,
    print_note,
    print_table,
    space_options,
    store_options,
)

#: facevault.services.similarity's defaults, repeated so completion and --help import no library (a test keeps them equal)
DEFAULT_TOP, ORDERS = 40, ("cluster", "name")


@cli.command("similarity")
@space_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the heatmap here: PNG, or SVG when the name ends in .svg.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the matrix as CSV here.")
@click.option("--identities", help="Comma-separated identities to include (default: those with the most faces).")
@click.option("--top", type=click.IntRange(min=0), default=DEFAULT_TOP, show_default=True,
              help="Without --identities, keep this many identities with the most faces (0: all).")
@click.option("--order", type=click.Choice(ORDERS), default="cluster", show_default=True,
              help="Row order: average-linkage clustering with optimal leaf order (lookalikes side by side) or by name.")
@click.option("--pairs", "n_pairs", type=click.IntRange(min=0), default=10, show_default=True, help="Most similar identity pairs to list.")
@dataset_option
@store_options
def similarity_cmd(model: str | None, detector: str | None, out: Path | None, csv_path: Path | None, identities: str | None,
                   top: int, order: str, n_pairs: int, datasets: tuple[str, ...], store: str | None, db: str | None,
                   as_json: bool) -> None:
    """Mean cosine similarity between every two identities (diagonal: distinct same-identity pairs),
    as a PNG or SVG heatmap and CSV, listing the identity pairs that look most alike."""
    if out and out.suffix.lower() not in (".png", ".svg"):
        raise click.BadParameter("the heatmap is written as .png or .svg", param_hint="--out")
    names = [n.strip() for n in identities.split(",") if n.strip()] if identities else None
    with open_vault(store, db) as vault:
        result = vault.similarity(model=model, detector=detector, identities=names, top=top, order=order,
                                  datasets=datasets)
    if out:
        result.write_heatmap(out)
    if csv_path:
        result.write_csv(csv_path)
    if as_json:
        doc = result.to_dict()
        png = out if out and out.suffix.lower() == ".png" else None
        doc.update(heatmap=str(out) if out else None, png=str(png) if png else None,
                   csv=str(csv_path) if csv_path else None)
        emit_json(doc)
        return
    t = Table(title=f"most similar identities  ({result.space})", title_justify="left")
    t.add_column("identity")
    t.add_column("identity")
    t.add_column("mean cosine", justify="right")
    for a, b, s in result.top_pairs(n_pairs):
        t.add_row(a, b, f"{s:.4f}")
    print_table(t)
    if result.note:
        print_note(result.note)
    for what, p in (("heatmap", out), ("csv", csv_path)):
        if p:
            print_note(f"{what}: {p}")
