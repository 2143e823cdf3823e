"""`facevault health`: likely mislabels, duplicates, thin identities and unusable images."""

from __future__ import annotations

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

#: facevault.services.health's defaults, repeated so completion and --help import no library (a test keeps them equal)
DUPLICATE_THRESHOLD, MIN_FACES, LIMIT = 0.98, 2, 100

_SECTIONS = (
    ("mislabels", "likely mislabels: nearer another identity's centroid than their own (own face left out)",
     (("image", "path"), ("labelled", "identity"), ("nearest identity", "nearest"), ("own", "own_similarity"),
      ("nearest", "nearest_similarity"), ("margin", "margin"))),
    ("duplicates", "duplicates across identities (cosine >= {thr}, or the very same file)",
     (("image a", "a"), ("identity a", "identity_a"), ("image b", "b"), ("identity b", "identity_b"),
      ("cosine", "similarity"), ("same file", "identical_file"))),
    ("few_faces", "identities with fewer than {min} usable faces (no same-person pair possible)",
     (("identity", "identity"), ("usable faces", "usable_faces"), ("images", "images"))),
    ("no_face", "images with no face found", (("image", "path"), ("identity", "identity"))),
    ("multi_face", "images with several faces (the largest face nearest the centre was used)",
     (("image", "path"), ("identity", "identity"), ("faces", "faces"))),
    ("errors", "images that could not be used", (("image", "path"), ("identity", "identity"), ("error", "error"))),
)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


@cli.command("health")
@space_options
@click.option("--duplicate-threshold", type=click.FloatRange(-1, 1), default=DUPLICATE_THRESHOLD, show_default=True,
              help="Cosine at or above which two faces of different identities count as duplicates.")
@click.option("--min-faces", type=click.IntRange(min=1), default=MIN_FACES, show_default=True,
              help="Identities with fewer usable faces are listed.")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True, help="Rows shown per section (JSON: 100).")
@dataset_option
@store_options
def health_cmd(model: str | None, detector: str | None, duplicate_threshold: float, min_faces: int, limit: int,
               datasets: tuple[str, ...], store: str | None, db: str | None, as_json: bool) -> None:
    """Dataset health in one space: faces that look like another identity (likely mislabels), the same face
    filed under two identities, identities too thin to evaluate, and images with no face, several faces
    or errors."""
    with open_vault(store, db) as vault:
        rep = vault.health(model=model, detector=detector, duplicate_threshold=duplicate_threshold, datasets=datasets,
                           min_faces=min_faces, limit=max(limit, LIMIT))  # JSON keeps more rows
    if as_json:
        emit_json(rep.to_dict())
        return
    print_note(f"space {rep.space}: {rep.faces} usable faces, {rep.identities} identities")
    for key, title, cols in _SECTIONS:
        rows = getattr(rep, key)
        total = rep.totals[key]
        heading = title.format(thr=rep.duplicate_threshold, min=rep.min_faces)
        if not total:
            print_note(f"[green]✓[/] {heading}: none")
            continue
        t = Table(title=f"{heading}: {total}" + (f" (first {limit})" if total > limit else ""), title_justify="left")
        for name, _ in cols:
            t.add_column(name, justify="right" if name in ("own", "nearest", "margin", "cosine", "faces") else "left")
        for r in rows[:limit]:
            t.add_row(*(_cell(r[k]) for _, k in cols))
        print_table(t)
