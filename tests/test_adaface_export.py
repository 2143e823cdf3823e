"""facevault.weights.export_adaface: AdaFace IR network -> ONNX, and facevault running the result.

A random IR-18 (BN statistics gathered from forward passes, so no layer is an identity) stands in for a real
checkpoint, which cannot be downloaded here. It is saved as a Lightning-style checkpoint (`model.` keys, a
`head.` margin weight, pickled hyper-parameter objects) and exported through the module's command line; the
ONNX file must then agree with the PyTorch network on real aligned LFW faces, at any batch size, and
facevault must ingest with it as `adaface-ir18`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, run_cli

NO_TORCH = ("torch not installed (pip install torch --index-url https://download.pytorch.org/whl/cpu; "
            ".ci/run installs torch==2.13.0)")
FACES = ["Colin_Powell/Colin_Powell_0001.jpg", "Serena_Williams/Serena_Williams_0002.jpg",
         "Hugo_Chavez/Hugo_Chavez_0003.jpg", "Laura_Bush/Laura_Bush_0004.jpg", "Tony_Blair/Tony_Blair_0005.jpg"]

_unpickled_calls: list[str] = []


def _record_call(tag: str) -> str:
    _unpickled_calls.append(tag)
    return tag


class _HParams(dict):
    """Stands for Lightning's AttributeDict: a class torch's weights_only loader refuses."""


class _Booby:
    """Unpickling this with a real unpickler calls `_record_call`; the exporter must never do that."""

    def __reduce__(self):
        return (_record_call, ("code from the checkpoint ran",))


def _script():
    from facevault.weights import export_adaface

    return export_adaface


@pytest.fixture(scope="module")
def aligned() -> list[np.ndarray]:
    """Five real LFW faces, ArcFace-template aligned from dlib's 68 landmarks (as facevault aligns them)."""
    from facevault.faces.align.arcface import arcface_crop
    from facevault.faces.detect.dlib import DlibHog
    from facevault.faces.imageio import load
    from facevault.faces.landmarks import Dlib68To5

    detector, landmarker = DlibHog(fallback=False), Dlib68To5()
    chips = []
    for rel in FACES:
        rgb = load(DATA / rel).rgb
        dets = detector.detect(rgb)
        assert dets, f"no face found in {rel}"
        h, w = rgb.shape[:2]
        det = min(dets, key=lambda d: (d.x + d.w / 2 - w / 2) ** 2 + (d.y + d.h / 2 - h / 2) ** 2)
        chips.append(arcface_crop(rgb, landmarker.landmarks(rgb, det), 112))
    return chips


@pytest.fixture(scope="module")
def adaface_spec():
    from facevault.faces.embed.onnx import OnnxSpec
    from facevault.zoo import registry

    return OnnxSpec.from_dict(registry.model("adaface-ir18").kwargs["spec"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(script module, random IR-18 in eval mode, path of its ONNX export made by the script's CLI)."""
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    pytest.importorskip("onnx", reason="onnx not installed (pip install onnx==1.23.2; torch's exporter needs it)")
    script = _script()
    model = script.randomise(script.build_backbone("ir_18"), seed=7)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    state["head.kernel"] = torch.randn(512, 10)
    tmp = tmp_path_factory.mktemp("adaface")
    ckpt = tmp / "adaface_ir18_test.ckpt"
    torch.save({"state_dict": state, "epoch": 3, "hyper_parameters": _HParams(arch="ir_18", lr=0.1),
                "namespace": argparse.Namespace(m=0.4), "booby": _Booby()}, ckpt)
    out = tmp / "adaface_ir18_test.onnx"
    assert script.main([str(ckpt), str(out), "--arch", "ir_18"]) == 0
    return script, model, out


def _torch_embed(model, batch: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(batch)).numpy()


def _ort_embed(path: Path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["embedding"], {"input": batch})[0]


def test_checkpoint_loads_without_running_its_code(exported):
    script, model, out = exported
    assert not _unpickled_calls, "the restricted unpickler called a function named by the checkpoint"
    state = script.load_checkpoint(out.with_suffix(".ckpt"))
    assert not any(k.startswith("head.") for k in state)
    own = model.state_dict()
    assert state.keys() == own.keys()
    assert all(np.array_equal(state[k].numpy(), own[k].numpy()) for k in own)
    with pytest.raises(ValueError, match="check --arch"):
        script.load_weights(script.build_backbone("ir_34"), state)


def test_export_equals_torch_on_real_faces_at_any_batch(exported, aligned, adaface_spec):
    from facevault.faces.embed.onnx import preprocess

    _, model, out = exported
    batch = preprocess(aligned, adaface_spec)
    assert batch.shape == (5, 3, 112, 112)
    want = _torch_embed(model, batch[:3])
    got = _ort_embed(out, batch[:3])
    assert got.shape == (3, 512)
    assert np.abs(got - want).max() <= 1e-4
    # the random net still tells these faces apart: the comparison is not between constants
    unit = want / np.linalg.norm(want, axis=1, keepdims=True)
    assert (unit @ unit.T)[np.triu_indices(3, 1)].max() < 0.999
    one, five = _ort_embed(out, batch[:1]), _ort_embed(out, batch)
    assert one.shape == (1, 512) and five.shape == (5, 512)
    assert np.abs(five - _torch_embed(model, batch)).max() <= 1e-4
    assert np.abs(one[0] - five[0]).max() <= 1e-4


def test_facevault_preprocessing_is_adafaces_to_input(aligned, adaface_spec):
    """AdaFace's inference.to_input (README): BGR, ((x / 255.) - 0.5) / 0.5, CHW, float32."""
    from PIL import Image

    from facevault.faces.embed.onnx import preprocess

    def to_input(pil_rgb_image: Image.Image) -> np.ndarray:
        np_img = np.array(pil_rgb_image)
        brg_img = ((np_img[:, :, ::-1] / 255.0) - 0.5) / 0.5
        return np.array([brg_img.transpose(2, 0, 1)]).astype(np.float32)  # torch.tensor(...).float()

    for chip in aligned[:2]:
        ours = preprocess([chip], adaface_spec)
        theirs = to_input(Image.fromarray(chip))
        assert ours.shape == theirs.shape == (1, 3, 112, 112)
        assert np.abs(ours - theirs).max() < 1e-6
        assert np.abs(ours - theirs[:, ::-1]).max() > 0.1  # channel order matters on this face


def test_ingest_with_exported_ir18(exported, tmp_path, monkeypatch):
    import facevault
    from facevault.core import settings as config
    from facevault.faces.embed.onnx import preprocess
    from facevault.faces.imageio import load
    from facevault.faces.pipeline import build_pipeline
    from facevault.zoo import registry

    _, model, out = exported
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copyfile(out, weights / registry.model("adaface-ir18").weights[0])  # sha256 None: any file is accepted
    monkeypatch.setenv("FACEVAULT_WEIGHTS", str(weights))

    summary = run_cli("ingest", str(DATA), "--model", "adaface-ir18", "--json")
    assert summary["embedded"] == 48
    with facevault.open() as vault:
        stored = vault.vectors(model="adaface-ir18")
    assert len(stored) == 48 and stored.matrix.shape == (48, 512)
    assert np.allclose(np.linalg.norm(stored.matrix, axis=1), 1.0, atol=1e-5)

    # a stored vector is the network's output on facevault's aligned, AdaFace-preprocessed chip
    pipe = build_pipeline(registry.space("adaface-ir18", config.DEFAULT_DETECTOR), str(weights))
    rows = stored.by_path()
    for rel in FACES[:2]:
        rgb = load(DATA / rel).rgb
        result = pipe.process_file(DATA / rel, "x")
        chip = pipe.aligner.align(rgb, result.faces[result.subject])
        raw = _torch_embed(model, preprocess([chip], pipe.recognizer.spec))[0]
        i = rows[rel]
        assert np.abs(stored.matrix[i] - raw / np.linalg.norm(raw)).max() < 1e-5
        assert stored.norms[i] == pytest.approx(np.linalg.norm(raw), rel=1e-4)


def test_the_cli_subcommand_exports_and_checks(exported, tmp_path):
    """`facevault weights export-adaface CKPT OUT --arch ir_18`: the same file, the check and where it goes."""
    _, _, out = exported
    again = tmp_path / "cli.onnx"
    result = run_cli("weights", "export-adaface", str(out.with_suffix(".ckpt")), str(again), "--arch", "ir_18")
    assert again.is_file() and "max abs diff" in result.output and "adaface-ir18" in result.output
    assert str(tmp_path / "weights") in result.output  # the folder it names is the weights folder
    bad = run_cli("weights", "export-adaface", str(out.with_suffix(".ckpt")), str(tmp_path / "x.onnx"),
                  "--arch", "ir_50", expect=1)
    lines = [ln for ln in bad.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "check --arch" in lines[0], bad.output


def test_without_torch_it_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    """Runs everywhere: torch is hidden, and the export refuses in one line that says what to install."""
    monkeypatch.setitem(sys.modules, "torch", None)
    ckpt = tmp_path / "a.ckpt"
    ckpt.write_bytes(b"not used")
    result = run_cli("weights", "export-adaface", str(ckpt), str(tmp_path / "a.onnx"), expect=1)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: torch is not installed"), result.output
    assert "facevault[export]" in lines[0] and "whl/cpu" in lines[0]
    from facevault.weights import export_adaface

    assert export_adaface.main([str(ckpt), str(tmp_path / "a.onnx")]) == 2
    assert not (tmp_path / "a.onnx").exists()
