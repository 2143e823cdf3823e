"""The 5-point ONNX detectors (YuNet, SCRFD, RetinaFace) on real faces with the real weights.

Weights come from ../shared/weights (a fixture points FACEVAULT_WEIGHTS there); images from
../shared/datasets/deepface-unit and the LFW fixture faces in tests/data/lfw. Each image is detected once per
detector and the results are shared between tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facevault.core.errors import WeightsError
from facevault.core.types import ARCFACE5, Detection, subject_index
from facevault.faces.imageio import load
from facevault.zoo import registry

HERE = Path(__file__).resolve().parent
SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights"
UNIT = SHARED / "datasets" / "deepface-unit"
LFW = HERE / "data" / "lfw"

FILES = {
    "yunet": "face_detection_yunet_2023mar.onnx",
    "scrfd": "scrfd_2.5g_bnkps.onnx",
    "retinaface": "retinaface_mnet025.onnx",
}
NAMES = tuple(FILES)
# single-face images: the largest (img49, 4352x2903), a WebP named .jpg (img47), big JPEGs, small ones
SINGLE = ("img1.jpg", "img47.jpg", "img49.jpg", "img11.jpg", "img2.jpg", "img24.jpg", "img12.jpg", "img33.jpg")
LFW_FACES = tuple(sorted(p / f"{p.name}_0001.jpg" for p in LFW.iterdir() if p.is_dir())) if LFW.is_dir() else ()


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found (the shared weights and datasets are on the development machines only)")
    return path


class Runs:
    """Detectors built once, each image detected once per detector."""

    def __init__(self) -> None:
        self._detectors: dict = {}
        self._results: dict[tuple[str, str], list[Detection]] = {}
        self._images: dict[str, np.ndarray] = {}

    def detector(self, name: str):
        if name not in self._detectors:
            if name == "dlib-hog":
                from facevault.faces.detect.dlib import DlibHog

                self._detectors[name] = DlibHog()
            else:
                _need(WEIGHTS / FILES[name])
                with pytest.MonkeyPatch.context() as mp:
                    mp.setenv("FACEVAULT_WEIGHTS", str(WEIGHTS))
                    self._detectors[name] = registry.detector(name).build()
        return self._detectors[name]

    def image(self, path: Path) -> np.ndarray:
        key = str(path)
        if key not in self._images:
            self._images[key] = load(_need(path)).rgb
        return self._images[key]

    def detect(self, name: str, path: Path) -> list[Detection]:
        key = (name, str(path))
        if key not in self._results:
            self._results[key] = self.detector(name).detect(self.image(path))
        return self._results[key]

    def subject(self, name: str, path: Path) -> Detection:
        dets = self.detect(name, path)
        h, w = self.image(path).shape[:2]
        i = subject_index(dets, w, h)
        assert i is not None, f"{name} found no face in {path.name}"
        return dets[i]


@pytest.fixture(scope="module")
def runs() -> Runs:
    return Runs()


def iou(a: Detection, b: Detection) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a.area + b.area - inter)


def assert_upright_face(det: Detection, name: str, where: str) -> None:
    """Points in ArcFace order inside the box: eyes left to right, above the nose, above the mouth."""
    assert det.source == name
    assert det.landmarks.scheme == ARCFACE5 and det.landmarks.complete, where
    pts = det.landmarks.points
    assert isinstance(pts, np.ndarray) and pts.shape == (5, 2) and pts.dtype == np.float32, where
    tol_x, tol_y = 0.05 * det.w, 0.05 * det.h
    assert np.all(pts[:, 0] >= det.x - tol_x) and np.all(pts[:, 0] <= det.x + det.w + tol_x), (where, pts, det)
    assert np.all(pts[:, 1] >= det.y - tol_y) and np.all(pts[:, 1] <= det.y + det.h + tol_y), (where, pts, det)
    (lex, ley), (rex, rey), (_, ny), (lmx, lmy), (rmx, rmy) = pts
    assert lex < rex and lmx < rmx, f"{where}: points not ordered left to right: {pts.tolist()}"
    assert max(ley, rey) < ny < min(lmy, rmy), f"{where}: eyes, nose, mouth not top to bottom: {pts.tolist()}"


def test_zoo_entries_import_no_framework():
    code = (
        "import sys, facevault.zoo.native_onnx as z; "
        "assert not {'cv2', 'onnxruntime'} & set(sys.modules), sorted({'cv2', 'onnxruntime'} & set(sys.modules)); "
        "print(' '.join(e.name for e in z.ENTRIES))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(NAMES) <= set(out.stdout.split())
    for name in NAMES:
        entry = registry.detector(name)
        assert entry.kind == "detector" and entry.weights == (FILES[name],)


@pytest.mark.parametrize("name", NAMES)
def test_registry_builds_from_weights_env(name, monkeypatch):
    _need(WEIGHTS / FILES[name])
    monkeypatch.setenv("FACEVAULT_WEIGHTS", str(WEIGHTS))
    det = registry.detector(name).build()
    assert det.name == name
    assert det.detect(np.full((200, 300, 3), 127, np.uint8)) == []  # a flat grey image holds no face


@pytest.mark.parametrize("name", NAMES)
def test_corrupt_weights_refused(name, tmp_path, monkeypatch):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / FILES[name]).write_bytes(b"not an onnx file")
    with pytest.raises(WeightsError, match="checksum mismatch"):
        registry.detector(name).build(weights_dir=str(folder))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("image", SINGLE)
def test_single_face_images(runs, name, image):
    dets = runs.detect(name, UNIT / image)
    assert len(dets) >= 1, f"{name} found no face in {image}"
    assert_upright_face(runs.subject(name, UNIT / image), name, f"{name} {image}")


@pytest.mark.parametrize("name", NAMES)
def test_couple_two_faces(runs, name):
    dets = sorted(runs.detect(name, UNIT / "couple.jpg"), key=lambda d: -d.score)
    assert len(dets) >= 2, f"{name} found {len(dets)} faces in couple.jpg"
    assert iou(dets[0], dets[1]) < 0.1
    for d in dets[:2]:
        assert_upright_face(d, name, f"{name} couple.jpg")


@pytest.mark.parametrize("image", SINGLE + ("couple.jpg",))
def test_boxes_agree_with_each_other_and_dlib(runs, image):
    path = UNIT / image
    subjects = {name: runs.subject(name, path) for name in NAMES}
    hog = runs.subject("dlib-hog", path)
    for i, a in enumerate(NAMES):
        for b in NAMES[i + 1:]:
            assert iou(subjects[a], subjects[b]) > 0.5, f"{a} vs {b} on {image}"
        # dlib's box is tighter (brows to chin); the subject boxes still overlap by 0.6-0.8 on these images
        assert iou(subjects[a], hog) > 0.5, f"{a} vs dlib-hog on {image}"


@pytest.mark.parametrize("name", NAMES)
def test_shrunk_and_padded_copy_maps_back(runs, name):
    """Detecting on a half-size copy framed off-centre gives the same face, moved and scaled to match."""
    import cv2

    rgb = runs.image(UNIT / "img11.jpg")
    ref = runs.subject(name, UNIT / "img11.jpg")
    half = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
    dx, dy = 500, 60
    canvas = np.full((half.shape[0] + 2 * dy, half.shape[1] + dx + 20, 3), 90, np.uint8)
    canvas[dy:dy + half.shape[0], dx:dx + half.shape[1]] = half
    dets = runs.detector(name).detect(canvas)
    assert dets, f"{name} lost the face in the framed copy"
    got = max(dets, key=lambda d: d.score)
    expect = Detection(ref.x / 2 + dx, ref.y / 2 + dy, ref.w / 2, ref.h / 2, ref.score, name)
    assert iou(got, expect) > 0.8
    shift = np.abs(got.landmarks.points - (ref.landmarks.points / 2 + np.float32([dx, dy])))
    # the network sees the face at about half the scale; SCRFD's and RetinaFace's points barely move with
    # scale, YuNet's move more (up to 0.14 of the face width here), far less than any mapping error would
    assert shift.max() < (0.2 if name == "yunet" else 0.08) * expect.w, shift


@pytest.mark.parametrize("name", NAMES)
def test_lfw_fixture_faces(runs, name):
    if not LFW_FACES:
        pytest.skip(f"LFW fixture faces not found at {LFW}")
    for path in LFW_FACES:
        det = runs.subject(name, path)
        h, w = runs.image(path).shape[:2]
        cx, cy = det.x + det.w / 2, det.y + det.h / 2
        assert abs(cx - w / 2) < 0.15 * w and abs(cy - h / 2) < 0.15 * h, f"{name} {path.name}: {det}"
        assert 0.2 * w < det.w < 0.8 * w, f"{name} {path.name}: {det}"
        assert_upright_face(det, name, f"{name} {path.name}")


def test_nms_keeps_the_best_of_overlapping_boxes():
    from facevault.faces.detect.onnx import nms

    boxes = np.float32([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]])
    scores = np.float32([0.8, 0.9, 0.7, 0.95])
    # box 3 (0.95) suppresses 0 (IoU 0.9) and 1 (IoU 0.61); box 2 overlaps nothing
    assert nms(boxes, scores, 0.4).tolist() == [3, 2]
    assert nms(boxes, scores, 0.95).tolist() == [3, 1, 0, 2]


def test_retinaface_priors_layout():
    from facevault.faces.detect.onnx import RetinaFace

    priors = RetinaFace.priors(640)
    assert priors.shape == (16800, 4)
    # first location of stride 8: centre (4, 4) px, sizes 16 then 32 px
    np.testing.assert_allclose(priors[:2] * 640, [[4, 4, 16, 16], [4, 4, 32, 32]], atol=1e-4)
    # last prior: stride 32, bottom-right cell, size 512 px
    np.testing.assert_allclose(priors[-1] * 640, [624, 624, 512, 512], atol=1e-3)


def test_yunet_fallback_finds_a_face_the_single_pass_misses(monkeypatch):
    """A face YuNet scores below 0.9 at its own size is still found by the cascade (2x size, then 0.5)."""
    from facevault.faces import imageio
    from facevault.faces.detect.onnx import YuNet

    lfw = SHARED / "datasets" / "lfw" / "images"
    img = _need(lfw / "Alvaro_Uribe" / "Alvaro_Uribe_0014.jpg")  # a single pass at 0.9 finds nothing here
    monkeypatch.setenv("FACEVAULT_WEIGHTS", str(_need(WEIGHTS / FILES["yunet"]).parent))
    rgb = imageio.load(img).rgb
    assert YuNet(fallback=False).detect(rgb) == []
    (face,) = YuNet().detect(rgb)
    assert face.source == "yunet" and face.w > 60 and face.landmarks.points.shape == (5, 2)
