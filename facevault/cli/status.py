"""`facevault status` and `facevault models`."""

from __future__ import annotations

import click
from rich.table import Table

from .. import registry
from . import cli
from .common import emit_json, open_catalog, stdout, store_options


@cli.command("status")
@store_options
def status_cmd(store: str | None, db: str | None, as_json: bool) -> None:
    """What the store holds: images, identities and every embedding space with its counts and threshold."""
    with open_catalog(store, db) as catalog:
        stats = catalog.stats()
        spaces = catalog.spaces()
        root = catalog.get_meta("dataset_root")
        doc = {
            "store": str(catalog.settings.store), "dataset_root": root, "images": stats["images"],
            "identities": stats["identities"],
            "spaces": [
                {"id": sp.id, "model": sp.model, "detector": sp.detector, "aligner": sp.aligner, "dim": sp.dim,
                 "vectors": stats["spaces"][sp.id]["vectors"], "scans": stats["spaces"][sp.id]["scans"],
                 "threshold": sp.threshold, "threshold_source": sp.threshold_source,
                 "images_per_second": sp.images_per_second, "revision": sp.revision}
                for sp in spaces
            ],
        }
    if as_json:
        emit_json(doc)
        return
    imgs = doc["images"]
    stdout.print(f"store    {doc['store']}\ndataset  {root}\nimages   {sum(imgs.values())} "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(imgs.items()))}), identities {doc['identities']}")
    t = Table(title="embedding spaces", title_justify="left")
    for col in ("model", "detector", "aligner", "dim", "vectors", "no face", "errors", "threshold", "img/s"):
        t.add_column(col, justify="right" if col not in ("model", "detector", "aligner") else "left")
    for sp in doc["spaces"]:
        sc = sp["scans"]
        t.add_row(sp["model"], sp["detector"], sp["aligner"], str(sp["dim"]), str(sp["vectors"]),
                  str(sc.get("no-face", 0)), str(sc.get("error", 0)),
                  "-" if sp["threshold"] is None else f"{sp['threshold']:.4f}",
                  "-" if sp["images_per_second"] is None else f"{sp['images_per_second']:.1f}")
    stdout.print(t)


@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of tables.")
def models_cmd(as_json: bool) -> None:
    """The recognizers and detectors facevault can use."""
    rows = [
        {"name": e.name, "kind": e.kind, "source": e.source, "dim": e.dim, "aligner": e.aligner,
         "description": e.description}
        for e in list(registry.models().values()) + list(registry.detectors().values())
    ]
    if as_json:
        emit_json(rows)
        return
    t = Table(title="models and detectors", title_justify="left")
    for col in ("name", "kind", "source", "dim", "aligner", "description"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], r["kind"], r["source"], str(r["dim"] or "-"), r["aligner"] or "-", r["description"])
    stdout.print(t)
