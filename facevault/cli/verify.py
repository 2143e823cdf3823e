"""`facevault verify A B`: same person or not, in the store's space at its calibrated threshold."""

from __future__ import annotations

from pathlib import Path

import click

from facevault.cli import cli
from facevault.cli.common import (
    emit_json,
    open_vault,
    space_options,
    stderr,
    stdout,
    store_options,
    weights_option,
)


@cli.command("verify")
@click.argument("image_a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("image_b", type=click.Path(dir_okay=False, path_type=Path))
@space_options
@click.option("--threshold", type=click.FloatRange(-1, 1), default=None,
              help="Cosine threshold for the verdict (default: the one `evaluate` calibrated for the space).")
@weights_option
@store_options
def verify_cmd(image_a: Path, image_b: Path, model: str | None, detector: str | None, threshold: float | None,
               weights_dir: str | None, store: str | None, db: str | None, as_json: bool) -> None:
    """Are IMAGE_A and IMAGE_B the same person? (like deepface's DeepFace.verify)

    Both images are embedded in the store's space (its detector, aligner and model; the subject face is the
    largest face nearest the centre) and their cosine similarity is compared with the threshold
    `facevault evaluate` calibrated for that space. Without one, the score is printed with no verdict.
    """
    with open_vault(store, db, weights_dir) as vault:
        res = vault.verify(image_a, image_b, model=model, detector=detector, threshold=threshold)
    if as_json:
        doc = res.to_dict()
        emit_json({k: doc[k] for k in ("a", "b", "score", "threshold", "threshold_source", "verdict", "space",
                                        "faces_a", "faces_b", "margin", "face_a", "face_b")})
        return
    for info in (res.face_a, res.face_b):
        if info.faces > 1:
            stderr.print(f"[yellow]note:[/] {info.path} has {info.faces} faces; compared the largest one nearest "
                         f"the centre (face {info.subject} at {info.box})", highlight=False)
    stdout.print(f"space      {res.space}", highlight=False)
    stdout.print(f"score      {res.score:.4f} (cosine similarity)", highlight=False)
    if res.verdict is None:
        stdout.print("threshold  none: no calibrated threshold for this space; run `facevault evaluate "
                     "--sample 3000` (or --pairs-file) to calibrate one", highlight=False)
        return
    stdout.print(f"threshold  {res.threshold:.4f} ({res.threshold_source})", highlight=False)
    colour = "green" if res.verdict == "same" else "red"
    words = "the same person" if res.verdict == "same" else "different people"
    stdout.print(f"verdict    [bold {colour}]{words}[/] (margin {res.margin:+.4f})", highlight=False)
