"""deepface's recognition models as a facevault recognizer: the model's own forward pass on deepface's input."""

from __future__ import annotations

import numpy as np

from facevault.core.errors import UnknownName
from facevault.faces.deepface_backend import build_model, engine
from facevault.faces.embed.base import DEEPFACE_BGR01, BatchedRecognizer
from facevault.weights import locate as weights
from facevault.zoo.deepface import RECOGNIZER_FILES, RECOGNIZERS, files_for

DEFAULT_BATCH = 32


class DeepfaceRecognizer(BatchedRecognizer):
    """A deepface recognition model; `embed` gives raw vectors, as `DeepFace.represent` returns them.

    It takes HxWx3 float32 BGR chips in [0, 1] of `input_size` (deepface's input after "base" normalisation),
    which the "deepface" aligner (exact `DeepFace.represent` parity) and the "arcface" aligner both make.
    """

    input_kind = DEEPFACE_BGR01

    def __init__(self, model_name: str, weights_dir: str | None = None, batch_size: int | None = None) -> None:
        if model_name not in RECOGNIZERS:
            raise UnknownName("deepface model", model_name, list(RECOGNIZERS))
        self.model_name = model_name
        self.batch_size = max(1, int(batch_size or DEFAULT_BATCH))
        self._files = files_for(RECOGNIZER_FILES[model_name], engine())
        self._model = build_model("facial_recognition", model_name, self._files, weights_dir,
                                  f"deepface model {model_name}")
        self.dim = int(self._model.output_shape)
        width, height = self._model.input_shape
        self.input_size = (int(height), int(width))  # rows, cols: represent's resize_image argument

    @property
    def weights_sha256(self) -> str | None:
        if not self._files:
            return None
        path = weights.deepface_dir() / self._files[0]
        return weights.sha256_file(path) if path.is_file() else None

    def forward(self, chips: list[np.ndarray]) -> np.ndarray:
        """The model's forward pass on one batch."""
        batch = np.stack(chips).astype(np.float32, copy=False)
        return np.asarray(self._model.forward(batch), dtype=np.float32).reshape(len(batch), self.dim)
