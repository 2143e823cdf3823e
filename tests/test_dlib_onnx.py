"""dlib's ResNet converted from dlib's own weights file to an ONNX graph: the same descriptors as dlib on real
faces, cached once, and dlib itself whenever the conversion cannot be used."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA, run_cli

from facevault.core.errors import FacevaultError, WeightsError
from facevault.faces import imageio
from facevault.faces.embed import dlib_onnx
from facevault.faces.embed.dlib import DlibResNet
from facevault.faces.pipeline import build_pipeline
from facevault.zoo import registry


@pytest.fixture(scope="module")
def chips() -> list[np.ndarray]:
    """The 48 subject chips of tests/data/lfw, aligned as the default space aligns them."""
    pipe = build_pipeline(registry.space("dlib", "dlib-hog"))
    out = []
    for f in sorted(DATA.glob("*/*.jpg")):
        rgb = imageio.load(f).rgb
        out.append(pipe.aligner.align(rgb, pipe.faces(rgb)[0]))
    return out


def test_onnxruntime_gives_dlibs_descriptors_on_real_faces(chips, monkeypatch):
    fast = DlibResNet()
    assert fast.engine.startswith("onnxruntime")
    monkeypatch.setenv("FACEVAULT_DLIB_ENGINE", "dlib")
    slow = DlibResNet()
    assert slow.engine == "dlib"
    a, b = fast.forward(chips), slow.forward(chips)
    assert a.shape == b.shape == (48, 128)
    assert np.abs(a - b).max() < 1e-5  # float rounding only (~4e-7 measured)
    monkeypatch.setenv("FACEVAULT_DLIB_ENGINE", "auto")
    flip_a = DlibResNet(flip=True).forward(chips[:4])
    assert np.abs(flip_a - DlibResNet(flip=True).forward(chips[:4])).max() == 0  # one engine: the same bits
    assert np.abs(flip_a - a[:4]).max() > 1e-3  # the mirror's descriptor is in the mean
    # a face's descriptor does not depend on the batch it was computed in (a store's vectors stay exact)
    one_by_one = np.concatenate([fast.forward([c]) for c in chips[:6]])
    assert np.array_equal(one_by_one, a[:6])


def test_the_graph_is_cached_and_a_damaged_cache_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEVAULT_CACHE", str(tmp_path / "cache"))
    DlibResNet()
    (made,) = (tmp_path / "cache").glob("dlib-resnet-*.onnx")
    assert made.with_name(made.name + ".sha256").is_file()

    def never(data):
        raise AssertionError("converted again")

    real = dlib_onnx.read_layers
    monkeypatch.setattr(dlib_onnx, "read_layers", never)
    assert DlibResNet().engine.startswith("onnxruntime")  # from the cache
    made.write_bytes(b"garbage")
    monkeypatch.setattr(dlib_onnx, "read_layers", real)
    assert DlibResNet().engine.startswith("onnxruntime") and made.stat().st_size > 20_000_000
    assert list((tmp_path / "cache").glob("dlib-resnet-*.onnx")) == [made]


def test_dlib_runs_it_when_the_conversion_cannot_be_used(tmp_path, monkeypatch, chips):
    monkeypatch.setenv("FACEVAULT_CACHE", str(tmp_path / "cache"))

    def broken(*args):
        raise WeightsError("the converted dlib ResNet differs from dlib by 0.3 on the test chip")

    monkeypatch.setattr(dlib_onnx, "build_graph", broken)
    fallback = DlibResNet()
    assert fallback.engine == "dlib" and fallback.forward(chips[:2]).shape == (2, 128)
    monkeypatch.setenv("FACEVAULT_DLIB_ENGINE", "onnx")
    with pytest.raises(WeightsError, match="cannot run on onnxruntime: the converted dlib ResNet differs"):
        DlibResNet()
    monkeypatch.setenv("FACEVAULT_DLIB_ENGINE", "fast")
    with pytest.raises(FacevaultError, match="FACEVAULT_DLIB_ENGINE='fast'"):
        DlibResNet()
    r = run_cli("ingest", str(DATA), expect=1)
    assert "FACEVAULT_DLIB_ENGINE='fast': valid values are auto, onnx, dlib" in r.output


def test_a_file_that_is_not_the_expected_network_is_refused(tmp_path):
    from facevault.weights import locate

    data = locate.dlib_file("dlib-resnet", None).read_bytes()
    cut_in_a_value = data[: data.index(b"con_4") + 7]  # ends inside the first tensor's header
    for bad in (data[: len(data) // 2], b"not a dlib network", data.replace(b"fc_2", b"fc_9"), cut_in_a_value):
        with pytest.raises(WeightsError):
            dlib_onnx.build_graph(*dlib_onnx.read_layers(bad))
