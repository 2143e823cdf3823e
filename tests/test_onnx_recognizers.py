"""ONNX recognizers described by data, ArcFace-template alignment and the 68->5 point landmarker.

Real models from ../shared/weights (skipped, naming the file, where absent), real faces from tests/data/lfw
and ../shared/datasets/deepface-unit (dlib HOG detection + Dlib68To5 landmarks).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facevault.core.errors import FacevaultError, WeightsError
from facevault.core.types import (
    ARCFACE5,
    DLIB5,
    Detection,
    Landmarks,
    subject_index,
    unit,
)
from facevault.faces import imageio
from facevault.faces.align.arcface import (
    ARCFACE_TEMPLATE,
    apply,
    arcface_crop,
    arcface_matrix,
    template,
)
from facevault.faces.embed.onnx import OnnxRecognizer, preprocess
from facevault.zoo.onnx_specs import SPECS, OnnxSpec

HERE = Path(__file__).resolve().parent
SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights"
DEEPFACE_UNIT = SHARED / "datasets" / "deepface-unit"
LFW = HERE / "data" / "lfw"
SHARED_MODELS = ("sface", "arcface-mbf", "mobilefacenet-192")


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half); local, so this test needs no evaluation layer."""
    pos, neg = scores[labels], scores[~labels]
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
                 / (len(pos) * len(neg)))


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.name} not found at {path} (shared files are on the development machines only)")
    return path


def need_model(key: str) -> Path:
    return need(WEIGHTS / SPECS[key].file)


@pytest.fixture
def shared_weights(monkeypatch) -> Path:
    """FACEVAULT_WEIGHTS pointed at the shared real weights."""
    need(WEIGHTS)
    monkeypatch.setenv("FACEVAULT_WEIGHTS", str(WEIGHTS))
    return WEIGHTS


def _subject(rgb: np.ndarray, detector) -> Detection:
    dets = detector.detect(rgb)
    assert dets, "dlib HOG found no face"
    return dets[subject_index(dets, rgb.shape[1], rgb.shape[0])]


@pytest.fixture(scope="module")
def hog_and_68():
    from facevault.faces.detect.dlib import DlibHog
    from facevault.faces.landmarks import Dlib68To5

    return DlibHog(fallback=False), Dlib68To5()


@pytest.fixture(scope="module")
def lfw_faces(hog_and_68) -> list[tuple[np.ndarray, Detection, np.ndarray]]:
    """(rgb, detection, ArcFace-order landmarks) of one fixture image per identity."""
    hog, lm = hog_and_68
    out = []
    for person in sorted(p for p in LFW.iterdir() if p.is_dir()):
        rgb = imageio.load(sorted(person.glob("*.jpg"))[0]).rgb
        det = _subject(rgb, hog)
        out.append((rgb, det, lm.landmarks(rgb, det)))
    return out


@pytest.fixture(scope="module")
def lfw_chips(lfw_faces) -> list[np.ndarray]:
    return [arcface_crop(rgb, pts) for rgb, _, pts in lfw_faces]


@pytest.fixture(scope="module")
def deepface_unit_chips(hog_and_68) -> tuple[list[str], dict[str, np.ndarray], list[dict]]:
    """Each image of master.csv decoded once, its subject face aligned to the 112 px ArcFace template."""
    master = need(DEEPFACE_UNIT / "master.csv")
    with open(master, newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = sorted({r["file_x"] for r in rows} | {r["file_y"] for r in rows})
    hog, lm = hog_and_68
    chips = {}
    for name in names:
        rgb = imageio.load(need(DEEPFACE_UNIT / name)).rgb
        det = _subject(rgb, hog)
        chips[name] = arcface_crop(rgb, lm.landmarks(rgb, det))
    return names, chips, rows


# ---- alignment ----


def _random_similarity(rng: np.random.Generator) -> np.ndarray:
    angle, scale = rng.uniform(-0.6, 0.6), rng.uniform(1.5, 3.0)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[scale * c, -scale * s, rng.uniform(80, 200)], [scale * s, scale * c, rng.uniform(20, 150)]])


def test_similarity_transform_maps_landmarks_onto_template():
    rng = np.random.default_rng(7)
    for _ in range(20):
        true = _random_similarity(rng)
        landmarks = apply(true, ARCFACE_TEMPLATE) + rng.normal(0, 0.3, (5, 2))  # a face placed in a photo
        m = arcface_matrix(landmarks)
        err = np.linalg.norm(apply(m, landmarks) - ARCFACE_TEMPLATE, axis=1)
        assert err.max() < 0.5
        assert np.linalg.det(m[:, :2]) > 0  # rotation and scale only, never a mirror image


def test_similarity_is_least_squares_not_exact_fit():
    # a non-similar point set: the fit leaves residuals, and moving any point makes the fit worse
    src = ARCFACE_TEMPLATE * 2.0 + np.array([[3, -2], [0, 4], [-5, 1], [2, 2], [0, -3]])
    m = arcface_matrix(src)
    base = ((apply(m, src) - ARCFACE_TEMPLATE) ** 2).sum()
    assert base > 0.1
    for dm in (np.array([[0, 0, 0.5], [0, 0, 0]]), np.array([[0.01, 0, 0], [0, 0.01, 0]])):
        assert ((apply(m + dm, src) - ARCFACE_TEMPLATE) ** 2).sum() > base


@pytest.mark.parametrize("size", [112, 224])
def test_arcface_crop_puts_marked_points_on_the_template(size):
    """Dots drawn at the landmarks of a synthetic photo land on the template points of the chip."""
    rng = np.random.default_rng(size)
    true = _random_similarity(rng)
    landmarks = apply(true, ARCFACE_TEMPLATE)
    assert (landmarks > 5).all() and (landmarks < 595).all()
    canvas = np.zeros((600, 600, 3), np.uint8)
    yy, xx = np.mgrid[:600, :600]
    for x, y in landmarks:
        canvas[(xx - x) ** 2 + (yy - y) ** 2 <= 9.0] = 255
    chip = arcface_crop(canvas, landmarks, size)
    assert chip.shape == (size, size, 3) and chip.dtype == np.uint8
    gray = chip[..., 0].astype(float)
    cy, cx = np.mgrid[:size, :size]
    for tx, ty in template(size):
        near = ((cx - tx) ** 2 + (cy - ty) ** 2 <= (10 * size / 112) ** 2) * gray
        assert near.sum() > 0, "no marker near a template point"
        mx, my = (near * cx).sum() / near.sum(), (near * cy).sum() / near.sum()
        assert np.hypot(mx - tx, my - ty) < 0.5 * size / 112 + 0.5


def test_alignment_rejects_bad_landmarks():
    with pytest.raises(FacevaultError, match="5x2"):
        arcface_matrix(np.zeros((68, 2)))
    with pytest.raises(FacevaultError, match="NaN"):
        arcface_matrix(np.full((5, 2), np.nan))


def test_dlib68to5_lfw_face_lands_eyes_on_template_rows(lfw_faces, hog_and_68):
    """Landmarks re-measured on the aligned chip put the eyes near the template's eye points."""
    _, lm = hog_and_68
    errors = []
    for rgb, det, pts in lfw_faces:
        assert pts.shape == (5, 2) and pts.dtype == np.float32
        assert pts[0, 0] < pts[1, 0] and pts[3, 0] < pts[4, 0]  # left before right, in image x
        assert max(pts[0, 1], pts[1, 1]) < pts[2, 1] < min(pts[3, 1], pts[4, 1])  # eyes, nose, mouth
        m = arcface_matrix(pts)
        chip = arcface_crop(rgb, pts)
        corners = apply(m, [[det.x, det.y], [det.x + det.w, det.y + det.h]])
        box = Detection(*corners[0], *(corners[1] - corners[0]), 1.0, "mapped")
        again = lm.landmarks(chip, box)
        errors.append(np.linalg.norm(again[:2] - ARCFACE_TEMPLATE[:2], axis=1))
        assert abs(again[:2, 1] - ARCFACE_TEMPLATE[:2, 1]).max() < 5.0  # eye rows
    assert np.median(np.concatenate(errors)) < 2.5


# ---- specs ----


def test_spec_json_round_trip_and_validation():
    for spec in SPECS.values():
        data = json.loads(json.dumps(spec.to_dict()))
        assert OnnxSpec.from_dict(data) == spec
    data = SPECS["mobilefacenet-192"].to_dict()
    with pytest.raises(FacevaultError, match="unknown keys colour"):
        OnnxSpec.from_dict({**data, "colour": "RGB"})
    with pytest.raises(FacevaultError, match="layout"):
        OnnxSpec.from_dict({**data, "layout": "CHW"})
    with pytest.raises(FacevaultError, match="missing keys dim"):
        OnnxSpec.from_dict({k: v for k, v in data.items() if k != "dim"})
    assert OnnxSpec.from_dict({**data, "mean": [1, 2, 3]}).mean == (1.0, 2.0, 3.0)


def test_preprocess_layout_colour_and_scaling():
    chip = np.zeros((112, 112, 3), np.uint8)
    chip[..., 0], chip[..., 1], chip[..., 2] = 10, 20, 255  # R, G, B
    ada = SPECS["adaface-ir50"]
    x = preprocess([chip, chip], ada)
    assert x.shape == (2, 3, 112, 112) and x.dtype == np.float32
    bgr01 = chip[..., ::-1].astype(np.float32) / 255.0  # AdaFace's to_input: BGR, (x/255 - 0.5) / 0.5
    np.testing.assert_allclose(x[1], ((bgr01 - 0.5) / 0.5).transpose(2, 0, 1), atol=1e-6)
    y = preprocess([chip], SPECS["mobilefacenet-192"])
    assert y.shape == (1, 112, 112, 3)
    np.testing.assert_allclose(y[0, 0, 0], (np.array([10, 20, 255]) - 127.5) / 128.0, atol=1e-6)
    big = preprocess([np.full((224, 224, 3), 200, np.uint8)], SPECS["sface"])
    assert big.shape == (1, 3, 112, 112) and np.allclose(big, 200.0)
    assert preprocess([], ada).shape == (0, 3, 112, 112)


def test_zoo_entries_are_data_only():
    code = (
        "import json, sys, facevault.zoo.onnx as z; "
        "heavy = ('onnxruntime', 'cv2', 'dlib', 'tensorflow', 'torch', 'facevault.faces'); "
        "print(json.dumps([sorted(m for m in heavy if m in sys.modules), [e.name for e in z.ENTRIES]]))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, names = json.loads(run.stdout)
    assert loaded == [] and set(SPECS) <= set(names)
    from facevault.zoo.onnx import ENTRIES

    for e in ENTRIES:
        spec = OnnxSpec.from_dict(e.kwargs["spec"])
        assert (e.kind, e.source, e.target) == ("recognizer", "onnx", "facevault.faces.embed.onnx:OnnxRecognizer")
        assert (e.dim, e.weights, e.aligner, e.aligners) == (spec.dim, (spec.file,), "arcface", ("arcface", "deepface"))


# ---- recognizers on real faces ----


@pytest.mark.parametrize("key", SHARED_MODELS)
def test_deepface_unit_pairs_separate(key, shared_weights, deepface_unit_chips):
    need_model(key)
    names, chips, rows = deepface_unit_chips
    rec = OnnxRecognizer(SPECS[key])
    raw = rec.embed([chips[n] for n in names])
    assert raw.shape == (len(names), SPECS[key].dim) and raw.dtype == np.float32
    assert np.isfinite(raw).all() and (np.linalg.norm(raw, axis=1) > 1e-3).all()
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    idx = {n: i for i, n in enumerate(names)}
    scores = np.array([unit[idx[r["file_x"]]] @ unit[idx[r["file_y"]]] for r in rows])
    labels = np.array([r["Decision"] == "Yes" for r in rows])
    assert auc(scores, labels) >= 0.99
    assert rec.weights_sha256 == SPECS[key].sha256


@pytest.mark.parametrize("key", ["mobilefacenet-192", "sface", "arcface-mbf"])
def test_batches_match_one_at_a_time(key, shared_weights, lfw_chips):
    need_model(key)
    rec = OnnxRecognizer(SPECS[key])
    single = np.concatenate([rec.embed([c]) for c in lfw_chips[:5]])
    for n in (3, 5):
        batched = rec.embed(lfw_chips[:n])
        assert batched.shape == (n, SPECS[key].dim)
        np.testing.assert_allclose(batched, single[:n], atol=1e-4)
    assert rec.embed([]).shape == (0, SPECS[key].dim)


def test_arcface_aligner_uses_detector_points_only_when_they_are_arcface5(lfw_faces):
    """ARCFACE5 points are the detector's; DLIB5 (eye corners) or no points: dlib's 68 reduced to five,
    computed by the aligner and never written into the (frozen) detection."""
    from facevault.faces.align.arcface import ArcfaceAligner

    aligner = ArcfaceAligner((112, 112))
    rgb, det, pts = lfw_faces[0]
    shifted = pts + np.float32([3.0, -2.0])
    five = dataclasses.replace(det, source="any-detector", landmarks=Landmarks(shifted, ARCFACE5))
    np.testing.assert_array_equal(aligner.align(rgb, five), arcface_crop(rgb, shifted))
    assert not aligner.points.built  # never built when the detector gives the points
    dlib_order = dataclasses.replace(det, source="hog-up1", landmarks=Landmarks(shifted, DLIB5))
    np.testing.assert_array_equal(aligner.align(rgb, dlib_order), arcface_crop(rgb, pts))
    np.testing.assert_array_equal(dlib_order.landmarks.points, shifted)  # unchanged
    assert dlib_order.landmarks.scheme == DLIB5
    bare = dataclasses.replace(det, landmarks=None)
    np.testing.assert_array_equal(aligner.align(rgb, bare), arcface_crop(rgb, pts))
    assert bare.landmarks is None
    incomplete = shifted.copy()
    incomplete[2:] = np.nan  # eyes only (a deepface backend): not enough for the template
    partial = dataclasses.replace(det, landmarks=Landmarks(incomplete, ARCFACE5))
    np.testing.assert_array_equal(aligner.align(rgb, partial), arcface_crop(rgb, pts))


def test_spec_the_graph_contradicts_is_refused(shared_weights):
    need_model("mobilefacenet-192")
    wrong = dataclasses.replace(SPECS["mobilefacenet-192"], layout="NCHW")
    with pytest.raises(FacevaultError, match="mobilefacenet_192.onnx: the spec says input 2x3x112x112"):
        OnnxRecognizer(wrong)
    with pytest.raises(FacevaultError, match="graph's input"):
        OnnxRecognizer(dataclasses.replace(SPECS["mobilefacenet-192"], fixed_batch=None))
    with pytest.raises(FacevaultError, match="128-d but the graph's output"):
        OnnxRecognizer(dataclasses.replace(SPECS["mobilefacenet-192"], dim=128))


def test_checksum_mismatch_names_the_file(tmp_path):
    src = need_model("arcface-mbf")
    folder = tmp_path / "w"
    folder.mkdir()
    shutil.copy(src, folder / "renamed_model.onnx")
    spec = dataclasses.replace(SPECS["arcface-mbf"], file="renamed_model.onnx", sha256="ab" * 32)
    with pytest.raises(WeightsError, match=r"renamed_model\.onnx fails its checksum") as info:
        OnnxRecognizer(spec.to_dict(), weights_dir=str(folder))
    assert "\n" not in str(info.value)
    ok = dataclasses.replace(spec, sha256=SPECS["arcface-mbf"].sha256[:16])  # a leading digest is enough
    assert OnnxRecognizer(ok, weights_dir=str(folder)).weights_sha256 == SPECS["arcface-mbf"].sha256


def test_missing_file_says_where_to_put_it():
    with pytest.raises(WeightsError, match=r"adaface_ir101_webface12m\.onnx not found; place it at .*weights"):
        OnnxRecognizer(SPECS["adaface-ir101"])


def test_deepface_alignment_option_gives_a_different_chip_of_the_same_face(shared_weights, lfw_faces):
    """`--aligner deepface` on an ONNX model: deepface's eye-rotated crop, padded to the model's size."""
    from facevault.faces.align.arcface import ArcfaceAligner
    from facevault.faces.align.deepface import DeepfaceAligner
    from facevault.faces.embed.base import RGB_UINT8

    need_model("arcface-mbf")
    rec = OnnxRecognizer(SPECS["arcface-mbf"])
    template = ArcfaceAligner(rec.input_size, rec.input_kind)
    rotation = DeepfaceAligner(rec.input_size, RGB_UINT8)
    assert rotation.name == "deepface"
    rgb, det, _ = lfw_faces[0]
    a, b = template.align(rgb, det), rotation.align(rgb, det)
    assert a.shape == b.shape == (112, 112, 3) and b.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 5  # not the template crop
    va, vb = (unit(rec.embed([c]))[0][0] for c in (a, b))
    assert float(va @ vb) > 0.2  # still recognisably the same face (different people score about 0.0)
