"""Export an AdaFace IR checkpoint (PyTorch Lightning `.ckpt`) to ONNX for facevault's `adaface-*` models.

    facevault weights export-adaface adaface_ir101_webface12m.ckpt adaface_ir101_webface12m.onnx --arch ir_101
    python -m facevault.weights.export_adaface adaface_ir101_webface12m.ckpt adaface_ir101_webface12m.onnx
    python -m facevault.weights.export_adaface --random-init ir18.onnx --arch ir_18      # no checkpoint (tests)

Needs torch (the CPU build is enough: pip install torch --index-url https://download.pytorch.org/whl/cpu) and
the `export` extra, onnx (the TorchScript exporter, `dynamo=False`, writes its protobuf with it; onnxscript is
not needed). onnxruntime (the `cpu` or `gpu` extra) checks the result. torch is imported only when this runs.

The network is rebuilt here from the architecture described in the AdaFace paper (Kim, Jain, Liu, CVPR 2022)
and its repository README: the "IR" (improved residual) backbones of ArcFace,
  - stem: conv3x3(3->64) - BN - PReLU, at 112x112;
  - four stages of 64/128/256/512 channels, each opening with a stride-2 unit; a unit is
    BN - conv3x3 - BN - PReLU - conv3x3(stride) - BN, plus a shortcut that is a 1x1 max-pool (subsampling) when
    the channel count is unchanged, else conv1x1(stride) - BN;
  - units per stage: IR-18 2/2/2/2, IR-34 3/4/6/3, IR-50 3/4/14/3, IR-100 (= AdaFace's "ir_101") 3/13/30/3;
  - output: BN2d - Dropout(0.4) - Flatten - Linear(512*7*7, 512) - BatchNorm1d(512, no affine).
Module names follow the published checkpoints (`input_layer`, `body.<i>.res_layer`, `body.<i>.shortcut_layer`,
`output_layer`), so their state dict (keys prefixed `model.`; the `head.` margin weights are dropped) loads
strictly.

Output: AdaFace's network returns (embedding / |embedding|, |embedding|). The ONNX graph returns the embedding
before that division (equal to normalised * norm), so the norm, AdaFace's image-quality proxy, survives;
facevault normalises and stores the norm itself.

Input: Nx3x112x112 float32, BGR, (x/255 - 0.5)/0.5, face aligned to the 112x112 ArcFace 5-point template
(AdaFace README: "our pretrained model takes the input in BGR color channel").
"""

from __future__ import annotations

import argparse
import logging
import pickle
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facevault.core.errors import FacevaultError
from facevault.core.optional import require
from facevault.weights.locate import default_dir, sha256_file

log = logging.getLogger(__name__)

# units per stage; "ir_101" is AdaFace's name for the 100-layer net (IR_101 builds num_layers=100)
UNITS = {
    "ir_18": (2, 2, 2, 2),
    "ir_34": (3, 4, 6, 3),
    "ir_50": (3, 4, 14, 3),
    "ir_100": (3, 13, 30, 3),
    "ir_101": (3, 13, 30, 3),
}
WIDTHS = (64, 128, 256, 512)
EMBEDDING = 512
SIZE = 112

SPEC_LINE = ("input Nx3x112x112 float32 NCHW, BGR, (x/255 - 0.5)/0.5 = (x-127.5)/127.5, aligned to the ArcFace "
             "112x112 5-point template; output 512-d raw embedding (before L2 normalisation)")


def _torch():
    return require("torch", "to export AdaFace to ONNX")


def build_backbone(arch: str) -> Any:
    """AdaFace's IR backbone for `arch` (ir_18/34/50/100/101); forward returns the raw 512-d embedding."""
    torch = _torch()
    nn = torch.nn
    if arch not in UNITS:
        raise ValueError(f"unknown arch {arch!r} (valid: {', '.join(UNITS)})")

    class Unit(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            if cin == cout:
                self.shortcut_layer = nn.MaxPool2d(1, stride)
            else:
                self.shortcut_layer = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            self.res_layer = nn.Sequential(
                nn.BatchNorm2d(cin),
                nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.PReLU(cout),
                nn.Conv2d(cout, cout, 3, stride, 1, bias=False),
                nn.BatchNorm2d(cout),
            )

        def forward(self, x):
            return self.res_layer(x) + self.shortcut_layer(x)

    class IRBackbone(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.arch = arch
            self.input_layer = nn.Sequential(nn.Conv2d(3, WIDTHS[0], 3, 1, 1, bias=False),
                                             nn.BatchNorm2d(WIDTHS[0]), nn.PReLU(WIDTHS[0]))
            units, cin = [], WIDTHS[0]
            for width, count in zip(WIDTHS, UNITS[arch]):
                for i in range(count):
                    units.append(Unit(cin, width, 2 if i == 0 else 1))
                    cin = width
            self.body = nn.Sequential(*units)
            side = SIZE // 16
            self.output_layer = nn.Sequential(
                nn.BatchNorm2d(WIDTHS[-1]),
                nn.Dropout(0.4),
                nn.Flatten(),
                nn.Linear(WIDTHS[-1] * side * side, EMBEDDING),
                nn.BatchNorm1d(EMBEDDING, affine=False),
            )

        def forward(self, x):
            return self.output_layer(self.body(self.input_layer(x)))

        def adaface_outputs(self, x):
            """What AdaFace's own model returns: (embedding / norm, norm)."""
            e = self.forward(x)
            norm = torch.norm(e, 2, 1, True)
            return e / norm, norm

    return IRBackbone()


# ----------------------------------------------------------------------------------------------- checkpoints

class _Inert(dict):
    """Stand-in for any non-torch class in a checkpoint (Lightning's AttributeDict, argparse.Namespace, ...):
    it records what it is given and runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


# the tensor rebuilders torch's own weights_only loader allows (none of them calls a function from the file)
_REBUILDERS = frozenset({"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                         "_rebuild_parameter_with_state"})


def _allowed(module: str, name: str) -> Any | None:
    torch = _torch()
    if module == "collections" and name == "OrderedDict":
        import collections
        return collections.OrderedDict
    if module == "torch._utils" and name in _REBUILDERS:
        return getattr(torch._utils, name, None)
    if module == "torch" and (name.endswith("Storage") or name in ("Size", "device")
                              or isinstance(getattr(torch, name, None), torch.dtype)):
        return getattr(torch, name, None)
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed(module, name)
        if obj is not None:
            return obj
        log.info("checkpoint global %s.%s replaced by an inert stand-in", module, name)
        return type(name, (_Inert,), {})


class _RestrictedPickle:
    """A `pickle_module` for torch.load whose unpickler only resolves torch's tensor/storage rebuilders."""

    Unpickler = _RestrictedUnpickler
    load = staticmethod(lambda f, **kw: _RestrictedUnpickler(f, **kw).load())
    __name__ = "restricted_pickle"


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The backbone state dict of an AdaFace checkpoint: `model.`-prefixed keys, prefix stripped, `head.` dropped.

    Loads with `weights_only=True`; if the file holds other pickled classes (Lightning checkpoints keep their
    hyper-parameters in an AttributeDict), it loads again with an unpickler that resolves only torch's tensor
    rebuilders and replaces every other class by an inert stand-in, so no code from the file runs either way.
    """
    torch = _torch()
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        log.info("torch.load(weights_only=True) refused the file; retrying with the restricted unpickler")
        log.debug("%s", exc)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            ckpt = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickle)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: no state_dict in the checkpoint")
    prefixed = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    if prefixed:
        return prefixed
    return {k: v for k, v in state.items() if not k.startswith("head.")}  # a bare backbone state dict


def load_weights(model: Any, state: dict[str, Any]) -> None:
    """Load strictly; on mismatch name a few missing/unexpected keys (usually a wrong --arch)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        raise ValueError(
            f"checkpoint does not fit {model.arch}: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}), {len(shapes)} with other shapes "
            f"(e.g. {shapes[:3]}); check --arch")
    model.load_state_dict(state, strict=True)


def randomise(model: Any, seed: int = 0, batches: int = 2) -> Any:
    """Random but non-trivial weights: perturbed BN/PReLU parameters and BN running statistics gathered from
    forward passes of random inputs (so every BN carries real mean/var, as a trained net does). Eval mode."""
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model.eval()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.PReLU):
                m.weight.copy_(0.25 + 0.1 * torch.rand(m.weight.shape, generator=gen))
        for bn in bns:
            if bn.affine:
                bn.weight.copy_(0.5 + torch.rand(bn.weight.shape, generator=gen))
                bn.bias.copy_(0.1 * torch.randn(bn.bias.shape, generator=gen))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
            bn.train()
        for _ in range(batches):
            model(torch.rand((4, 3, SIZE, SIZE), generator=gen) * 2 - 1)
        for bn in bns:
            bn.momentum = 0.1
    return model.eval()


# ----------------------------------------------------------------------------------------------- export, check

def export(model: Any, out: str | Path, opset: int = 17) -> Path:
    """Write `model` as ONNX: input "input" Nx3x112x112, output "embedding" Nx512, batch axis dynamic."""
    torch = _torch()
    require("onnx", "by torch's ONNX exporter")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter announces itself
        torch.onnx.export(
            model, (torch.zeros(1, 3, SIZE, SIZE),), str(out),
            input_names=["input"], output_names=["embedding"],
            dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=opset, do_constant_folding=True, dynamo=False,
        )
    return out


def compare(model: Any, onnx_path: str | Path, batch: np.ndarray) -> float:
    """Max |onnxruntime - torch| over `batch` (float32 Nx3x112x112, already preprocessed)."""
    ort = require("onnxruntime", "to check the export")
    torch = _torch()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["embedding"], {"input": batch.astype(np.float32)})[0]
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(batch.astype(np.float32))).numpy()
    if got.shape != want.shape:
        raise ValueError(f"onnxruntime returned {got.shape}, torch {want.shape}")
    return float(np.abs(got - want).max())


def _placement(arch: str, ckpt: str | None) -> list[str]:
    """Where facevault looks for the file, from its registry's adaface entries for this depth."""
    tag = "ir" + ("101" if arch in ("ir_100", "ir_101") else arch[3:])
    try:
        from facevault.zoo import registry
        entries = [e for e in registry.models().values() if e.source == "onnx"
                   and any(w.startswith(f"adaface_{tag}_") for w in e.weights)]
    except Exception as exc:  # a broken registry must not lose a finished export
        log.debug("registry unavailable: %s", exc)
        entries = []
    folder = default_dir()
    stem = Path(ckpt).stem if ckpt else ""
    exact = [e for e in entries if e.weights[0] == f"{stem}.onnx"]
    lines = [f"  --model {e.name}: {folder / e.weights[0]}   ({e.input})" for e in (exact or entries)]
    if not entries:
        lines.append(f"  {folder / f'adaface_{tag}_<dataset>.onnx'}")
    elif stem and not exact:
        lines.append(f"  (facevault names no file {stem}.onnx: for other training data, register the export "
                     "as a user model with the same spec)")
    return lines


@dataclass
class Exported:
    """What `run` did: the ONNX file, how it was checked against torch, and where facevault looks for it."""

    path: Path
    arch: str
    checkpoint: str | None  # None: random weights
    seed: int
    opset: int
    max_diff: float
    tolerance: float
    norms: list[float]
    sha256: str
    placement: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.max_diff <= self.tolerance

    def lines(self) -> list[str]:
        """The report, as the command line prints it."""
        return [
            (f"loaded {self.checkpoint} into {self.arch}" if self.checkpoint
             else f"random {self.arch} (seed {self.seed})"),
            f"wrote {self.path} ({self.path.stat().st_size / 1e6:.1f} MB, opset {self.opset})",
            f"onnxruntime vs torch on a random batch of 4: max abs diff {self.max_diff:.3g} "
            f"(tolerance {self.tolerance:g}; embedding norms {', '.join(f'{n:.2f}' for n in self.norms)})",
            f"sha256 {self.sha256}",
            f"facevault spec: {SPEC_LINE}",
            "place it at (or anywhere in $FACEVAULT_WEIGHTS / --weights DIR):",
            *self.placement,
        ]


class ExportError(FacevaultError):
    """A checkpoint that does not load, or an export that disagrees with torch."""

    kind = "export"


def run(ckpt: str | Path | None, out: str | Path, arch: str = "ir_101", opset: int = 17, seed: int = 0,
        tolerance: float = 1e-4) -> Exported:
    """Export checkpoint `ckpt` (None: random weights, for tests) as ONNX at `out` and check it against torch.

    Raises ExportError for a checkpoint that does not fit `arch`, MissingDependency without torch/onnx. The
    caller decides what a `max_diff` over `tolerance` means (`Exported.ok`).
    """
    if arch not in UNITS:
        raise ExportError(f"unknown arch {arch!r} (valid: {', '.join(UNITS)})")
    torch = _torch()
    torch.manual_seed(seed)  # random init: the same file for the same seed
    model = build_backbone(arch)
    if ckpt is None:
        randomise(model, seed)
    else:
        try:
            load_weights(model, load_checkpoint(ckpt))
        except (ValueError, OSError, pickle.UnpicklingError, RuntimeError) as exc:
            raise ExportError(f"{ckpt}: {' '.join(str(exc).split())}") from None
    model.eval()
    out = export(model, out, opset)
    rng = np.random.default_rng(seed)
    batch = rng.uniform(-1.0, 1.0, (4, 3, SIZE, SIZE)).astype(np.float32)
    diff = compare(model, out, batch)
    with torch.no_grad():
        norms = model(torch.from_numpy(batch)).norm(dim=1).numpy()
    return Exported(out, arch, str(ckpt) if ckpt else None, seed, opset, diff, tolerance,
                    [float(n) for n in norms], sha256_file(out), _placement(arch, str(ckpt) if ckpt else None))


def main(argv: list[str] | None = None) -> int:
    """`python -m facevault.weights.export_adaface`: 0 on success, 1 when ONNX and torch disagree, 2 on errors."""
    p = argparse.ArgumentParser(prog="python -m facevault.weights.export_adaface",
                                description=__doc__.split("\n\n")[0],
                                usage="%(prog)s [options] (CKPT OUT.onnx | --random-init OUT.onnx)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="CKPT OUT.onnx, or OUT.onnx with --random-init")
    p.add_argument("--arch", default="ir_101", choices=sorted(UNITS))
    p.add_argument("--random-init", action="store_true", help="no checkpoint: random weights (for tests)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=1e-4, help="max |onnxruntime - torch| allowed")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if args.random_init != (len(args.paths) == 1) or len(args.paths) > 2:
        p.error("give CKPT OUT.onnx, or --random-init OUT.onnx")
    ckpt, out = (None, Path(args.paths[0])) if args.random_init else (args.paths[0], Path(args.paths[1]))
    try:
        result = run(ckpt, out, args.arch, args.opset, args.seed, args.tolerance)
    except FacevaultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(result.lines()))
    if not result.ok:
        print(f"error: exported model differs from torch by {result.max_diff:.3g} > {result.tolerance:g}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
