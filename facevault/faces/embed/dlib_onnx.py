"""dlib's ResNet as an ONNX graph, converted from dlib's own weights file, so onnxruntime runs it.

The `dlib-bin` wheel runs the network without BLAS (~75-90 ms a chip on one core here); onnxruntime runs the
same weights in ~3 ms. Nothing is downloaded: the graph is built from `dlib_face_recognition_resnet_model_v1.dat`
(the file dlib itself loads), and checked against dlib on a test chip before it is used.

What is read (dlib's serialization of `anet_type` in dlib's dnn_face_recognition_ex.cpp): after the input layer
(`input_rgb_image_sized`: per-channel means, then 150 x 150), each layer's details in order from the input out:
`con_4` (a tensor of filters then biases, the filter count, size, strides and paddings), `affine_` (gamma then
beta per channel), `relu_`, `max_pool_2` / `avg_pool_2` (size, strides, paddings; 0 x 0 pools everything),
`add_prev_` and `fc_2` (outputs, inputs, the weights as inputs x outputs). Tensors are dlib's version 2: four
ints, then little-endian float32. Between layers, dlib writes flags and empty tensors that are skipped. Tag and
skip layers write no details: the residual wiring is dlib's architecture (`ares` / `ares_down` blocks: two 3x3
convolutions with affine layers, the block's input added back, average-pooled 2x2 in a down block; a sum of
tensors of different shapes is zero-padded at the end, as dlib's `add_prev_` does).

The converted graph is cached in the per-user cache folder under a key of the weights file (real path, size,
modification time) and this module's `VERSION`, with a sha256 sidecar; it takes RGB values (0-255, float32, N x 3 x 150 x 150) and subtracts dlib's means and divides by 256
inside. A file whose layout is not the one described raises WeightsError (the caller falls back to dlib).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from facevault.core import paths
from facevault.core.errors import WeightsError

log = logging.getLogger(__name__)

VERSION = 1  # of the conversion: a new one makes new cached graphs
MATCH = 1e-4  # the largest difference from dlib's own descriptor accepted on the test chip
_MARKERS = (b"con_4", b"affine_", b"relu_", b"max_pool_2", b"avg_pool_2", b"add_prev_", b"fc_2")
_GAP = 256  # flags and empty tensors between two layers' details never take more bytes than this


class _Reader:
    """dlib's serialization: an int is one byte (its length, 0x80 when negative) and that many little-endian
    bytes; a string is an int length and its bytes; a float an int mantissa and an int exponent."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def int(self) -> int:
        head = self.data[self.pos]
        n = head & 0x7F
        value = int.from_bytes(self.data[self.pos + 1: self.pos + 1 + n], "little")
        self.pos += 1 + n
        return -value if head & 0x80 else value

    def str(self) -> bytes:
        n = self.int()
        value = self.data[self.pos: self.pos + n]
        self.pos += n
        return value

    def float(self) -> float:
        mantissa = self.int()
        return float(mantissa) * 2.0 ** self.int()

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise WeightsError(f"dlib tensor version {version}; this converter reads version 2")
        n, k, nr, nc = self.int(), self.int(), self.int(), self.int()
        size = n * k * nr * nc
        if size < 0 or self.pos + 4 * size > len(self.data):
            raise WeightsError("a dlib tensor runs past the end of the file")
        out = np.frombuffer(self.data, "<f4", size, self.pos).astype(np.float32)
        self.pos += 4 * size
        return out


def read_layers(data: bytes) -> tuple[list[float], tuple[int, int], list[tuple]]:
    """(input means, input size, layers from the input out) of a serialized dlib ResNet; WeightsError when the
    bytes are not one."""
    try:
        return _read_layers(data)
    except (IndexError, ValueError) as exc:  # a file cut short or garbled inside a value
        raise WeightsError(f"not a readable dlib network ({type(exc).__name__}: {exc})") from None


def _read_layers(data: bytes) -> tuple[list[float], tuple[int, int], list[tuple]]:
    start = data.find(b"\x01\x15input_rgb_image_sized")
    if start < 0:
        raise WeightsError("not a dlib network with an input_rgb_image_sized input")
    r = _Reader(data, start)
    r.str()
    means = [r.float() for _ in range(3)]
    size = (r.int(), r.int())
    layers: list[tuple] = []
    while r.pos < len(data):
        window = data[r.pos: r.pos + _GAP + 16]
        found = [(window.find(bytes([1, len(m)]) + m), m) for m in _MARKERS]
        found = [(at, m) for at, m in found if at >= 0]
        if not found:
            break
        at, _ = min(found)
        r.pos += at
        name = r.str()
        if name == b"con_4":
            params = r.tensor()
            nf, kr, kc, sy, sx, py, px = (r.int() for _ in range(7))
            layers.append(("con", params, nf, kr, kc, sy, sx, py, px))
        elif name == b"affine_":
            layers.append(("affine", r.tensor()))
        elif name in (b"max_pool_2", b"avg_pool_2"):
            layers.append((name.decode()[:8],) + tuple(r.int() for _ in range(6)))
        elif name == b"fc_2":
            n_out, n_in = r.int(), r.int()
            layers.append(("fc", r.tensor(), n_out, n_in))
        else:
            layers.append((name.decode().rstrip("_"),))
    if len(data) - r.pos > _GAP:
        raise WeightsError(f"{len(data) - r.pos} bytes left unread after the last layer")
    if not layers or layers[-1][0] != "fc":
        raise WeightsError("no fc layer at the end of the network")
    return means, size, layers


def build_graph(means: list[float], size: tuple[int, int], layers: list[tuple]) -> Any:
    """The ONNX model (opset 17) of these layers, wired as dlib's ResNet is (see the module doc)."""
    from facevault.core.optional import require

    onnx = require("onnx", "to convert dlib's ResNet for onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    count = [0]

    def fresh(prefix: str) -> str:
        count[0] += 1
        return f"{prefix}{count[0]}"

    def const(array: np.ndarray, prefix: str) -> str:
        name = fresh(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = fresh(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def out_size(n: int, k: int, stride: int, pad: int) -> int:
        return (n + 2 * pad - k) // stride + 1

    x = node("Sub", ["image", const(np.asarray(means, np.float32).reshape(1, 3, 1, 1), "means")])
    x = node("Mul", [x, const(np.asarray([1 / 256.0], np.float32), "scale")])
    shape = [3, size[0], size[1]]
    block_in = block_in_shape = block_out = block_out_shape = None
    prev = prevprev = "input"
    for layer in layers:
        kind = layer[0]
        if kind == "con":
            _, params, nf, kr, kc, sy, sx, py, px = layer
            n_w = nf * shape[0] * kr * kc
            if params.size != n_w + nf:
                raise WeightsError(f"a con_ layer holds {params.size} values, expected {n_w + nf}")
            if prev == "max_pool" or (prev == "relu" and prevprev == "add_prev"):  # a residual block starts
                block_in, block_in_shape = x, list(shape)
            x = node("Conv", [x, const(params[:n_w].reshape(nf, shape[0], kr, kc), "w"), const(params[n_w:], "b")],
                     kernel_shape=[kr, kc], strides=[sy, sx], pads=[py, px, py, px])
            shape = [nf, out_size(shape[1], kr, sy, py), out_size(shape[2], kc, sx, px)]
        elif kind == "affine":
            k = shape[0]
            if layer[1].size != 2 * k:
                raise WeightsError(f"an affine_ layer holds {layer[1].size} values for {k} channels")
            x = node("Mul", [x, const(layer[1][:k].reshape(1, k, 1, 1), "gamma")])
            x = node("Add", [x, const(layer[1][k:].reshape(1, k, 1, 1), "beta")])
        elif kind == "relu":
            x = node("Relu", [x])
        elif kind == "max_pool":
            _, kr, kc, sy, sx, py, px = layer
            x = node("MaxPool", [x], kernel_shape=[kr, kc], strides=[sy, sx], pads=[py, px, py, px])
            shape = [shape[0], out_size(shape[1], kr, sy, py), out_size(shape[2], kc, sx, px)]
        elif kind == "avg_pool" and layer[1] == 0 and layer[2] == 0:  # avg_pool_everything
            x = node("GlobalAveragePool", [x])
            shape = [shape[0], 1, 1]
        elif kind == "avg_pool":  # a down block's shortcut: its input, pooled
            if block_in is None:
                raise WeightsError("an avg_pool_ shortcut outside a residual block")
            _, kr, kc, sy, sx, py, px = layer
            block_out, block_out_shape = x, list(shape)
            x = node("AveragePool", [block_in], kernel_shape=[kr, kc], strides=[sy, sx], pads=[py, px, py, px])
            shape = [block_in_shape[0], out_size(block_in_shape[1], kr, sy, py), out_size(block_in_shape[2], kc, sx, px)]
        elif kind == "add_prev":
            other, other_shape = (block_out, block_out_shape) if prev == "avg_pool" else (block_in, block_in_shape)
            if other is None:
                raise WeightsError("an add_prev_ layer outside a residual block")
            full = [max(a, b) for a, b in zip(shape, other_shape)]
            pair = []
            for t, s in ((x, shape), (other, other_shape)):
                if s != full:  # zero-padded at the end of channels, rows and columns, as dlib adds them
                    pads = np.asarray([0, 0, 0, 0, 0, full[0] - s[0], full[1] - s[1], full[2] - s[2]], np.int64)
                    t = node("Pad", [t, const(pads, "pads")], mode="constant")
                pair.append(t)
            x = node("Add", pair)
            shape = full
        elif kind == "fc":
            _, params, n_out, n_in = layer
            if params.size != n_out * n_in or n_in != int(np.prod(shape)):
                raise WeightsError(f"an fc_ layer of {params.size} values for {n_in} -> {n_out}")
            x = node("Flatten", [x])
            nodes.append(helper.make_node("MatMul", [x, const(params.reshape(n_in, n_out), "fc")], ["embedding"]))
        else:
            raise WeightsError(f"a {kind} layer, which this converter does not know")
        prevprev, prev = prev, kind
    graph = helper.make_graph(nodes, "dlib_resnet", [helper.make_tensor_value_info(
        "image", TensorProto.FLOAT, ["n", 3, size[0], size[1]])], [helper.make_tensor_value_info(
        "embedding", TensorProto.FLOAT, ["n", layers[-1][2]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="facevault")
    model.ir_version = min(model.ir_version, 8)  # readable by onnxruntime >= 1.15
    onnx.checker.check_model(model)
    return model


def test_chip(size: int = 150) -> np.ndarray:
    """A deterministic RGB chip (smooth gradients and a pattern) both engines embed to check a conversion."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    rgb = np.stack([128 + 100 * np.sin(6 * xx + 2 * yy), 128 + 90 * np.cos(5 * yy - 3 * xx),
                    255 * (xx * yy)], axis=-1)
    return np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8))


def nchw(chips: list[np.ndarray]) -> np.ndarray:
    """uint8 RGB HxWx3 chips -> the graph's float32 N x 3 x H x W input."""
    return np.ascontiguousarray(np.stack([np.asarray(c) for c in chips]).transpose(0, 3, 1, 2), dtype=np.float32)


def cached_graph(dat_path: Path, dlib_net: Any | None = None) -> bytes:
    """The converted graph of this weights file (the serialized ONNX model: the cached copy, read and checked
    once, is handed to onnxruntime as bytes), made once and checked against dlib (`dlib_net`, loaded here when
    not given) on `test_chip()`; WeightsError when it cannot be made or does not match. When the cache cannot be
    written, the graph is converted at every start. The cache key is the weights file's real path, size
    and modification time: the cached graph's own sha256 is checked at every start (~12 ms for 22 MB), hashing
    the weights file too would double that."""
    import hashlib

    st = os.stat(dat_path)
    key = hashlib.sha256(f"{os.path.realpath(dat_path)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    path = paths.user_cache_dir() / f"dlib-resnet-{key}-onnx{VERSION}.onnx"
    cached = paths.read_cached(path)
    if cached is not None:
        return cached
    means, size, layers = read_layers(Path(dat_path).read_bytes())
    data = build_graph(means, size, layers).SerializeToString()
    import onnxruntime as ort

    if dlib_net is None:
        import dlib

        dlib_net = dlib.face_recognition_model_v1(str(dat_path))
    chip = test_chip(size[0])
    want = np.asarray(dlib_net.compute_face_descriptor([chip]), dtype=np.float32).reshape(1, -1)
    got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"image": nchw([chip])})[0]
    diff = float(np.abs(got - want).max())
    if not diff < MATCH:
        raise WeightsError(f"the converted dlib ResNet differs from dlib by {diff:.2g} on the test chip")
    log.info("converted dlib's ResNet for onnxruntime (max difference from dlib %.1e): %s", diff, path)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    try:
        paths.write_cached(path, write)
    except OSError as exc:
        log.debug("cannot cache the converted dlib ResNet at %s (%s): converting at every start", path, exc)
    return data
