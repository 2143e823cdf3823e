"""What every recognizer is, and the base class that owns batching.

A recognizer turns aligned face chips (in the form its aligner was told: `input_size`, `input_kind`) into raw
embeddings; the pipeline normalises them. Subclasses of `BatchedRecognizer` implement only `forward` on one
batch; splitting a call into batches and padding the last one to a graph's fixed batch live here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

#: Chip forms a recognizer can take (what its aligner must produce).
RGB_UINT8 = "rgb-uint8"  # HxWx3 uint8 RGB; the recognizer does its own scaling
DEEPFACE_BGR01 = "deepface-bgr01"  # HxWx3 float32 BGR in [0, 1], resized and padded as `DeepFace.represent` does
INPUT_KINDS = (RGB_UINT8, DEEPFACE_BGR01)


@runtime_checkable
class Recognizer(Protocol):
    """Face chips in, raw (n, dim) float32 embeddings out."""

    dim: int
    input_size: tuple[int, int]  # rows, cols of the chips it takes
    input_kind: str  # one of INPUT_KINDS

    @property
    def weights_sha256(self) -> str | None: ...

    def embed(self, chips: Sequence[np.ndarray]) -> np.ndarray: ...


class BatchedRecognizer:
    """A recognizer whose `embed` runs `forward` on batches of `batch_size` chips (None: all in one batch).

    With `fixed_batch`, a short batch is padded with repeats of its last chip and the padding rows dropped, for
    graphs that only run one batch size.
    """

    dim: int = 0
    input_size: tuple[int, int] = (0, 0)
    input_kind: str = RGB_UINT8
    batch_size: int | None = None
    fixed_batch: int | None = None

    @property
    def weights_sha256(self) -> str | None:
        return None

    def forward(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw (len(chips), dim) embeddings of one batch."""
        raise NotImplementedError

    def embed(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """Raw (n, dim) float32 embeddings (not normalised), in batches the model accepts."""
        chips = list(chips)
        out = [np.zeros((0, self.dim), np.float32)]
        step = self.batch_size or max(1, len(chips))
        for start in range(0, len(chips), step):
            part = chips[start:start + step]
            k = len(part)
            if self.fixed_batch and k < self.fixed_batch:
                part += [part[-1]] * (self.fixed_batch - k)
            vecs = np.asarray(self.forward(part), dtype=np.float32)
            out.append(vecs.reshape(len(part), -1)[:k])
        return np.concatenate(out).astype(np.float32, copy=False)
