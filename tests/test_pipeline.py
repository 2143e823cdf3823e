"""The pipeline's stages behind protocols: build_pipeline for a space, swapping a stage, landmark schemes read
(never written) by aligners, batching in the recognizer base class, and per-image failures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from facevault.core.errors import UnknownName
from facevault.core.types import ARCFACE5, DLIB5, Detection, Landmarks, Space
from facevault.faces import imageio
from facevault.faces.align.base import Aligner, display_chip
from facevault.faces.detect.base import Detector
from facevault.faces.embed.base import (
    DEEPFACE_BGR01,
    RGB_UINT8,
    BatchedRecognizer,
    Recognizer,
)
from facevault.faces.pipeline import Pipeline, build_pipeline
from facevault.weights import locate
from facevault.zoo import registry

HERE = Path(__file__).resolve().parent
LFW = HERE / "data" / "lfw"
WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights"
IMAGES = [LFW / "Tony_Blair" / "Tony_Blair_0002.jpg", LFW / "Laura_Bush" / "Laura_Bush_0001.jpg"]


@pytest.fixture(scope="module")
def dlib_pipe() -> Pipeline:
    return build_pipeline(registry.space("dlib", "dlib-hog"))


@pytest.fixture
def shared_weights(monkeypatch) -> Path:
    for name in ("face_detection_yunet_2023mar.onnx", "w600k_mbf_int8.onnx"):
        if not (WEIGHTS / name).is_file():
            pytest.skip(f"{name} not found in {WEIGHTS} (present on the development machines only)")
    monkeypatch.setenv("FACEVAULT_WEIGHTS", str(WEIGHTS))
    return WEIGHTS


def test_build_pipeline_for_a_space(dlib_pipe, tmp_path):
    pipe = dlib_pipe
    assert pipe.space == registry.space("dlib", "dlib-hog") and pipe.space.aligner == "dlib-chip"
    assert isinstance(pipe.detector, Detector) and isinstance(pipe.aligner, Aligner)
    assert isinstance(pipe.recognizer, Recognizer)
    assert pipe.aligner.name == "dlib-chip" and pipe.aligner.input_size == pipe.recognizer.input_size == (150, 150)
    assert pipe.weights_sha256 == locate.sha256_file(locate.dlib_file("dlib-resnet"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    results = pipe.process_files([(IMAGES[0], "a", None), (bad, "b", None), (IMAGES[1], "c", None)])
    assert [r.status for r in results] == ["ok", "error", "ok"] and results[1].error_kind
    for r in (results[0], results[2]):
        (v,) = r.vectors.values()
        assert v.shape == (128,) and abs(float(np.linalg.norm(v)) - 1) < 1e-5 and not r.reused_faces
    again = pipe.process_files([(IMAGES[0], "a", results[0].faces)])[0]
    assert again.reused_faces and np.array_equal(again.vectors[again.subject], results[0].vectors[results[0].subject])
    rgb = imageio.load(IMAGES[0]).rgb
    dets, vecs = pipe.query(rgb)
    np.testing.assert_allclose(vecs[results[0].subject], results[0].vectors[results[0].subject], atol=1e-6)
    thumb = pipe.thumbnail(rgb, dets[0])
    assert thumb.shape == (150, 150, 3) and thumb.dtype == np.uint8


def test_build_pipeline_refuses_an_aligner_the_model_cannot_use():
    with pytest.raises(UnknownName, match="dlib-chip"):
        build_pipeline(Space("dlib", "dlib-hog", "arcface"))
    with pytest.raises(UnknownName, match="arcface"):
        registry.aligner("no-such-aligner")


def test_dlib_chip_reuses_the_detectors_points(dlib_pipe):
    """dlib detections carry DLIB5 points; the chip is made from them without a second predictor run."""
    from facevault.faces.align.dlib_chip import DlibChipAligner

    rgb = imageio.load(IMAGES[0]).rgb
    (det,) = dlib_pipe.faces(rgb)
    assert det.landmarks.scheme == DLIB5
    fresh = DlibChipAligner()
    chip = fresh.align(rgb, det)
    assert fresh._predictor is None  # never built
    bare = dataclasses.replace(det, landmarks=None)  # no points: dlib's predictor on the box, same points
    np.testing.assert_array_equal(fresh.align(rgb, bare), chip)
    assert fresh._predictor is not None and bare.landmarks is None


def test_swapping_the_aligner_changes_the_chips_not_the_detector(shared_weights):
    from facevault.faces.align.deepface import DeepfaceAligner

    template = build_pipeline(registry.space("arcface-mbf", "yunet", "arcface"))
    rec = template.recognizer
    rotation = Pipeline(template.space, template.detector, DeepfaceAligner(rec.input_size, RGB_UINT8), rec)
    rgb = imageio.load(IMAGES[0]).rgb
    dets = template.faces(rgb)
    assert rotation.faces(rgb) == dets and rotation.detector is template.detector
    a, b = template.thumbnail(rgb, dets[0]), rotation.thumbnail(rgb, dets[0])
    assert a.shape == b.shape == (112, 112, 3) and np.abs(a.astype(int) - b.astype(int)).mean() > 5
    va, vb = template.embed_faces(rgb, dets[:1])[0], rotation.embed_faces(rgb, dets[:1])[0]
    assert 0.2 < float(va @ vb) < 0.999


def test_arcface5_points_are_used_and_dlib5_detections_stay_unchanged(shared_weights, dlib_pipe):
    """An ARCFACE5 detection is aligned from its own points; a DLIB5 one for the template via 68 -> 5,
    and the detection is the same afterwards."""
    from facevault.faces.align.arcface import ArcfaceAligner, arcface_crop
    from facevault.faces.landmarks import Dlib68To5

    rgb = imageio.load(IMAGES[1]).rgb
    yunet = registry.detector("yunet").build()
    (y_det,) = yunet.detect(rgb)
    aligner = ArcfaceAligner((112, 112))
    np.testing.assert_array_equal(aligner.align(rgb, y_det), arcface_crop(rgb, y_det.landmarks.points))
    assert not aligner.points.built
    (d_det,) = dlib_pipe.faces(rgb)
    before = d_det.landmarks.points.copy()
    chip = aligner.align(rgb, d_det)
    np.testing.assert_array_equal(chip, arcface_crop(rgb, Dlib68To5().landmarks(rgb, d_det)))
    assert d_det.landmarks.scheme == DLIB5 and np.array_equal(d_det.landmarks.points, before)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d_det.landmarks = None  # type: ignore[misc]


class _Fake(BatchedRecognizer):
    dim, input_size, input_kind = 3, (4, 4), RGB_UINT8

    def __init__(self, batch_size=None, fixed_batch=None, fail=False) -> None:
        self.batch_size, self.fixed_batch, self.fail, self.calls = batch_size, fixed_batch, fail, []

    def forward(self, chips):
        if self.fail:
            raise RuntimeError("out of memory")
        self.calls.append(len(chips))
        return np.array([[float(c.mean()), 1.0, 0.0] for c in chips])


def test_batching_lives_in_the_base_class():
    chips = [np.full((4, 4, 3), i, np.uint8) for i in range(5)]
    rec = _Fake(batch_size=2, fixed_batch=2)
    out = rec.embed(chips)
    assert rec.calls == [2, 2, 2] and out.shape == (5, 3) and out[:, 0].tolist() == [0, 1, 2, 3, 4]
    whole = _Fake()
    assert whole.embed(chips).shape == (5, 3) and whole.calls == [5]
    assert whole.embed([]).shape == (0, 3)


class _BoxDetector:
    name = "box"

    def detect(self, rgb):
        h, w = rgb.shape[:2]
        return [Detection(w / 4, h / 4, w / 2, h / 2, 1.0, "box", Landmarks(np.zeros((5, 2)), ARCFACE5))]


class _CropAligner:
    name, input_size, input_kind = "crop", (4, 4), RGB_UINT8

    def align(self, rgb, det):
        if det.landmarks is None:
            raise ValueError("no points")
        return np.ascontiguousarray(rgb[:4, :4])


def test_failures_mark_their_images_only():
    space = Space("fake", "box", "crop")
    ok = Pipeline(space, _BoxDetector(), _CropAligner(), _Fake())
    no_points = [Detection(10, 10, 50, 50, 1.0, "box")]
    missing = HERE / "no-such-file.jpg"
    res = ok.process_files([(IMAGES[0], "a", None), (missing, "b", None), (IMAGES[1], "c", no_points)])
    assert [r.error_kind for r in res] == [None, "unreadable", "align"] and res[2].reused_faces
    assert res[0].vectors and not res[2].vectors
    broken = Pipeline(space, _BoxDetector(), _CropAligner(), _Fake(fail=True))
    res = broken.process_files([(IMAGES[0], "a", None), (IMAGES[1], "b", None)])
    assert [r.error_kind for r in res] == ["embed", "embed"] and "out of memory" in res[0].error
    assert broken.weights_sha256 is None


def test_display_chip_turns_deepface_input_into_rgb():
    bgr01 = np.zeros((2, 2, 3), np.float32)
    bgr01[..., 0] = 1.0  # blue
    rgb = display_chip(bgr01, DEEPFACE_BGR01)
    assert rgb.dtype == np.uint8 and rgb[0, 0].tolist() == [0, 0, 255]
    chip = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert np.array_equal(display_chip(chip, RGB_UINT8), chip)
