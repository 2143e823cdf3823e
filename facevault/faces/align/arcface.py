"""ArcFace-template alignment: a similarity transform of 5 landmarks onto the standard 112x112 template.

`ArcfaceAligner` is the "arcface" aligner stage; the functions above it are the template math.

ArcFace-family recognizers (insightface, AdaFace, SFace, MobileFaceNet) were trained on crops made this way,
so they only reach their published accuracy on them. Points are in ArcFace order: left eye (smaller x in the
image), right eye, nose tip, left mouth corner, right mouth corner.
"""

from __future__ import annotations

import os

import numpy as np

from facevault.core.errors import FacevaultError
from facevault.core.types import Detection
from facevault.faces.align.base import check_input
from facevault.faces.embed.base import DEEPFACE_BGR01, RGB_UINT8
from facevault.faces.landmarks import ArcfacePoints

TEMPLATE_SIZE = 112

# The ArcFace 112x112 reference points, (x, y) in pixels: `arcface_dst` in insightface's
# python-package/insightface/utils/face_align.py (deepinsight/insightface), the template its
# recognition models and AdaFace's training crops use.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],  # left eye
        [73.5318, 51.5014],  # right eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # left mouth corner
        [70.7299, 92.2041],  # right mouth corner
    ],
    dtype=np.float64,
)


def template(size: int = TEMPLATE_SIZE) -> np.ndarray:
    """The ArcFace template for a square chip of `size` pixels (the 112 px template scaled uniformly)."""
    if int(size) <= 0:
        raise FacevaultError(f"chip size must be a positive number of pixels, got {size}")
    return ARCFACE_TEMPLATE * (float(size) / TEMPLATE_SIZE)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the rotation + uniform scale + translation mapping `src` onto `dst` in least squares.

    Umeyama's closed form (IEEE TPAMI 13(4), 1991): centre both point sets, take the SVD of their
    covariance, keep a proper rotation (no reflection), and scale by the ratio of explained to source variance.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise FacevaultError(f"need matching Nx2 point sets (N >= 2), got {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise FacevaultError("landmarks contain NaN or inf; cannot align")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    if var_s <= 1e-12:
        raise FacevaultError("landmarks are all at one point; cannot align")
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = float((sig * d).sum() / var_s)
    m = np.empty((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (Nx2) mapped through a 2x3 affine matrix."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]


def arcface_matrix(landmarks5: np.ndarray, size: int = TEMPLATE_SIZE) -> np.ndarray:
    """The 2x3 matrix taking image coordinates to the `size` px ArcFace chip."""
    pts = np.asarray(landmarks5, dtype=np.float64)
    if pts.shape != (5, 2):
        raise FacevaultError(f"ArcFace alignment needs 5x2 landmarks, got shape {pts.shape}")
    return similarity_transform(pts, template(size))


def arcface_crop(rgb: np.ndarray, landmarks5: np.ndarray, size: int = TEMPLATE_SIZE) -> np.ndarray:
    """The aligned `size`x`size` uint8 chip (outside the image is black, as insightface pads)."""
    import cv2

    m = arcface_matrix(landmarks5, size)
    chip = cv2.warpAffine(np.ascontiguousarray(rgb), m, (int(size), int(size)), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.ascontiguousarray(chip, dtype=np.uint8)


class ArcfaceAligner:
    """The "arcface" aligner: 5 ArcFace-order points -> similarity transform -> square template chip.

    Points are the detector's when they are complete ARCFACE5 (YuNet, SCRFD, RetinaFace, deepface-retinaface),
    else dlib's 68 points reduced to five (dlib's own DLIB5 points are eye corners, not what the template
    expects). Chips are uint8 RGB, or deepface's input (BGR in [0, 1], resized as `DeepFace.represent` does)
    for deepface's ArcFace-family models.
    """

    name = "arcface"

    def __init__(self, input_size: tuple[int, int] = (TEMPLATE_SIZE, TEMPLATE_SIZE), input_kind: str = RGB_UINT8,
                 weights_dir: str | os.PathLike | None = None) -> None:
        self.input_size, self.input_kind = check_input(self.name, input_size, input_kind)
        self.points = ArcfacePoints(weights_dir)

    def align(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """The template chip of this face, in the recognizer's input kind."""
        chip = arcface_crop(rgb, self.points.complete(rgb, det), size=self.input_size[0])
        if self.input_kind == DEEPFACE_BGR01:
            from facevault.faces.deepface_backend import model_input

            return model_input(np.ascontiguousarray(chip[..., ::-1]), self.input_size)
        return chip
