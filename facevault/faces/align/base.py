"""What every aligner is: a detection in, the chip its recognizer takes out.

An aligner is chosen by the space (`Space.aligner`) and built with what the recognizer needs: its input size
(rows, cols) and input kind (`facevault.faces.embed.base.INPUT_KINDS`). It reads the detection's landmarks and
never changes them; where they do not suit it, it computes its own points.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from facevault.core.errors import FacevaultError
from facevault.core.types import Detection
from facevault.faces.embed.base import DEEPFACE_BGR01, INPUT_KINDS, RGB_UINT8


@runtime_checkable
class Aligner(Protocol):
    """Cuts and warps one face into a recognizer's input."""

    name: str
    input_size: tuple[int, int]  # rows, cols of the chips it makes
    input_kind: str  # what its chips are (see INPUT_KINDS)

    def align(self, rgb: np.ndarray, det: Detection) -> np.ndarray: ...


def check_input(name: str, input_size: tuple[int, int], input_kind: str,
                kinds: tuple[str, ...] = INPUT_KINDS) -> tuple[tuple[int, int], str]:
    """The (rows, cols) and kind an aligner is asked for, refused with a clear message when it cannot make them."""
    rows, cols = (int(v) for v in input_size)
    if rows <= 0 or cols <= 0:
        raise FacevaultError(f"aligner {name}: chip size must be positive, got {input_size}")
    if input_kind not in kinds:
        raise FacevaultError(f"aligner {name} cannot make {input_kind!r} chips (it makes: {', '.join(kinds)})")
    return (rows, cols), input_kind


def display_chip(chip: np.ndarray, kind: str) -> np.ndarray:
    """A chip of `kind` as uint8 RGB HxWx3, for showing the face as the recognizer sees it."""
    c = np.asarray(chip)
    if kind == DEEPFACE_BGR01:
        c = np.clip(np.rint(c[..., ::-1] * 255.0), 0, 255)
    elif kind != RGB_UINT8:
        raise FacevaultError(f"unknown chip kind {kind!r} (valid: {', '.join(INPUT_KINDS)})")
    return np.ascontiguousarray(c.astype(np.uint8))
