"""Evaluation figures: ROC, DET, score distributions, clustered similarity heatmap, CMC.

Every function takes plain arrays and writes PNG or SVG (chosen by the path's suffix, or several with
`formats=("png", "svg")`), returning the paths written. Figures are drawn on matplotlib's Agg canvas
directly, without pyplot, so nothing global (the backend of a caller's notebook, pyplot's figure list)
is touched.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from statistics import NormalDist
from typing import Sequence

import numpy as np

DPI = 120
SAME_COLOUR = "#2a9d4b"
DIFF_COLOUR = "#d1495b"
Curve = tuple[str, np.ndarray, np.ndarray]  # (label, x rates, y rates)
Point = tuple[float, float] | None


# ---------------------------------------------------------------- plumbing
def _figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _colours(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _save(fig, path: str | Path, formats: Sequence[str] | None) -> list[Path]:
    path = Path(path)
    fmts = list(formats) if formats else [path.suffix.lstrip(".").lower() or "png"]
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in fmts:
        if fmt not in ("png", "svg"):
            raise ValueError(f"unsupported figure format {fmt!r} (png or svg)")
        p = path if path.suffix.lower() == f".{fmt}" else path.with_suffix(f".{fmt}")
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(p, format=fmt, dpi=DPI, metadata=meta)
        out.append(p)
    return out


def _style(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)


def _wrap(text: str, width: int = 48) -> str:
    return "\n".join(textwrap.wrap(text, width)) if text else text


# ---------------------------------------------------------------- ROC
def roc_plot(curves: Sequence[Curve], path: str | Path, *, title: str = "ROC: true accepts vs false accepts",
             operating: Sequence[Point] | None = None, formats: Sequence[str] | None = None) -> list[Path]:
    """ROC curves (label, FAR, TAR) overlaid on a log FAR axis; `operating` marks each curve's threshold."""
    if not curves:
        raise ValueError("roc_plot needs at least one curve")
    positive = [np.asarray(far, float)[np.asarray(far, float) > 0] for _, far, _ in curves]
    smallest = min((p.min() for p in positive if len(p)), default=1e-3)
    floor = 10.0 ** math.floor(math.log10(max(smallest, 1e-6)))
    fig, ax = _figure((7.2, 5.2))
    lows = []
    for (label, far, tar), colour in zip(curves, _colours(len(curves))):
        far, tar = np.asarray(far, float), np.asarray(tar, float)
        ax.step(np.maximum(far, floor), tar, where="post", color=colour, lw=1.9, label=label)
        shown = tar[far >= floor]
        lows.append(shown.min() if len(shown) else 0.0)
    for pt, colour in zip(operating or [], _colours(len(curves))):
        if pt is not None:
            ax.plot([max(pt[0], floor)], [pt[1]], "o", ms=7, mfc="white", mec=colour, mew=2, zorder=5)
    xs = np.logspace(math.log10(floor), 0, 100)
    ax.plot(xs, xs, ":", color="grey", lw=1, label="chance")
    if operating and any(p is not None for p in operating):
        ax.plot([], [], "o", mfc="white", mec="black", mew=2, label="at the calibrated threshold")
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(max(0.0, math.floor(min(lows) * 20) / 20 - 0.05), 1.005)
    _style(ax, title, "false accept rate (FAR, log scale): different people accepted",
           "true accept rate (TAR): same person accepted")
    ax.legend(loc="best", fontsize=8.5, framealpha=0.9)
    return _save(fig, path, formats)


# ---------------------------------------------------------------- DET
_DET_TICKS = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6)


def _probit(p: np.ndarray) -> np.ndarray:
    nd = NormalDist()
    return np.array([nd.inv_cdf(float(v)) for v in np.ravel(p)]).reshape(np.shape(p))


def det_plot(curves: Sequence[Curve], path: str | Path, *, title: str = "DET: false rejects vs false accepts",
             operating: Sequence[Point] | None = None, formats: Sequence[str] | None = None) -> list[Path]:
    """DET curves (label, FAR, FRR) on normal-deviate axes (Martin et al. 1997); lower-left is better.

    Rates of exactly 0 are drawn on the axis edge, which is the smallest tick below the smallest
    positive rate (a finite test set cannot resolve lower rates).
    """
    if not curves:
        raise ValueError("det_plot needs at least one curve")
    rates = np.concatenate([np.r_[np.asarray(a, float), np.asarray(b, float)] for _, a, b in curves])
    smallest = rates[rates > 0].min() if (rates > 0).any() else 1e-3
    lo = max([t for t in _DET_TICKS if t <= smallest] or [_DET_TICKS[0]])
    hi = 0.6
    fig, ax = _figure((6.4, 5.6))
    colours = _colours(len(curves))
    for (label, far, frr), colour in zip(curves, colours):
        x = _probit(np.clip(np.asarray(far, float), lo, hi))
        y = _probit(np.clip(np.asarray(frr, float), lo, hi))
        ax.plot(x, y, color=colour, lw=1.9, label=label)
    for pt, colour in zip(operating or [], colours):
        if pt is not None:
            ax.plot(_probit(np.clip([pt[0]], lo, hi)), _probit(np.clip([pt[1]], lo, hi)), "o", ms=7,
                    mfc="white", mec=colour, mew=2, zorder=5)
    edge = _probit(np.array([lo, hi]))
    ax.plot(edge, edge, ":", color="grey", lw=1, label="FAR = FRR (equal error rate)")
    if operating and any(p is not None for p in operating):
        ax.plot([], [], "o", mfc="white", mec="black", mew=2, label="at the calibrated threshold")
    ticks = [t for t in _DET_TICKS if lo <= t <= hi]
    labels = [f"{100 * t:g}%" for t in ticks]
    ax.set_xticks(_probit(np.array(ticks)), labels, fontsize=8)
    ax.set_yticks(_probit(np.array(ticks)), labels, fontsize=8)
    ax.set_xlim(*edge)
    ax.set_ylim(*edge)
    ax.set_aspect("equal")
    _style(ax, title, "false accept rate (FAR, normal deviate scale)", "false reject rate (FRR, normal deviate scale)")
    ax.legend(loc="best", fontsize=8.5, framealpha=0.9)
    return _save(fig, path, formats)


# ---------------------------------------------------------------- score distributions
def distribution_plot(scores: np.ndarray, labels: np.ndarray, path: str | Path, *, threshold: float | None = None,
                      threshold_source: str | None = None, title: str = "score distributions",
                      extra: Sequence[tuple[str, float]] = (), formats: Sequence[str] | None = None) -> list[Path]:
    """Same-person and different-person score densities over shared bins, the threshold marked with its source.

    `extra` draws other candidate thresholds (e.g. the EER threshold, the study's mean + 1 std rule) dotted.
    """
    s = np.asarray(scores, float)
    lab = np.asarray(labels, bool)
    ok = np.isfinite(s)
    s, lab = s[ok], lab[ok]
    if not len(s):
        raise ValueError("distribution_plot needs finite scores")
    edges = np.histogram_bin_edges(s, bins=int(np.clip(np.sqrt(len(s)) * 1.5, 15, 70)))
    fig, ax = _figure((7.2, 4.6))
    for mask, colour, name in ((lab, SAME_COLOUR, "same person"), (~lab, DIFF_COLOUR, "different people")):
        if mask.any():
            ax.hist(s[mask], edges, density=True, histtype="stepfilled", alpha=0.35, color=colour)
            ax.hist(s[mask], edges, density=True, histtype="step", lw=1.6, color=colour,
                    label=f"{name} (n={int(mask.sum())}, mean {s[mask].mean():.3f})")
    top = ax.get_ylim()[1] * 1.12
    ax.set_ylim(0, top)
    for (name, value), style in zip(extra, (":", "-.", (0, (1, 3)))):
        ax.axvline(value, color="#555555", ls=style, lw=1.2, label=f"{name}: {value:.4f}")
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=1.8,
                   label=_wrap(f"threshold {threshold:.4f}" + (f" ({threshold_source})" if threshold_source else "")))
        ax.annotate(f" {threshold:.4f}", (threshold, top * 0.97), fontsize=9, va="top", ha="left", fontweight="bold")
        ax.annotate("different ←", (threshold, top * 0.88), fontsize=8, ha="right", va="top", color=DIFF_COLOUR,
                    xytext=(-4, 0), textcoords="offset points")
        ax.annotate("→ same", (threshold, top * 0.88), fontsize=8, ha="left", va="top", color=SAME_COLOUR,
                    xytext=(4, 0), textcoords="offset points")
    _style(ax, title, "cosine similarity (higher = more alike)", "density")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return _save(fig, path, formats)


# ---------------------------------------------------------------- clustered heatmap
def heatmap_plot(names: Sequence[str], counts: Sequence[int], matrix: np.ndarray, path: str | Path, *,
                 title: str = "mean cosine similarity between identities", note: str = "",
                 formats: Sequence[str] | None = None) -> list[Path]:
    """Identity x identity similarity as drawn (order the rows first, e.g. with
    `facevault.evaluation.similarity.cluster_order`)."""
    m = np.asarray(matrix, float)
    n = len(names)
    size = max(6.0, min(0.3 * n + 3.0, 40.0))
    fig, ax = _figure((size + 1.8, size))
    finite = m[np.isfinite(m)]
    vmin = math.floor((finite.min() if len(finite) else 0.0) * 10) / 10
    im = ax.imshow(np.ma.masked_invalid(m), cmap="viridis", vmin=min(vmin, 0.9), vmax=1.0, interpolation="nearest")
    labels = [f"{name} ({c})" for name, c in zip(names, counts)]
    font = max(5, min(9, int(300 / max(n, 1))))
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    if n <= 16:
        mid = (min(vmin, 0.9) + 1.0) / 2
        for i in range(n):
            for j in range(n):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7.5,
                            color="white" if m[i, j] < mid else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="mean cosine similarity")
    width = int(size * 11)
    lines = [_wrap(title, width), "diagonal: mean over distinct pairs of the same identity; (n) faces"]
    ax.set_title("\n".join(lines + ([_wrap(note, width)] if note else [])), fontsize=9.5, loc="left")
    return _save(fig, path, formats)


# ---------------------------------------------------------------- CMC
def cmc_plot(curves: Sequence[tuple[str, np.ndarray]], path: str | Path, *,
             title: str = "CMC: identification rate by rank", formats: Sequence[str] | None = None) -> list[Path]:
    """Cumulative match characteristic: (label, rate at ranks 1..R) per space; higher and earlier is better."""
    if not curves:
        raise ValueError("cmc_plot needs at least one curve")
    fig, ax = _figure((7.2, 4.6))
    longest = 1
    lows = []
    for (label, cmc), colour in zip(curves, _colours(len(curves))):
        c = np.asarray(cmc, float)
        ranks = np.arange(1, len(c) + 1)
        longest = max(longest, len(c))
        lows.append(c.min() if len(c) else 0.0)
        ax.plot(ranks, c, color=colour, lw=1.9, marker="o" if len(c) <= 25 else None, ms=4,
                label=f"{label} (rank-1 {100 * c[0]:.1f}%)" if len(c) else label)
    ax.set_xlim(0.5, longest + 0.5)
    ax.set_ylim(max(0.0, math.floor(min(lows) * 20) / 20 - 0.05), 1.01)
    if longest <= 25:
        ax.set_xticks(range(1, longest + 1))
    _style(ax, title, "rank (the true identity is among the first k answers)", "identification rate")
    ax.legend(loc="lower right", fontsize=8.5, framealpha=0.9)
    return _save(fig, path, formats)


# ---------------------------------------------------------------- the study grid
def grid_plot(rows: Sequence[str], columns: Sequence[str], values: np.ndarray, path: str | Path, *,
              title: str = "accuracy by combination and dataset", label: str = "accuracy",
              higher_better: bool = True, formats: Sequence[str] | None = None) -> list[Path]:
    """Combination (rows) x dataset (columns) heatmap of one metric, each cell written in; NaN: not evaluated."""
    m = np.asarray(values, float)
    fig, ax = _figure((max(5.0, 1.5 * len(columns) + 4.0), max(2.6, 0.45 * len(rows) + 1.6)))
    cmap = "viridis" if higher_better else "viridis_r"
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(columns)), list(columns), fontsize=9)
    ax.set_yticks(range(len(rows)), list(rows), fontsize=8.5)
    finite = m[np.isfinite(m)]
    mid = (finite.min() + finite.max()) / 2 if len(finite) else 0.0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if np.isfinite(m[i, j]):
                light = (m[i, j] < mid) == higher_better
                ax.text(j, i, f"{m[i, j]:.4f}" if m[i, j] < 1.5 else f"{m[i, j]:.2f}", ha="center", va="center",
                        fontsize=8.5, color="white" if light else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label=label)
    ax.set_title(title, fontsize=10.5, loc="left")
    return _save(fig, path, formats)
