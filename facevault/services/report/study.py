"""The study report: the grid of spaces x datasets and, per dataset, the study's own view.

From a `Grid` built with `keep_runs` (each dataset's EvaluationRun with its scores and vectors): the grid as a
heatmap (combination x dataset), a ROC overlay per dataset, and per dataset the identity similarity matrix of
its best space (from stored vectors) and that space's score distributions with the study's mean + 1 std rule
beside the cross-validated threshold. Written as study.html (self-contained), study.md and study.json.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from facevault.core.jsonio import jsonable
from facevault.core.version import __version__
from facevault.evaluation.curves import roc
from facevault.services import plots, similarity
from facevault.services.grid import Grid
from facevault.services.report.html import data_uri

__all__ = ["StudyReport", "build", "write"]


@dataclass
class StudyReport:
    doc: dict
    out: Path
    figures: dict[str, Path] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "dataset"


def _matrix(grid: Grid, metric: str) -> tuple[list[str], np.ndarray]:
    rows = grid.ordered_spaces()
    m = np.full((len(rows), len(grid.datasets)), np.nan)
    for i, sp in enumerate(rows):
        for j, ds in enumerate(grid.datasets):
            c = grid.cell(sp.id, ds)
            if c is not None:
                m[i, j] = c.value(metric)
    return [sp.label for sp in rows], m


def build(grid: Grid, out: Path, top_identities: int = 30) -> StudyReport:
    """Draw every figure into `out/img` and assemble the document (nothing in the store changes)."""
    out = Path(out)
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    rep = StudyReport({}, out)
    labels = {s.id: s.label for s in grid.spaces}
    metric = grid.metric_column
    names, m = _matrix(grid, metric)
    if np.isfinite(m).any():
        rep.figures["grid"] = plots.grid_plot(
            names, grid.datasets, m, img / "grid.png", label=metric, higher_better=metric != "eer",
            title=f"{metric} by combination (model / detector / aligner) and dataset")[0]
    best = grid.best()
    per_dataset = []
    for ds in grid.datasets:
        run = grid.runs.get(ds)
        entry = {"dataset": ds, "protocol": grid.protocols.get(ds), "best": labels.get(best.get(ds))}
        if run is None:
            per_dataset.append(entry)
            continue
        slug = _slug(ds)
        curves = []
        for ev in run.results:
            ok = ~ev.missing
            c = roc(ev.scores[ok], ev.labels[ok])
            curves.append((f"{ev.space}  (AUC {ev.report.auc:.4f})", c.far, c.tar))
        rep.figures[f"roc-{slug}"] = plots.roc_plot(curves, img / f"roc-{slug}.png",
                                                    title=f"ROC on {ds}: every combination")[0]
        ev = run.results[0]  # best first
        r = ev.report
        rep.figures[f"distribution-{slug}"] = plots.distribution_plot(
            ev.scores, ev.labels, img / f"distribution-{slug}.png", threshold=r.threshold,
            threshold_source="cross-validated, best accuracy", title=f"score distributions on {ds} - {ev.space}",
            extra=[("study rule (mean + 1 std)", r.study_threshold)])[0]
        stored = run.vectors.get(ev.space_id)
        sim = None
        if stored is not None and len(stored):
            sim = similarity.compute(stored, top=top_identities, order="cluster", space=ev.space)
            rep.figures[f"similarity-{slug}"] = plots.heatmap_plot(
                sim.names, sim.counts, sim.matrix, img / f"similarity-{slug}.png",
                title=f"mean cosine similarity between identities of {ds}, clustered - {ev.space}", note=sim.note)[0]
        entry.update({
            "space": ev.space, "pairs": r.pairs, "accuracy": r.accuracy, "accuracy_std": r.accuracy_std,
            "threshold": r.threshold, "study_threshold": r.study_threshold, "study_accuracy": r.study_accuracy,
            "identities": sim.names if sim is not None else [],
        })
        per_dataset.append(entry)
    rep.doc = {
        "title": "facevault study report", "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "facevault": __version__, "grid": grid.to_dict(), "datasets": per_dataset,
        "figures": {k: str(v.relative_to(out)) for k, v in rep.figures.items()},
    }
    return rep


def _fmt(c: dict | None, metric: str) -> str:
    if c is None:
        return "-"
    v = c[metric]
    if metric == "accuracy":
        std = "" if c["accuracy_std"] is None else f" ± {100 * c['accuracy_std']:.2f}"
        return f"{100 * v:.2f}%{std}"
    return f"{100 * v:.2f}%" if metric == "eer" else f"{v:.4f}"


def grid_rows(doc: dict) -> tuple[list[str], list[list[str]]]:
    """The grid as a table: one row per space (best mean rank first), one column per dataset."""
    g = doc["grid"]
    metric = g["metric_column"]
    cells = {(c["space_id"], c["dataset"]): c for c in g["cells"]}
    head = ["combination", *g["datasets"], "mean rank"]
    rows = [[s["space"], *[_fmt(cells.get((s["space_id"], ds)), metric) for ds in g["datasets"]],
             "-" if s["mean_rank"] is None else f"{s['mean_rank']:.2f}"] for s in g["spaces"]]
    rows.append(["best", *[g["best"].get(ds) or "-" for ds in g["datasets"]], ""])
    return head, rows


def render_markdown(doc: dict) -> str:
    head, rows = grid_rows(doc)
    o = [f"# {doc['title']}\n", f"facevault {doc['facevault']} · {doc['generated']}\n",
         f"## Grid ({doc['grid']['metric_column']})\n", "| " + " | ".join(head) + " |",
         "|" + "---|" * len(head)]
    o += ["| " + " | ".join(r) + " |" for r in rows]
    o.append("")
    for ds, proto in doc["grid"]["protocols"].items():
        o.append(f"- **{ds}**: {proto}")
    if "grid" in doc["figures"]:
        o.append(f"\n![grid]({doc['figures']['grid']})\n")
    for d in doc["datasets"]:
        slug = _slug(d["dataset"])
        o.append(f"## {d['dataset']}\n")
        if "threshold" in d:
            o.append(f"best: {d['space']} · cross-validated threshold {d['threshold']:.4f} · study rule "
                     f"(mean + 1 std) {d['study_threshold']:.4f} ({100 * d['study_accuracy']:.2f}% on all pairs)\n")
        for kind in ("roc", "distribution", "similarity"):
            key = f"{kind}-{slug}"
            if key in doc["figures"]:
                o.append(f"![{kind}]({doc['figures'][key]})\n")
    return "\n".join(o) + "\n"


def render_html(doc: dict, out: Path) -> str:
    e = html.escape
    head, rows = grid_rows(doc)
    table = ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
             + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
    fig = lambda key: (f"<img src='{data_uri(out / doc['figures'][key])}' style='max-width:100%'>"
                       if key in doc["figures"] else "")
    parts = [f"<!doctype html><meta charset='utf-8'><title>{e(doc['title'])}</title>",
             ("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}td,th{padding:3px 8px;"
              "border-bottom:1px solid #ddd;text-align:right}td:first-child{text-align:left}</style>"),
             f"<h1>{e(doc['title'])}</h1><p>facevault {e(doc['facevault'])} · {e(doc['generated'])}</p>",
             f"<h2>Grid ({e(doc['grid']['metric_column'])})</h2>", table, "<ul>"]
    parts += [f"<li><b>{e(ds)}</b>: {e(str(p))}</li>" for ds, p in doc["grid"]["protocols"].items()]
    parts += ["</ul>", fig("grid")]
    for d in doc["datasets"]:
        slug = _slug(d["dataset"])
        parts.append(f"<h2>{e(d['dataset'])}</h2>")
        if "threshold" in d:
            parts.append(f"<p>best: {e(d['space'])} · cross-validated threshold {d['threshold']:.4f} · study rule "
                         f"(mean + 1 std) {d['study_threshold']:.4f}</p>")
        parts += [fig(f"{k}-{slug}") for k in ("roc", "distribution", "similarity")]
    return "\n".join(parts) + "\n"


def write(rep: StudyReport) -> dict[str, Path]:
    """study.html, study.md and study.json in the report's folder."""
    paths = {"html": rep.out / "study.html", "md": rep.out / "study.md", "json": rep.out / "study.json"}
    paths["html"].write_text(render_html(rep.doc, rep.out), encoding="utf-8")
    paths["md"].write_text(render_markdown(rep.doc), encoding="utf-8")
    paths["json"].write_text(json.dumps(rep.doc, indent=2, default=jsonable) + "\n", encoding="utf-8")
    return paths

