"""Evaluation protocols: which image pairs to compare, with labels and folds.

- LFW `pairs.txt` (its own 10 folds): `name n1 n2` same, `name1 n1 name2 n2` different;
  `name n` is the image `name/name_000n.jpg` of the ingested dataset.
- deepface-style CSV `file_x,file_y,Decision` (Yes/No), or a plain `a,b,label` list (1/0, true/false, same/different).
- `sample`: N seeded same-identity and N different-identity pairs from the catalog, in K folds.
- `all`: every pair of the stored vectors (scored from histograms in facevault.services.evaluate.evaluate_all).
- `identify`: a seeded gallery/probe split per identity (facevault.evaluation.identification).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facevault.core.errors import ProtocolError
from facevault.core.types import identity_groups
from facevault.evaluation.accuracy import assign_folds


@dataclass
class Pairs:
    a: list[str]
    b: list[str]
    labels: np.ndarray  # bool
    folds: np.ndarray  # int
    name: str

    def __len__(self) -> int:
        return len(self.a)


def _lfw_path(name: str, n: str) -> str:
    return f"{name}/{name}_{int(n):04d}.jpg"


def _read_text(path: Path) -> str:
    """The file as text; a binary or non-UTF-8 file is a ProtocolError, not a UnicodeDecodeError."""
    data = Path(path).read_bytes()
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, data.index(b"\x00"), data.index(b"\x00") + 1, "NUL byte")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProtocolError(f"{path} is not a text pairs file (LFW pairs.txt, or a file_a,file_b,label CSV)") from None


def read_lfw_pairs(path: Path) -> Pairs:
    lines = [ln.split() for ln in _read_text(path).splitlines() if ln.strip()]
    if not lines:
        raise ProtocolError(f"{path} is empty")
    header, body = lines[0], lines[1:]
    usage = f"{path}: first line should be '<folds> <pairs per fold>' or '<pairs>', got {' '.join(header)[:60]!r}"
    if len(header) not in (1, 2) or not all(h.isdigit() for h in header):
        raise ProtocolError(usage)
    if len(header) == 2:  # View 2: "10 300", folds of 300 same then 300 different
        n_folds, per = int(header[0]), int(header[1])
    else:  # View 1: "1100", same then different, no folds of its own
        n_folds, per = 1, int(header[0])
    if n_folds < 1:
        raise ProtocolError(usage)
    a, b, lab, folds = [], [], [], []
    for i, row in enumerate(body):
        if not all(row[k].isdigit() for k in ((1, 2) if len(row) == 3 else (1, 3) if len(row) == 4 else ())):
            raise ProtocolError(f"{path}:{i + 2}: image numbers should be whole numbers, got {' '.join(row)[:60]!r}")
        if len(row) == 3:
            a.append(_lfw_path(row[0], row[1])); b.append(_lfw_path(row[0], row[2])); lab.append(True)
        elif len(row) == 4:
            a.append(_lfw_path(row[0], row[1])); b.append(_lfw_path(row[2], row[3])); lab.append(False)
        else:
            raise ProtocolError(f"{path}:{i + 2}: expected 3 or 4 fields, got {len(row)}")
        folds.append(min(i // (2 * per), n_folds - 1) if per else 0)
    folds_arr = np.asarray(folds)
    if n_folds < 2:
        folds_arr = assign_folds(len(a), 10, seed=0)
    return Pairs(a, b, np.asarray(lab, bool), folds_arr, f"lfw-pairs:{Path(path).name}")


_TRUE = {"yes", "1", "true", "same", "y", "t"}
_FALSE = {"no", "0", "false", "different", "n", "f"}


def _is_header(row: list[str]) -> bool:
    """A first row is a header when its label is no label value, or when neither of its first two fields names a
    file (no extension), as in `file_a,file_b,same` where `same` also reads as a label."""
    if row[-1].strip().lower() not in _TRUE | _FALSE:
        return True
    return not any("." in c.strip().replace("\\", "/").rsplit("/", 1)[-1] for c in row[:2])


def read_csv_pairs(path: Path, k: int = 10, seed: int = 0) -> Pairs:
    text = _read_text(path)
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r and any(c.strip() for c in r)]
    except csv.Error as exc:
        raise ProtocolError(f"{path}: not a readable CSV ({exc})") from None
    if not rows:
        raise ProtocolError(f"{path} is empty")
    if _is_header(rows[0]):
        rows = rows[1:]
        if not rows:
            raise ProtocolError(f"{path}: no pairs after the header line (expected file_a,file_b,label rows)")
    a, b, lab = [], [], []
    for i, r in enumerate(rows):
        if len(r) < 3:
            raise ProtocolError(f"{path}: row {i + 1} needs file_a,file_b,label")
        v = r[2].strip().lower()
        if v not in _TRUE | _FALSE:
            raise ProtocolError(f"{path}: row {i + 1}: label {r[2]!r} is not yes/no, 1/0 or true/false")
        a.append(r[0].strip().replace("\\", "/")); b.append(r[1].strip().replace("\\", "/")); lab.append(v in _TRUE)
    return Pairs(a, b, np.asarray(lab, bool), assign_folds(len(a), k, seed), f"csv:{Path(path).name}")


def read_pairs_file(path: Path, k: int = 10, seed: int = 0) -> Pairs:
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"pairs file {path} not found")
    first = _read_text(path).lstrip().split("\n", 1)[0]
    if "," in first:
        return read_csv_pairs(path, k, seed)
    return read_lfw_pairs(path)


def sample_pairs(paths: list[str], identities: list[str | None], n: int, seed: int, k: int = 10) -> Pairs:
    """N same and N different pairs, drawn without repeats where the data allows, seeded."""
    rng = np.random.default_rng(seed)
    groups = identity_groups(identities)
    multi = [g for g in groups.values() if len(g) >= 2]
    if not multi or len(groups) < 2:
        raise ProtocolError("sampling needs at least two identities and one identity with two or more faces")
    weights = np.array([len(g) * (len(g) - 1) / 2 for g in multi], float)
    max_same = int(weights.sum())
    n_same = min(n, max_same)
    same: set[tuple[int, int]] = set()
    tries = 0
    while len(same) < n_same and tries < 50 * n_same + 100:
        g = multi[rng.choice(len(multi), p=weights / weights.sum())]
        i, j = rng.choice(len(g), 2, replace=False)
        same.add((min(g[i], g[j]), max(g[i], g[j])))
        tries += 1
    labelled = [i for i, ident in enumerate(identities) if ident is not None]
    diff: set[tuple[int, int]] = set()
    tries = 0
    while len(diff) < n and tries < 50 * n + 100:
        i, j = rng.choice(labelled, 2, replace=False)
        if identities[i] != identities[j]:
            diff.add((min(i, j), max(i, j)))
        tries += 1
    pairs = sorted(same) + sorted(diff)
    labels = np.array([True] * len(same) + [False] * len(diff))
    return Pairs([paths[i] for i, _ in pairs], [paths[j] for _, j in pairs], labels,
                 assign_folds(len(pairs), k, seed), f"sample:{n}:seed{seed}")


PROTOCOLS = ("pairs", "sample", "all", "identify")
DEFAULT_SAMPLE = 3000


def choose_protocol(protocol: str | None, pairs_file: object | None, sample: int | None) -> str:
    """The protocol named, or implied by --pairs-file (pairs) / --sample (sample); conflicts raise ProtocolError."""
    implied = [name for name, given in (("pairs", pairs_file is not None), ("sample", sample is not None)) if given]
    if len(implied) > 1:
        raise ProtocolError("give either --pairs-file FILE or --sample N, not both")
    if protocol is None:
        if not implied:
            raise ProtocolError("choose a protocol: --pairs-file FILE, --sample N, or --protocol all|identify")
        return implied[0]
    if protocol not in PROTOCOLS:
        raise ProtocolError(f"unknown protocol {protocol!r} (valid: {', '.join(PROTOCOLS)})")
    if implied and implied[0] != protocol:
        raise ProtocolError(f"--protocol {protocol} does not take --{'pairs-file' if pairs_file else 'sample'}")
    if protocol == "pairs" and pairs_file is None:
        raise ProtocolError("--protocol pairs needs --pairs-file FILE")
    return protocol


def sample_from_store(known: dict[str, str | None], n: int, seed: int, k: int = 10) -> Pairs:
    """`sample_pairs` over the store's present images (path -> identity), in sorted path order."""
    if n <= 0:
        raise ProtocolError("--sample needs a positive number of pairs")
    names = sorted(known)
    return sample_pairs(names, [known[p] for p in names], n, seed, k)
