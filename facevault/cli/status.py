"""`facevault status` and `facevault models`."""

from __future__ import annotations

import os

import click
from rich.table import Table

from facevault.cli import cli
from facevault.cli.common import (
    emit_json,
    open_vault,
    print_note,
    print_table,
    store_options,
)


@cli.command("status")
@store_options
def status_cmd(store: str | None, db: str | None, as_json: bool) -> None:
    """What the store holds: images, identities and every embedding space with its counts and threshold,
    and the device FAISS searches run on."""
    from facevault.api import index_device

    with open_vault(store, db) as vault:
        st = vault.status()
        indices = vault.index_status()
    doc = {**st.to_dict(), "index_device": index_device(), "indices": {str(k): v for k, v in indices.items()}}
    if as_json:
        emit_json(doc)
        return
    imgs = st.images
    print_note(f"store    {st.store}\ndataset  {st.dataset_root}\nimages   {sum(imgs.values())} "
               f"({', '.join(f'{k} {v}' for k, v in sorted(imgs.items()))}), identities {st.identities}\n"
               f"search   {doc['index_device']}")
    if st.datasets:
        d = Table(title="datasets", title_justify="left")
        for col in ("name", "root", "images", "identities"):
            d.add_column(col, justify="right" if col in ("images", "identities") else "left")
        for ds in st.datasets:
            d.add_row(ds["name"], ds["root"], str(ds["images"]), str(ds["identities"]))
        print_table(d)
    t = Table(title="embedding spaces", title_justify="left")
    for col in ("model", "detector", "aligner", "dim", "vectors", "no face", "errors", "threshold", "img/s"):
        numeric = col not in ("model", "detector", "aligner")
        t.add_column(col, justify="right" if numeric else "left", no_wrap=numeric)
    for sp in st.spaces:
        sc = sp.scans
        t.add_row(sp.model, sp.detector, sp.aligner, str(sp.dim), str(sp.vectors),
                  str(sc.get("no-face", 0)), str(sc.get("error", 0)),
                  "-" if sp.threshold is None else f"{sp.threshold:.4f}",
                  "-" if sp.images_per_second is None else f"{sp.images_per_second:.1f}")
    print_table(t)
    for sp in st.spaces:
        ix = indices.get(sp.id) or {}
        state = ("fresh" if ix.get("fresh") else "stale, updated on next search") if ix.get("built") else ""
        print_note(f"index    {sp.model}/{sp.detector}: {ix.get('kind') or '-'} {state} ({ix.get('reason')})")


@cli.command("models")
@click.option("--weights", "weights_dir", type=click.Path(file_okay=False), envvar="FACEVAULT_WEIGHTS",
              help="Extra folder to look for weights files in (env FACEVAULT_WEIGHTS).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of tables.")
def models_cmd(weights_dir: str | None, as_json: bool) -> None:
    """The recognizers and detectors facevault can use, and whether each one's weights are here.

    For a missing file it says how to get it: `facevault weights fetch NAME`, the face-recognition-models
    package, deepface's own download on first use, or where to place it by hand.
    """
    from facevault.api import models

    rows = models(weights_dir)
    if as_json:
        emit_json(rows)
        return
    for kind, title in (("recognizer", "recognizers"), ("detector", "detectors")):
        t = Table(title=title, title_justify="left")
        cols = ["name", "source", "input", "dim", "aligner", "runs on", "here?", "found at / how to get"]
        if kind == "detector":
            cols = [c for c in cols if c not in ("dim", "aligner")]
        for col in cols:
            t.add_column(col, overflow="fold", no_wrap=col in ("name", "dim", "here?"))
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
            cells = [r["name"], r["source"], r["input"] or "-", str(r["dim"] or "-"), aligner, r["device"], here, where]
            if kind == "detector":
                del cells[3:5]
            t.add_row(*cells)
        if kind == "detector":
            t.caption = "any detector NAME+frame: the whole image where NAME finds no face"
        print_table(t)


def _short(path: str) -> str:
    """A found weights path, shortened for the table (the JSON keeps it whole)."""
    if "face_recognition_models" in path:
        return "package face-recognition-models"
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home not in ("", "/") and path.startswith(home + os.sep) else path
