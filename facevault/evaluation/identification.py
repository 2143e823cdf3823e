"""Closed- and open-set identification from stored vectors, with a seeded gallery/probe split.

Closed set: every identity with at least G+1 faces puts G seeded faces in the gallery; its other faces are
probes. A probe's similarity to an identity is the MAXIMUM over that identity's gallery faces; its rank is the
number of gallery identities scoring at least as high as its own (ties count against it). CMC(r) is the share
of probes with rank <= r. Identities with fewer than G+1 faces are not used.

Open set: a seeded fraction of those identities is held out of the gallery and all their faces become unknown
probes. A probe is accepted when its best gallery score reaches the threshold; at the threshold giving
FPIR <= f (the share of unknown probes accepted), DIR is the share of known probes both accepted and
identified at rank 1 (among the known identities).

The gallery search is exact: blocked matrix products of probes against gallery faces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from facevault.core.errors import ProtocolError
from facevault.core.types import StoredVectors, identity_groups
from facevault.evaluation.bootstrap import bootstrap_proportion_ci
from facevault.evaluation.metric import check_metric, in_metric_units, metric_scores

FPIRS = (0.01, 0.1)


@dataclass(frozen=True)
class OpenSetPoint:
    """DIR at the lowest threshold whose false positive identification rate is <= fpir_target."""

    fpir_target: float
    dir: float | None  # None when there are fewer than 1 / fpir_target unknown probes
    fpir_achieved: float | None
    threshold: float | None  # in the metric's units
    sufficient: bool


@dataclass(frozen=True, eq=False)
class IdentificationReport:
    rank1: float
    rank5: float
    cmc: np.ndarray  # cmc[r - 1] = share of closed-set probes with rank <= r, r = 1..ranks
    rank1_ci: tuple[float, float] | None
    rank5_ci: tuple[float, float] | None
    dir_at_fpir: dict[float, float | None]
    probes: int  # closed-set probes
    gallery: int  # gallery faces
    identities: int  # gallery identities (closed set)
    gallery_per_identity: int = 1
    unknown_identities: int = 0
    known_probes: int = 0
    unknown_probes: int = 0
    open_set: tuple[OpenSetPoint, ...] = ()
    metric: str = "cosine"
    seed: int = 0
    bootstrap: int = 0
    note: str = ""
    probe_ranks: np.ndarray | None = field(default=None, repr=False)  # per closed-set probe, for plots

    def to_dict(self) -> dict:
        """JSON-serialisable dict; dir_at_fpir keys become strings such as "0.01"."""
        return {
            "rank1": self.rank1, "rank5": self.rank5, "cmc": [float(c) for c in self.cmc],
            "rank1_ci": self.rank1_ci, "rank5_ci": self.rank5_ci,
            "dir_at_fpir": {f"{k:g}": v for k, v in self.dir_at_fpir.items()},
            "probes": self.probes, "gallery": self.gallery, "identities": self.identities,
            "gallery_per_identity": self.gallery_per_identity, "unknown_identities": self.unknown_identities,
            "known_probes": self.known_probes, "unknown_probes": self.unknown_probes,
            "open_set": [vars(p).copy() for p in self.open_set], "metric": self.metric, "seed": self.seed,
            "bootstrap": self.bootstrap, "note": self.note,
        }


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _split(identities: list[str | None], g: int, seed: int, unknown_fraction: float):
    """Seeded split: (eligible names, gallery rows identity-major, probe rows, probe identity, unknown mask)."""
    groups = identity_groups(identities)
    eligible = sorted(name for name, rows in groups.items() if len(rows) >= g + 1)
    if len(eligible) < 2:
        raise ProtocolError(f"identification needs at least two identities with {g + 1} or more faces "
                            f"(gallery {g} + one probe); this store has {len(eligible)}")
    rng = np.random.default_rng(seed)
    gallery, probes, probe_id = [], [], []
    for c, name in enumerate(eligible):
        rows = np.asarray(groups[name])
        perm = rng.permutation(len(rows))
        gallery.extend(rows[perm[:g]])
        probes.extend(rows[perm[g:]])
        probe_id.extend([c] * (len(rows) - g))
    n = len(eligible)
    n_unknown = 0
    if unknown_fraction > 0:
        n_unknown = min(max(int(round(unknown_fraction * n)), 1), n - 1)
    unknown = np.zeros(n, bool)
    unknown[rng.choice(n, n_unknown, replace=False)] = True
    return eligible, np.asarray(gallery), np.asarray(probes, np.int64), np.asarray(probe_id, np.int64), unknown


def _scores(stored: StoredVectors, rows: np.ndarray, gal: np.ndarray, metric: str) -> np.ndarray:
    cos = stored.matrix[rows] @ stored.matrix[gal].T
    if metric != "euclidean":
        return metric_scores(cos, metric)
    norms = stored.norms if stored.norms is not None else np.full(len(stored), np.nan)
    try:
        return metric_scores(cos, metric, norms[rows][:, None], norms[gal][None, :])
    except ValueError:
        raise ProtocolError("euclidean distance is unavailable: this space's vectors were stored without their raw "
                            "norms (use --metric euclidean_l2 or cosine)") from None


def _open_point(unknown_best: np.ndarray, known_score: np.ndarray, known_hit: np.ndarray, f: float,
                metric: str) -> OpenSetPoint:
    n_u = len(unknown_best)
    if n_u < math.ceil(1.0 / f - 1e-9) or len(known_score) == 0:
        return OpenSetPoint(f, None, None, None, False)
    allowed = math.floor(f * n_u + 1e-9)
    v = np.sort(unknown_best)[::-1][allowed]  # accept scores above the (allowed + 1)-th highest unknown
    dir_ = float(np.mean(known_hit & (known_score > v)))
    thr = float(np.nextafter(v, np.inf))
    return OpenSetPoint(f, dir_, float(np.mean(unknown_best > v)), in_metric_units(thr, metric), True)


def identify(
    stored: StoredVectors,
    gallery_per_identity: int = 1,
    seed: int = 0,
    unknown_fraction: float = 0.1,
    ranks: int = 20,
    bootstrap: int = 1000,
    *,
    metric: str = "cosine",
    fpirs: tuple[float, ...] = FPIRS,
    block: int = 2048,
) -> IdentificationReport:
    """Rank-1/rank-5 with bootstrap CIs (resampling probes), CMC for ranks 1..`ranks`, and DIR at each FPIR."""
    check_metric(metric)
    g = int(gallery_per_identity)
    if g < 1:
        raise ProtocolError("--gallery-per-identity must be at least 1")
    if not 0.0 <= unknown_fraction < 1.0:
        raise ProtocolError("--unknown-fraction must be in [0, 1)")
    if ranks < 1:
        raise ProtocolError("ranks must be at least 1")
    for f in fpirs:
        if not 0.0 < f < 1.0:
            raise ProtocolError(f"FPIR targets must be in (0, 1), got {f}")
    eligible, gal, probes, probe_id, unknown = _split(stored.identities, g, seed, unknown_fraction)
    n_id = len(eligible)
    # open-set extra probes: the gallery faces of the held-out identities
    held = np.flatnonzero(unknown)
    extra = gal.reshape(n_id, g)[held].ravel()
    rows = np.r_[probes, extra].astype(np.int64)
    ids = np.r_[probe_id, np.repeat(held, g)].astype(np.int64)
    closed = np.r_[np.ones(len(probes), bool), np.zeros(len(extra), bool)]
    rank = np.zeros(len(rows), np.int64)
    best_known = np.zeros(len(rows))
    hit_known = np.zeros(len(rows), bool)
    true_score = np.zeros(len(rows))
    known_cols = ~unknown
    for r0 in range(0, len(rows), block):
        r1 = min(r0 + block, len(rows))
        s = _scores(stored, rows[r0:r1], gal, metric).reshape(r1 - r0, n_id, g).max(axis=2)
        t = s[np.arange(r1 - r0), ids[r0:r1]]
        rank[r0:r1] = (s >= t[:, None]).sum(axis=1)
        sk = np.where(known_cols[None, :], s, -np.inf)
        best_known[r0:r1] = sk.max(axis=1)
        hit_known[r0:r1] = (sk >= t[:, None]).sum(axis=1) == 1  # only meaningful for known probes
        true_score[r0:r1] = t
    rk = rank[closed]
    n_p = len(rk)
    cmc = np.cumsum(np.bincount(np.minimum(rk, ranks + 1), minlength=ranks + 2)[1:ranks + 1]) / n_p
    k1, k5 = int(np.sum(rk <= 1)), int(np.sum(rk <= 5))
    is_known = closed & known_cols[ids]
    is_unknown = ~is_known
    points = tuple(_open_point(best_known[is_unknown], true_score[is_known], hit_known[is_known], f, metric)
                   for f in fpirs)
    rule = "max cosine" if metric == "cosine" else f"max similarity (-{metric} distance)"
    note = (f"closed set: {n_id} identities with >= {g + 1} faces, {g} seeded gallery face(s) each, the rest probes; "
            f"probe-to-identity similarity = {rule} over the identity's gallery faces; ties count against the probe; "
            f"open set: {int(unknown.sum())} seeded identities held out of the gallery, all their faces "
            "unknown probes; "
            + (f"95% CIs: percentile bootstrap, {bootstrap} resamples of the probes" if bootstrap > 0 else "no CIs"))
    return IdentificationReport(
        rank1=k1 / n_p, rank5=k5 / n_p, cmc=_read_only(cmc.astype(float)),
        rank1_ci=bootstrap_proportion_ci(k1, n_p, bootstrap, seed),
        rank5_ci=bootstrap_proportion_ci(k5, n_p, bootstrap, seed),
        dir_at_fpir={p.fpir_target: p.dir for p in points},
        probes=n_p, gallery=len(gal), identities=n_id, gallery_per_identity=g,
        unknown_identities=int(unknown.sum()), known_probes=int(is_known.sum()),
        unknown_probes=int(is_unknown.sum()), open_set=points, metric=metric, seed=seed,
        bootstrap=max(bootstrap, 0), note=note, probe_ranks=_read_only(rk.copy()),
    )
