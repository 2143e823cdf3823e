"""The evaluation report: every space of a store compared on one protocol, as HTML, Markdown and JSON.

`build` computes the document (the leaderboard of `facevault.services.evaluate.run`, curves, hardest pairs,
lookalikes, dataset health) from stored vectors, re-decoding only the few images whose aligned faces are
shown, and draws the figures into `out/img`. `write` renders it: `report.html` (self-contained,
`facevault.services.report.html`), `report.md` (`facevault.services.report.markdown`) and `report.json`.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from facevault.core.errors import FacevaultError, NoSpace
from facevault.core.jsonio import jsonable
from facevault.core.types import Detection, SpaceRecord, StoredVectors
from facevault.core.version import __version__
from facevault.evaluation.accuracy import accuracy_at
from facevault.evaluation.curves import roc
from facevault.evaluation.identification import IdentificationReport, identify
from facevault.services import evaluate as evaluate_mod
from facevault.services import health, plots, search, similarity
from facevault.services.evaluate import Evaluation
from facevault.services.protocols import DEFAULT_SAMPLE
from facevault.services.report.html import data_uri, render_html
from facevault.services.report.markdown import render_markdown
from facevault.services.report.sections import EXPLAIN
from facevault.store import Catalog

__all__ = ["DEFAULT_SAMPLE", "Report", "build", "write"]

log = logging.getLogger(__name__)


@dataclass
class Report:
    """The JSON document plus the files it refers to: figures (relative to `out`), and the pages once written."""

    doc: dict
    out: Path
    figures: dict[str, Path] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # html, md, json: set by `write`'s caller

    def data_uri(self, rel: str) -> str:
        return data_uri(self.out / rel)


# ---------------------------------------------------------------- build
def build(catalog: Catalog, out: Path, pairs_file: Path | None = None, sample: int | None = None, seed: int = 0,
          folds: int = 10, top_identities: int = 30, hard_pairs: int = 8, weights_dir: str | None = None,
          datasets: Sequence[str] | None = None) -> Report:
    """Evaluate every space on one protocol (a pairs file, else `sample` seeded pairs, by default
    `DEFAULT_SAMPLE`) over `datasets` (default: all) and draw the figures into `out/img`; nothing in the store
    changes."""
    records = catalog.spaces()
    if not records:
        raise NoSpace("the store holds no embedding space yet (run `facevault ingest DATASET` first)")
    if pairs_file is None and sample is None:
        sample = DEFAULT_SAMPLE
    run = evaluate_mod.run(catalog, records, None, pairs_file=pairs_file, sample=sample, seed=seed, folds=folds,
                           calibrate=False, keep_vectors=True, datasets=datasets)
    out = Path(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    by_id = {r.id: r for r in records}
    by_label = {r.label: r for r in records}
    known = catalog.image_paths(datasets)
    ranked, curves = [], {}
    for rank, ev in enumerate(run.results, 1):
        record, stored = by_id[ev.space_id], run.vectors[ev.space_id]
        thr, source, is_stored = _threshold(record, ev)
        ident = _identification(stored, seed)
        ranked.append({"space": record.label, "space_id": record.id, "model": record.model,
                       "detector": record.detector, "aligner": record.aligner, "dim": record.dim,
                       "images_per_second": record.images_per_second, **ev.to_dict(), "threshold_used": thr,
                       "threshold_source": source, "threshold_stored": is_stored, "at_threshold": _operating(ev, thr),
                       "identification": ident.to_dict() if ident is not None else None,
                       "missing": int(ev.missing.sum()), "rank": rank})
        curves[record.id] = (ev, ident)
    failed = [{"space": label, "space_id": by_label[label].id, "error": why} for label, why in run.skipped]
    rep = Report({}, out)
    _figures(rep, ranked, curves)
    best = ranked[0]
    best_record, best_ev, stored = by_id[best["space_id"]], run.best, run.vectors[best["space_id"]]
    sim = similarity.compute(stored, top=top_identities, order="cluster", space=best_record.label)
    rep.figures["heatmap"] = plots.heatmap_plot(
        sim.names, sim.counts, sim.matrix, out / "img" / "heatmap.png",
        title=f"mean cosine similarity between identities, clustered - {best['space']}", note=sim.note)[0]
    hard = _hardest(best_ev, best["threshold_used"], hard_pairs)
    for pr in hard:
        pr["identity_a"], pr["identity_b"] = known.get(pr["a"]), known.get(pr["b"])
    thumb_note = _thumbnails(catalog, best_record, hard, out, weights_dir, datasets) if hard else None
    pairs = run.pairs
    rep.doc = {
        "title": "facevault evaluation report", "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "facevault": __version__, "summary": _summary(catalog),
        "protocol": {"name": pairs.name, "pairs": len(pairs), "same": int(pairs.labels.sum()),
                     "different": int((~pairs.labels).sum()), "folds": int(len(np.unique(pairs.folds))),
                     "seed": seed if pairs_file is None else None, "file": str(pairs_file) if pairs_file else None},
        "leaderboard": ranked, "failed": failed, "best_space": best["space"],
        "hardest_pairs": hard, "hardest_pairs_note": thumb_note,
        "heatmap": {"space": best["space"], "identities": sim.names, "faces": sim.counts.tolist(), "note": sim.note},
        "lookalikes": _lookalikes(stored, best["threshold_used"]),
        "health": health.check(catalog, best_record, stored=stored, limit=20, datasets=datasets).to_dict(),
        "figures": {k: str(v.relative_to(out)) for k, v in rep.figures.items()},
        "explanations": EXPLAIN,
    }
    return rep


# ---------------------------------------------------------------- sections
def _summary(catalog: Catalog) -> dict:
    stats = catalog.stats()
    multi = catalog.multi_face_counts()
    imgs = stats["images"]
    return {
        "store": str(catalog.settings.store), "dataset_root": catalog.dataset_root(), "datasets": catalog.datasets(),
        "images": sum(v for k, v in imgs.items() if k != "missing"), "images_ok": imgs.get("ok", 0),
        "undecodable": imgs.get("error", 0), "missing_files": imgs.get("missing", 0),
        "identities": stats["identities"],
        "spaces": [{"space": sp.label, "faces": stats["spaces"][sp.id]["vectors"],
                    "no_face": stats["spaces"][sp.id]["scans"].get("no-face", 0),
                    "errors": stats["spaces"][sp.id]["scans"].get("error", 0), "multi_face": multi.get(sp.id, 0)}
                   for sp in catalog.spaces()],
    }


def _threshold(space: SpaceRecord, ev: Evaluation) -> tuple[float, str, bool]:
    """(threshold, where it came from, stored?): the space's calibrated one, else this protocol's."""
    if space.threshold is not None:
        return float(space.threshold), space.threshold_source or "stored with the space", True
    r = ev.report
    return (float(r.threshold), f"{ev.protocol}: best accuracy, mean of {len(r.fold_accuracies)} fold thresholds "
            "(chosen for this report; not stored - run `facevault evaluate` to store one)", False)


def _operating(ev: Evaluation, thr: float) -> dict:
    """Error rates and accuracy of the evaluated pairs at `thr` (missing pairs count as errors)."""
    ok = ~ev.missing
    s, lab = ev.scores[ok], ev.labels[ok]
    fa = int(np.sum((s >= thr) & ~lab))
    fr = int(np.sum((s < thr) & lab)) + int(np.sum(ev.missing & ev.labels))
    neg, pos = int((~ev.labels).sum()), int(ev.labels.sum())
    return {"far": fa / max(neg, 1), "frr": fr / max(pos, 1), "false_accepts": fa, "false_rejects": fr,
            "accuracy": accuracy_at(s, lab, thr, missing=int(ev.missing.sum()))}


def _identification(stored: StoredVectors, seed: int) -> IdentificationReport | None:
    """Closed-set identification (CMC) with one gallery face per identity; None where the store has too few."""
    try:
        return identify(stored, gallery_per_identity=1, seed=seed)
    except (FacevaultError, ValueError) as exc:
        log.info("identification skipped: %s", exc)
        return None


def _lookalikes(stored: StoredVectors, threshold: float, n: int = 10) -> list[dict]:
    """The most similar identity pairs by centroid cosine (as `facevault search --identity`), among identities
    with two or more faces when there are enough of them."""
    names, cents, counts = search.centroids(stored)
    keep = np.flatnonzero(counts >= 2)
    if len(keep) < 2:
        keep = np.arange(len(names))
    if len(keep) < 2:
        return []
    c = cents[keep].astype(np.float64)
    sims = c @ c.T
    iu = np.triu_indices(len(keep), k=1)
    top = np.argsort(-sims[iu], kind="stable")[:n]
    verdict = search.Verdict(threshold, None)
    return [{"a": names[keep[iu[0][t]]], "b": names[keep[iu[1][t]]], "faces_a": int(counts[keep[iu[0][t]]]),
             "faces_b": int(counts[keep[iu[1][t]]]), "similarity": round(float(sims[iu][t]), 6),
             "verdict": verdict.decide(float(sims[iu][t]))} for t in top]


def _hardest(ev: Evaluation, thr: float, n: int) -> list[dict]:
    """Highest-scoring different-person pairs and lowest-scoring same-person pairs (errors first)."""
    ok = np.flatnonzero(~ev.missing)
    neg = ok[~ev.labels[ok]]
    pos = ok[ev.labels[ok]]
    fa = neg[np.argsort(-ev.scores[neg], kind="stable")][: n // 2]
    fr = pos[np.argsort(ev.scores[pos], kind="stable")][: n - n // 2]
    out = []
    for kind, idx in (("different people", fa), ("same person", fr)):
        for i in idx:
            s = float(ev.scores[i])
            wrong = (s >= thr) if kind == "different people" else (s < thr)
            out.append({"kind": kind, "a": ev.pair_a[i], "b": ev.pair_b[i], "score": round(s, 6),
                        "error": ("false accept" if kind == "different people" else "false reject") if wrong else None})
    return out


def _png(rgb: np.ndarray) -> bytes:
    """uint8 RGB as PNG bytes, at least 112 px on its longer side."""
    from PIL import Image as PILImage

    img = PILImage.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if max(img.size) < 112:
        img = img.resize((max(1, 112 * img.size[0] // max(img.size)), max(1, 112 * img.size[1] // max(img.size))))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _box_crop(rgb: np.ndarray, d: Detection) -> np.ndarray:
    x0, y0 = max(0, int(d.x)), max(0, int(d.y))
    return rgb[y0:int(d.y + d.h), x0:int(d.x + d.w)]


def _file_of(path: str, only_root: str | None, roots: dict[str, str]) -> Path | None:
    """The file of a reported path: relative to the one dataset read, else "dataset/relative path"."""
    if only_root is not None:
        return Path(only_root) / path
    name, _, rel = path.partition("/")
    return Path(roots[name]) / rel if name in roots and rel else None


def _thumbnails(catalog: Catalog, record: SpaceRecord, pairs: list[dict], out: Path,
                weights_dir: str | None, datasets: Sequence[str] | None = None) -> str | None:
    """Write each shown image's face as the space's aligner makes it (box crops when the space's pipeline cannot
    be built); sets each pair's thumb_a / thumb_b and returns a note on the fallback."""
    from facevault.faces import imageio
    from facevault.faces.pipeline import build_pipeline

    paths = sorted({p for pr in pairs for p in (pr["a"], pr["b"])})
    dets = catalog.subject_faces(paths, record.detector, datasets)
    roots = catalog.dataset_roots()
    only = roots[datasets[0]] if datasets and len(datasets) == 1 else catalog.dataset_root()
    try:
        pipeline = build_pipeline(record.space, weights_dir)
        note = None
    except Exception as exc:  # the report must not fail because weights moved; box crops stand in
        pipeline, note = None, f"faces shown as box crops: the space's aligner could not be built ({exc})"
    made: dict[str, str | None] = {}
    for k, p in enumerate(paths):
        made[p] = None
        file = _file_of(p, only, roots)
        if file is None or p not in dets:
            continue
        try:
            rgb = imageio.load(file).rgb
            chip = pipeline.thumbnail(rgb, dets[p]) if pipeline is not None else _box_crop(rgb, dets[p])
            rel = f"img/face-{k:02d}.png"
            (out / rel).write_bytes(_png(chip))
            made[p] = rel
        except (FacevaultError, OSError, ValueError) as exc:
            log.info("no thumbnail for %s: %s", p, exc)
    for pr in pairs:
        pr["thumb_a"], pr["thumb_b"] = made[pr["a"]], made[pr["b"]]
    return note


def _figures(rep: Report, ranked: list[dict], curves: dict) -> None:
    img = rep.out / "img"
    roc_curves, det_curves, ops_roc, ops_det, cmcs = [], [], [], [], []
    for r in ranked:
        ev, ident = curves[r["space_id"]]
        ok = ~ev.missing
        c = roc(ev.scores[ok], ev.labels[ok])
        roc_curves.append((f"{r['space']}  (AUC {r['auc']:.4f})", c.far, c.tar))
        det_curves.append((f"{r['space']}  (EER {100 * r['eer']:.2f}%)", c.far, 1.0 - c.tar))
        at = r["at_threshold"]
        ops_roc.append((at["far"], 1.0 - at["frr"]))
        ops_det.append((at["far"], at["frr"]))
        if ident is not None and getattr(ident, "cmc", None) is not None and len(ident.cmc):
            n = int(getattr(ident, "identities", 0) or len(ident.cmc))
            cmcs.append((r["space"], np.asarray(ident.cmc)[: max(n, 1)]))
        rep.figures[f"distribution-{r['rank']}"] = plots.distribution_plot(
            ev.scores, ev.labels, img / f"distribution-{r['rank']}.png", threshold=r["threshold_used"],
            threshold_source=("stored: " if r["threshold_stored"] else "") + r["threshold_source"].split(" (")[0],
            title=f"score distributions - {r['space']}",
            extra=[("EER threshold", r["eer_threshold"]), ("study rule (mean + 1 std)", r["study_threshold"])])[0]
    rep.figures["roc"] = plots.roc_plot(roc_curves, img / "roc.png", operating=ops_roc)[0]
    rep.figures["det"] = plots.det_plot(det_curves, img / "det.png", operating=ops_det)[0]
    if cmcs:
        rep.figures["cmc"] = plots.cmc_plot(cmcs, img / "cmc.png")[0]


# ---------------------------------------------------------------- write
def write(rep: Report) -> dict[str, Path]:
    """report.html (self-contained), report.md and report.json in the report's folder."""
    paths = {"html": rep.out / "report.html", "md": rep.out / "report.md", "json": rep.out / "report.json"}
    paths["html"].write_text(render_html(rep.doc, rep.data_uri), encoding="utf-8")
    paths["md"].write_text(render_markdown(rep.doc), encoding="utf-8")
    paths["json"].write_text(json.dumps(rep.doc, indent=2, default=jsonable) + "\n", encoding="utf-8")
    return paths

