"""`facevault status` and `facevault models`."""

from __future__ import annotations

import os

import click
from rich.table import Table

from facevault.zoo import registry
from facevault.cli import cli
from facevault.cli.common import emit_json, open_catalog, stdout, store_options


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
@click.option("--weights", "weights_dir", type=click.Path(file_okay=False), envvar="FACEVAULT_WEIGHTS",
              help="Extra folder to look for weights files in (env FACEVAULT_WEIGHTS).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of tables.")
def models_cmd(weights_dir: str | None, as_json: bool) -> None:
    """The recognizers and detectors facevault can use, and whether each one's weights are here.

    For a missing file it says how to get it: `facevault weights fetch NAME`, the face-recognition-models
    package, deepface's own download on first use, or where to place it by hand.
    """
    from facevault.weights import manifest

    rows = []
    for e in list(registry.models().values()) + list(registry.detectors().values()):
        files = manifest.availability(e, weights_dir)
        ready = all(f["present"] for f in files)
        rows.append({"name": e.name, "kind": e.kind, "source": e.source, "input": e.input or None, "dim": e.dim,
                     "aligner": e.aligner, "aligners": list(e.aligners), "weights": files, "ready": ready,
                     "description": e.description})
    if as_json:
        emit_json(rows)
        return
    for kind, title in (("recognizer", "recognizers"), ("detector", "detectors")):
        t = Table(title=title, title_justify="left")
        cols = ["name", "source", "input", "dim", "aligner", "here?", "found at / how to get"]
        if kind == "detector":
            cols = [c for c in cols if c not in ("dim", "aligner")]
        for col in cols:
            t.add_column(col, overflow="fold", no_wrap=col in ("name", "dim", "here?"),
                         ratio=3 if col == "found at / how to get" else None)
        for r in (r for r in rows if r["kind"] == kind):
            aligner = r["aligner"] or "-"
            others = [a for a in r["aligners"] if a != r["aligner"]]
            if others:
                aligner += f" (also {', '.join(others)})"
            here = "[green]yes[/]" if r["ready"] else "[red]no[/]"
            many = len(r["weights"]) > 1
            lines = [_short(f["path"]) if f["present"] else (f"{f['file']}: " if many else "") + f["how"]
                     for f in r["weights"]]
            where = "\n".join(dict.fromkeys(lines)) or "-"
            cells = [r["name"], r["source"], r["input"] or "-", str(r["dim"] or "-"), aligner, here, where]
            if kind == "detector":
                del cells[3:5]
            t.add_row(*cells)
        stdout.print(t)


def _short(path: str) -> str:
    """A found weights path, shortened for the table (the JSON keeps it whole)."""
    if "face_recognition_models" in path:
        return "package face-recognition-models"
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home not in ("", "/") and path.startswith(home + os.sep) else path
