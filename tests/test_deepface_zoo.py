"""deepface's zoo through facevault: names, lazy import, engine choice, weights errors, and exact parity of
facevault's detector + "deepface" aligner + embedding with `DeepFace.represent` on real images.

Nothing is downloaded: deepface's download functions are made to fail as an unreachable network does, and
weights are placed (symlinked) in the per-test $DEEPFACE_HOME the conftest sets up. Models whose real
weights cannot be had here run on a small random ONNX graph saved where deepface looks for it: parity is
about what deepface feeds the model, which does not depend on the weights.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from facevault.core.errors import FacevaultError, WeightsError
from facevault.faces import imageio
from facevault.faces.pipeline import build_pipeline
from facevault.zoo import registry
from facevault.zoo.deepface import DETECTORS, RECOGNIZER_FILES, RECOGNIZERS

HERE = Path(__file__).resolve().parent
LFW = HERE / "data" / "lfw"
SHARED = Path(__file__).resolve().parents[2] / "shared"
UNIT = SHARED / "datasets" / "deepface-unit"
SFACE = SHARED / "weights" / "face_recognition_sface_2021dec_int8bq.onnx"
YUNET = SHARED / "weights" / "face_detection_yunet_2023mar.onnx"
TOL = 1e-5

# Colin_Powell_0001 holds a second, eye-less opencv face; img5/img12/img25 are modest deepface-unit photos
LFW_FACES = [LFW / "Colin_Powell" / "Colin_Powell_0001.jpg", LFW / "Tony_Blair" / "Tony_Blair_0002.jpg",
             LFW / "Laura_Bush" / "Laura_Bush_0001.jpg"]
UNIT_FACES = ["img5.jpg", "img12.jpg", "img25.jpg"]
ONNX_ENGINE_MODELS = [m for m, files in RECOGNIZER_FILES.items() if "onnx" in files]


def _frm_file(name: str) -> Path:
    spec = find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("face-recognition-models is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / name


def _shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found (present on the development machines only)")
    return path


@pytest.fixture(autouse=True)
def offline_deepface(monkeypatch):
    """deepface on its ONNX engine, with a fresh model cache and every download failing as offline."""
    from facevault.faces import deepface_backend as deepface_zoo

    if deepface_zoo.engine() != "onnx":
        pytest.skip(f"deepface already runs on {deepface_zoo.engine()} in this process")
    from deepface.commons import weight_utils
    from deepface.modules import modeling

    def unreachable(url: str) -> None:
        raise ConnectionError(f"network unreachable (test): {url}")

    monkeypatch.setattr(weight_utils, "ensure_source_is_reachable", unreachable)
    if find_spec("retinaface") is not None:
        from retinaface.commons import weight_utils as rf_weight_utils

        monkeypatch.setattr(rf_weight_utils, "ensure_source_is_reachable", unreachable)
    monkeypatch.setattr(modeling, "cached_models", {task: {} for task in modeling.AVAILABLE_MODELS}, raising=False)


@pytest.fixture
def df_weights() -> Path:
    """$DEEPFACE_HOME/.deepface/weights of this test (conftest points DEEPFACE_HOME at tmp_path)."""
    path = Path(os.environ["DEEPFACE_HOME"]) / ".deepface" / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _link(df_weights: Path, src: Path, name: str | None = None) -> None:
    (df_weights / (name or src.name)).symlink_to(src)


def random_onnx(path: Path, height: int, width: int, dim: int, seed: int = 0) -> None:
    """A small random embedder with the interface deepface's ONNX clients use: the first input, NHWC float
    (n, height, width, 3), and the first output (n, dim). Strided conv -> tanh -> two dense layers."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    stride, channels, hidden = (8 if min(height, width) >= 150 else 4), 4, 64
    oh, ow = (height - stride) // stride + 1, (width - stride) // stride + 1
    flat = channels * oh * ow
    tensors = {
        "conv_w": rng.normal(0, 0.5, (channels, 3, stride, stride)),
        "fc_w": rng.normal(0, 1 / np.sqrt(flat), (flat, hidden)),
        "out_w": rng.normal(0, 1 / np.sqrt(hidden), (hidden, dim)),
    }
    nodes = [
        helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "conv_w"], ["conv"], strides=[stride, stride]),
        helper.make_node("Tanh", ["conv"], ["act"]),
        helper.make_node("Flatten", ["act"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "fc_w"], ["hidden"]),
        helper.make_node("Tanh", ["hidden"], ["hidden_act"]),
        helper.make_node("MatMul", ["hidden_act", "out_w"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes, "random_embedder",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", height, width, 3])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", dim])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in tensors.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def assert_represent_parity(model: str, backend: str, paths: list[Path]) -> int:
    """facevault's pipeline (deepface-<backend> + model, aligner deepface) gives DeepFace.represent's raw
    vectors for every face of every image; the faces of all images are embedded in one batch."""
    from deepface import DeepFace

    pipe = build_pipeline(registry.space(model, f"deepface-{backend}", "deepface"))
    rec = pipe.recognizer
    assert rec.dim == registry.model(model).dim
    found, chips = [], []
    for path in paths:
        rgb = imageio.load(path).rgb
        dets = pipe.faces(rgb)
        found.append((path, rgb, dets))
        chips += [pipe.aligner.align(rgb, d) for d in dets]
    ours = rec.embed(chips)
    assert ours.shape == (len(chips), rec.dim) and ours.dtype == np.float32
    row = 0
    for path, rgb, dets in found:
        ref = DeepFace.represent(str(path), model_name=model, detector_backend=backend, align=True,
                                 expand_percentage=0, normalization="base")
        assert len(ref) == len(dets), f"{path.name}: deepface found {len(ref)} faces, facevault {len(dets)}"
        for face, det in zip(ref, dets):
            if backend != "skip":
                area = face["facial_area"]
                assert (area["x"], area["y"]) == (max(0, int(det.x)), max(0, int(det.y))), path.name
            vec = np.asarray(face["embedding"], np.float32)
            assert np.linalg.norm(vec) > 0
            diff = float(np.abs(ours[row] - vec).max())
            assert diff < TOL, f"{model}/{backend} {path.name}: max |difference| {diff}"
            row += 1
    assert row == len(chips) > 0
    if len(chips) > 1:  # the vectors depend on the face (the comparison above could not pass vacuously)
        assert np.abs(ours[0] - ours[1]).max() > 1e-3
    return row


# ---- registry, import and engine ----


def test_every_deepface_backend_and_model_is_registered():
    from deepface.modules import modeling

    backends = set(modeling.AVAILABLE_MODELS["face_detector"]) | {"skip"}
    assert set(DETECTORS) == backends
    assert set(RECOGNIZERS) == set(modeling.AVAILABLE_MODELS["facial_recognition"])
    dets, models = registry.detectors(), registry.models()
    for backend in backends:
        entry = dets[f"deepface-{backend}"]
        assert (entry.kind, entry.source, entry.kwargs) == ("detector", "deepface", {"backend": backend})
    for name in RECOGNIZERS:
        entry = models[name]
        assert entry.source == "deepface" and entry.dim == RECOGNIZERS[name][0] and entry.weights
        assert entry.aligners[0] == "deepface" == entry.aligner
        assert ("arcface" in entry.aligners) == (name in ("ArcFace", "SFace", "GhostFaceNet", "Buffalo_L"))
    assert models["DeepID"].input == "55x47x3" and models["DeepFace"].input == "152x152x3"


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "DEEPFACE_BACKEND_ENGINE"}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120)


def test_importing_the_zoo_does_not_import_deepface():
    out = _run(
        "import sys, os\n"
        "import facevault.zoo.deepface, facevault.faces.deepface_backend, facevault.zoo.registry as r\n"
        "import facevault.faces.pipeline\n"
        "r.models(); r.detectors(); r.aligners()\n"
        "heavy = ('deepface', 'retinaface', 'onnxruntime', 'dlib', 'cv2', 'tensorflow')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "print(os.environ.get('DEEPFACE_BACKEND_ENGINE'))\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "None"]


def test_engine_defaults_to_onnx_and_honours_the_users_choice():
    code = ("import logging; logging.basicConfig(level=logging.INFO)\n"
            "from facevault.faces import deepface_backend as dz\n"
            "try:\n    print(dz.engine(), dz.engine())\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    out = _run(code)
    assert out.stdout.strip() == "onnx onnx", out.stderr
    assert out.stderr.count("runs on its onnx engine") == 1  # logged once
    out = _run(code, DEEPFACE_BACKEND_ENGINE="tensorflow")
    if find_spec("tensorflow") is None:
        assert out.stdout.startswith("FacevaultError") and "tensorflow" in out.stdout
    else:
        assert out.stdout.strip() == "tensorflow tensorflow", out.stderr


# ---- weights ----


def test_missing_weights_raise_weights_error_naming_file_and_url(df_weights):
    with pytest.raises(WeightsError) as err:
        registry.model("Facenet").build()
    msg = str(err.value)
    assert "facenet_weights.onnx" in msg and "https://" in msg and str(df_weights) in msg and "\n" not in msg
    with pytest.raises(WeightsError, match=r"centerface\.onnx.*https://"):
        registry.detector("deepface-centerface").build()


def test_every_deepface_detector_builds_or_fails_with_a_facevault_error():
    for backend in DETECTORS:
        try:
            registry.detector(f"deepface-{backend}").build()
        except FacevaultError as exc:
            assert str(exc) and "\n" not in str(exc)


def test_cli_reports_missing_deepface_weights_without_traceback(lfw_small):
    from conftest import run_cli

    result = run_cli("ingest", str(lfw_small), "--model", "Facenet", "--detector", "deepface-opencv", expect=1)
    assert "facenet_weights.onnx" in result.output and "Traceback" not in result.output


def test_weights_sha256_is_the_deepface_file(df_weights):
    path = df_weights / "facenet_weights.onnx"
    random_onnx(path, 160, 160, 128)
    rec = registry.model("Facenet").build()
    assert rec.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    path.unlink()
    assert rec.weights_sha256 is None


def test_weights_found_by_facevault_are_copied_for_deepface(tmp_path, df_weights):
    mine = tmp_path / "my_weights"
    mine.mkdir()
    random_onnx(mine / "openface_weights.onnx", 96, 96, 128, seed=3)
    rec = registry.model("OpenFace").build(weights_dir=str(mine))
    copied = df_weights / "openface_weights.onnx"
    assert copied.is_file() and copied.read_bytes() == (mine / "openface_weights.onnx").read_bytes()
    assert rec.weights_sha256 == hashlib.sha256(copied.read_bytes()).hexdigest()


# ---- detection ----


def test_skip_is_the_whole_image_and_dlib_eyes_are_in_arcface_order(df_weights):
    _link(df_weights, _frm_file("shape_predictor_5_face_landmarks.dat"))
    rgb = imageio.load(LFW_FACES[1]).rgb
    (whole,) = registry.detector("deepface-skip").build().detect(rgb)
    assert (whole.x, whole.y, whole.w, whole.h, whole.source) == (0, 0, 250, 250, "deepface-skip")
    (face,) = registry.detector("deepface-dlib").build().detect(rgb)
    assert face.landmarks.scheme == "arcface5" and not face.landmarks.complete
    lm = face.landmarks.points
    assert face.source == "deepface-dlib" and lm.shape == (5, 2) and np.isnan(lm[2:]).all()
    assert lm[0, 0] < lm[1, 0]  # the image's left eye first (deepface's right_eye)
    assert face.x <= lm[0, 0] < lm[1, 0] <= face.x + face.w and face.y <= lm[:2, 1].min() <= face.y + face.h / 2


# ---- parity with DeepFace.represent ----


def test_dlib_parity_with_deepface_represent(df_weights, shared):
    _link(df_weights, _frm_file("dlib_face_recognition_resnet_model_v1.dat"))
    _link(df_weights, _frm_file("shape_predictor_5_face_landmarks.dat"))
    paths = [_shared(UNIT / name) for name in UNIT_FACES] + LFW_FACES
    assert assert_represent_parity("Dlib", "dlib", paths) >= len(paths)


def test_sface_parity_with_opencv_and_skip(df_weights, shared):
    _link(df_weights, _shared(SFACE), "face_recognition_sface_2021dec.onnx")
    assert assert_represent_parity("SFace", "opencv", [_shared(UNIT / "img5.jpg")] + LFW_FACES) >= 4
    assert assert_represent_parity("SFace", "skip", LFW_FACES) == len(LFW_FACES)


@pytest.mark.parametrize("model", ONNX_ENGINE_MODELS)
def test_random_weights_parity(model, df_weights):
    dim, (width, height), _ = RECOGNIZERS[model]
    random_onnx(df_weights / RECOGNIZER_FILES[model]["onnx"][0], height, width, dim, seed=len(model))
    assert assert_represent_parity(model, "opencv", LFW_FACES[:2]) == 3


def test_yunet_backend_parity(df_weights, shared):
    _link(df_weights, _shared(YUNET))
    random_onnx(df_weights / "facenet_weights.onnx", 160, 160, 128)
    assert assert_represent_parity("Facenet", "yunet", [_shared(UNIT / "img12.jpg")] + LFW_FACES[1:]) == 3


# ---- other detectors and the arcface aligner ----


def test_deepface_aligner_with_a_native_detector_uses_its_landmarker(df_weights):
    """dlib-hog boxes + 68-point eyes give vectors close to deepface's own dlib detector + eyes."""
    _link(df_weights, _frm_file("dlib_face_recognition_resnet_model_v1.dat"))
    _link(df_weights, _frm_file("shape_predictor_5_face_landmarks.dat"))
    native = build_pipeline(registry.space("Dlib", "dlib-hog", "deepface"))
    own = build_pipeline(registry.space("Dlib", "deepface-dlib", "deepface"))
    for path in LFW_FACES[1:]:
        rgb = imageio.load(path).rgb
        a = native.embed_faces(rgb, native.faces(rgb)[:1])
        b = own.embed_faces(rgb, own.faces(rgb)[:1])
        assert float(a[0] @ b[0]) > 0.95, path.name
    assert native.aligner.points.built and not own.aligner.points.built  # dlib's 68 points for dlib-hog only


def test_arcface_aligner_feeds_the_template_crop(df_weights, shared):
    from facevault.faces.align.arcface import arcface_crop

    _link(df_weights, _shared(SFACE), "face_recognition_sface_2021dec.onnx")
    _link(df_weights, _shared(YUNET))
    pipe = build_pipeline(registry.space("SFace", "deepface-yunet", "arcface"))
    vecs, names = [], []
    for ident in ("Tony_Blair", "Laura_Bush"):
        for i in (1, 2):
            rgb = imageio.load(LFW / ident / f"{ident}_000{i}.jpg").rgb
            det = pipe.faces(rgb)[0]
            chip = pipe.aligner.align(rgb, det)
            lm = pipe.aligner.points.complete(rgb, det)
            expected = arcface_crop(rgb, lm)[..., ::-1].astype(np.float32) / 255
            assert chip.shape == (112, 112, 3) and np.abs(chip - expected).max() < 1e-6
            assert np.abs(lm[:2] - det.landmarks.points[:2]).max() < 8  # the 68-point eyes agree with yunet's
            vecs.append(pipe.embed_faces(rgb, [det])[0])
            names.append(ident)
    sims = np.array(vecs) @ np.array(vecs).T
    assert min(sims[0, 1], sims[2, 3]) > max(sims[0, 2], sims[0, 3], sims[1, 2], sims[1, 3])
