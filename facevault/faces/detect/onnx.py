"""5-point face detectors run from ONNX files: YuNet (through OpenCV), SCRFD and RetinaFace (onnxruntime).

Each returns `Detection`s in full-resolution coordinates with `landmarks` = `Landmarks(points, ARCFACE5)`: 5
points in ArcFace order (the eye with the smaller x in a frontal face first, then the other eye, nose tip, mouth
corner with the smaller x, the other mouth corner), so aligners know what the points are. Large images are shrunk before detection (never past `DETECT_MAX_SIDE`) and mapped back.

Decoding follows the published schemes: SCRFD's anchor-free distances on strides 8/16/32 with two anchor
centres per location (Guo et al., "Sample and Computation Redistribution for Efficient Face Detection", 2021)
and RetinaFace's SSD-style priors with variances 0.1/0.2 (Deng et al., "RetinaFace", 2019; the MobileNet-0.25
prior layout of the widely used PyTorch port: min sizes 16/32, 64/128, 256/512 on strides 8/16/32).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

from facevault.core.errors import FacevaultError, WeightsError
from facevault.core.optional import require
from facevault.core.types import ARCFACE5, Detection, Landmarks
from facevault.faces.detect.base import DETECT_MAX_SIDE, downscale, has_central, merge
from facevault.weights import locate as weights

log = logging.getLogger(__name__)

SHA256 = {
    "face_detection_yunet_2023mar.onnx": "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    "scrfd_2.5g_bnkps.onnx": "bc24bb349491481c3ca793cf89306723162c280cb284c5a5e49df3760bf5c2ce",
    "retinaface_mnet025.onnx": "f8cce06cdfa5d2a07a8378c8cff4c4f33f0b00a3f24d9ef53042ff591a881eb7",
}


def _weights_file(filename: str, weights_dir: str | None) -> Path:
    """Find a detector's file and refuse it unless its sha256 is the published one."""
    path = weights.find(filename, weights_dir)
    weights.verify(path, SHA256[filename])
    return path


def _session(path: Path):
    """An onnxruntime session on the GPU when onnxruntime offers CUDA, else on the CPU."""
    ort = require("onnxruntime", "to run ONNX detectors")

    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    try:
        session = ort.InferenceSession(str(path), providers=providers or None)
    except Exception as exc:  # onnxruntime raises its own exception types for a bad file
        raise WeightsError(f"cannot load {path.name} with onnxruntime: {exc}") from exc
    log.debug("%s on %s", path.name, session.get_providers())
    return session


def _letterbox(rgb: np.ndarray, size: int, upscale: bool = True) -> tuple[np.ndarray, float]:
    """Resize to fit a size x size square keeping the aspect ratio (top-left; the caller pads)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(size / float(h), size / float(w))
    if not upscale and scale >= 1.0:
        return rgb, 1.0
    nw, nh = max(1, min(size, round(w * scale))), max(1, min(size, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(rgb, (nw, nh), interpolation=interp), scale


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression over (n, 4) x0, y0, x1, y1 boxes; indices kept, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _detections(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray, scale: float, width: int,
                height: int, source: str) -> list[Detection]:
    """Detections in full-resolution pixels from network-space x0, y0, x1, y1 boxes and 5x2 points."""
    out = []
    for box, score, pts in zip(boxes / scale, scores, kps / scale):
        x0, y0 = max(0.0, float(box[0])), max(0.0, float(box[1]))
        x1, y1 = min(float(width), float(box[2])), min(float(height), float(box[3]))
        if x1 <= x0 or y1 <= y0:
            continue
        out.append(Detection(x0, y0, x1 - x0, y1 - y0, float(score), source,
                             Landmarks(np.asarray(pts, dtype=np.float32).reshape(5, 2), ARCFACE5)))
    return out


class YuNet:
    """OpenCV's YuNet (2023mar) through `cv2.FaceDetectorYN`; fast, any input size.

    OpenCV gives the points as the subject's right eye, left eye, nose tip, right and left mouth corners:
    the subject's right eye is the one with the smaller x in the image, so this is already ArcFace order.
    Images are shrunk to `max_side` (640) first: YuNet was trained at 640 px and scores faces that fill a larger
    frame below its threshold (deepface shrinks to 640 for the same reason).
    """

    name = "yunet"
    FILE = "face_detection_yunet_2023mar.onnx"
    MAX_SIDE = 640

    def __init__(self, weights_dir: str | None = None, score_threshold: float = 0.9,
                 nms_threshold: float = 0.3, top_k: int = 5000, max_side: int = MAX_SIDE,
                 fallback: bool = True, fallback_threshold: float = 0.5) -> None:
        import cv2

        self.max_side = min(int(max_side), DETECT_MAX_SIDE)
        self.score_threshold = float(score_threshold)
        self.fallback = fallback
        self.fallback_threshold = float(fallback_threshold)
        path = _weights_file(self.FILE, weights_dir)
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), float(score_threshold),
                                                  float(nms_threshold), int(top_k))
        except cv2.error as exc:
            raise WeightsError(f"OpenCV {cv2.__version__} cannot load {path.name}: {exc}") from exc

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces at the score threshold. With `fallback`, when no face lies near the centre (the usual place
        of a dataset's subject), the image is also searched at twice the size (small images), then at a lower
        threshold, and the passes are merged: a face one pass misses is not lost while another finds it."""
        import cv2

        h, w = rgb.shape[:2]
        small, scale = downscale(rgb, self.max_side)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        found = self._run(bgr, scale, self.score_threshold, w, h)
        if not self.fallback or has_central(found, w, h):
            return found
        # no face near the centre: a subject scored below the threshold must not lose to a bystander
        more = list(found)
        if 2 * max(bgr.shape[:2]) <= self.max_side:
            big = cv2.resize(bgr, (2 * bgr.shape[1], 2 * bgr.shape[0]), interpolation=cv2.INTER_CUBIC)
            more += self._run(big, 2 * scale, self.score_threshold, w, h)
        if not has_central(more, w, h):
            more += self._run(bgr, scale, self.fallback_threshold, w, h)
        return merge(sorted(more, key=lambda d: -d.score))

    def _run(self, bgr: np.ndarray, scale: float, threshold: float, w: int, h: int) -> list[Detection]:
        sh, sw = bgr.shape[:2]
        self._net.setInputSize((sw, sh))
        self._net.setScoreThreshold(threshold)
        _, faces = self._net.detect(bgr)
        if faces is None or not len(faces):
            return []
        faces = np.asarray(faces, dtype=np.float32)
        boxes = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1)
        kps = faces[:, 4:14].reshape(-1, 5, 2)
        return _detections(boxes, faces[:, 14], kps, scale, w, h, self.name)


class Scrfd:
    """InsightFace SCRFD-2.5G with keypoints: anchor-free, strides 8/16/32, two anchors per location.

    The graph takes any multiple of 32: an image is shrunk to fit `input_size` (never enlarged) and padded
    only up to the next multiple of 32, so a 250x250 LFW image costs a 256x256 pass, not 640x640.
    """

    name = "scrfd"
    FILE = "scrfd_2.5g_bnkps.onnx"
    STRIDES = (8, 16, 32)
    ANCHORS = 2

    def __init__(self, weights_dir: str | None = None, score_threshold: float = 0.5,
                 nms_threshold: float = 0.4, input_size: int = 640) -> None:
        if input_size % 32 or input_size <= 0:
            raise FacevaultError(f"SCRFD input size must be a positive multiple of 32, not {input_size}")
        self._session = _session(_weights_file(self.FILE, weights_dir))
        self._input = self._session.get_inputs()[0].name
        widths = [o.shape[-1] for o in self._session.get_outputs()]
        if widths != [1, 1, 1, 4, 4, 4, 10, 10, 10]:  # scores, boxes, points; strides 8, 16, 32 in each
            raise WeightsError(f"{self.FILE}: unexpected output widths {widths}")
        self._size = min(int(input_size), DETECT_MAX_SIDE)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)

    @staticmethod
    @lru_cache(maxsize=16)
    def _centres(rows: int, cols: int, stride: int, anchors: int) -> np.ndarray:
        """(rows*cols*anchors, 2) x, y anchor centres, row-major, each repeated per anchor."""
        ys, xs = np.mgrid[:rows, :cols]
        centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
        return np.repeat(centres, anchors, axis=0)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        img, scale = _letterbox(rgb, self._size, upscale=False)
        rows, cols = (-(-n // 32) * 32 for n in img.shape[:2])
        blob = np.zeros((rows, cols, 3), np.float32)  # padding is 0 after normalisation
        blob[: img.shape[0], : img.shape[1]] = (img.astype(np.float32) - 127.5) / 128.0
        outs = self._session.run(None, {self._input: blob.transpose(2, 0, 1)[None]})
        n = len(self.STRIDES)
        all_boxes, all_scores, all_kps = [], [], []
        for k, stride in enumerate(self.STRIDES):
            scores = outs[k].reshape(-1)
            hit = np.flatnonzero(scores >= self.score_threshold)
            if not hit.size:
                continue
            centres = self._centres(rows // stride, cols // stride, stride, self.ANCHORS)[hit]
            dist = outs[n + k].reshape(-1, 4)[hit] * stride
            pts = outs[2 * n + k].reshape(-1, 5, 2)[hit] * stride
            all_boxes.append(np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], axis=1))
            all_scores.append(scores[hit])
            all_kps.append(centres[:, None, :] + pts)
        if not all_scores:
            return []
        boxes, scores, kps = (np.concatenate(a) for a in (all_boxes, all_scores, all_kps))
        keep = nms(boxes, scores, self.nms_threshold)
        return _detections(boxes[keep], scores[keep], kps[keep], scale, w, h, self.name)


class RetinaFace:
    """RetinaFace MobileNet-0.25 (fixed 640x640 input): SSD priors, box and landmark offsets, softmax scores."""

    name = "retinaface"
    FILE = "retinaface_mnet025.onnx"
    SIZE = 640
    MIN_SIZES = ((16, 32), (64, 128), (256, 512))
    STEPS = (8, 16, 32)
    VARIANCES = (0.1, 0.2)
    MEAN_BGR = (104.0, 117.0, 123.0)

    def __init__(self, weights_dir: str | None = None, score_threshold: float = 0.6,
                 nms_threshold: float = 0.4) -> None:
        self._session = _session(_weights_file(self.FILE, weights_dir))
        self._input = self._session.get_inputs()[0].name
        self._outputs = self._output_order()
        self._priors = self.priors(self.SIZE)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)

    def _output_order(self) -> tuple[str, str, str]:
        """Output names of boxes (4), scores (2) and landmarks (10), told apart by their last dimension."""
        by_width = {o.shape[-1]: o.name for o in self._session.get_outputs()}
        if set(by_width) != {2, 4, 10}:
            raise WeightsError(f"{self.FILE}: unexpected outputs {[o.shape for o in self._session.get_outputs()]}")
        return by_width[4], by_width[2], by_width[10]

    @classmethod
    def priors(cls, size: int) -> np.ndarray:
        """(n, 4) cx, cy, w, h priors in units of the input side: per stride, row-major, then per min size."""
        parts = []
        for step, sizes in zip(cls.STEPS, cls.MIN_SIZES):
            side = -(-size // step)
            ys, xs = np.mgrid[:side, :side].astype(np.float32)
            cx = ((xs + 0.5) * step / size).reshape(-1, 1)
            cy = ((ys + 0.5) * step / size).reshape(-1, 1)
            per = [np.concatenate([cx, cy, np.full_like(cx, s / size), np.full_like(cy, s / size)], axis=1)
                   for s in sizes]
            parts.append(np.stack(per, axis=1).reshape(-1, 4))
        return np.concatenate(parts).astype(np.float32)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        img, scale = _letterbox(rgb, self.SIZE)
        blob = np.zeros((self.SIZE, self.SIZE, 3), np.float32)  # padding is the mean colour
        blob[: img.shape[0], : img.shape[1]] = img[..., ::-1].astype(np.float32) - np.float32(self.MEAN_BGR)
        loc, conf, landm = self._session.run(list(self._outputs), {self._input: blob.transpose(2, 0, 1)[None]})
        scores = conf[0, :, 1]
        hit = np.flatnonzero(scores >= self.score_threshold)
        if not hit.size:
            return []
        pri, loc, landm, scores = self._priors[hit], loc[0, hit], landm[0, hit].reshape(-1, 5, 2), scores[hit]
        v0, v1 = self.VARIANCES
        centre = pri[:, :2] + loc[:, :2] * v0 * pri[:, 2:]
        size = pri[:, 2:] * np.exp(loc[:, 2:] * v1)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) * self.SIZE
        kps = (pri[:, None, :2] + landm * v0 * pri[:, None, 2:]) * self.SIZE
        keep = nms(boxes, scores, self.nms_threshold)
        return _detections(boxes[keep], scores[keep], kps[keep], scale, w, h, self.name)
