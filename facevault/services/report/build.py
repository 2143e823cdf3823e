"""The evaluation report: every space of a store compared on one protocol, as HTML, Markdown and JSON.

`build` computes everything (leaderboard, curves, hardest pairs, lookalikes, dataset health) from stored
vectors, re-decoding only the few images whose aligned faces are shown. `write` renders one self-contained
HTML page (figures inlined as data URIs, no external resources), `report.md` with its figures in `img/`,
and `report.json`; the pages themselves are drawn by `facevault.services.report.render`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from facevault import __version__
from facevault.services import health
from facevault.evaluation import metrics
from facevault.services.report import plots
from facevault.services import protocols
from facevault.services import search
from facevault.services import similarity
from facevault.store import Catalog, StoredVectors
from facevault.store.models import Face, Image, Scan
from facevault.core.errors import FacevaultError, ProtocolError
from facevault.services.evaluate import evaluate
from facevault.core.types import Detection
from facevault.services.report import render as report_render
from facevault.services.report.render import EXPLAIN, chip_is_bgr, chip_png, render_html, render_markdown

__all__ = ["DEFAULT_SAMPLE", "EXPLAIN", "Report", "build", "render_html", "render_markdown", "write"]

log = logging.getLogger(__name__)
DEFAULT_SAMPLE = 3000


@dataclass
class Report:
    """The JSON document plus the figure files it refers to (relative to the output folder)."""

    doc: dict
    out: Path
    figures: dict[str, Path] = field(default_factory=dict)

    def data_uri(self, rel: str) -> str:
        return report_render.data_uri(self.out / rel)


# ---------------------------------------------------------------- scored pairs
@dataclass
class _Scored:
    scores: np.ndarray
    labels: np.ndarray
    missing: np.ndarray
    a: list[str]
    b: list[str]


def _scored_pairs(ev, pairs: protocols.Pairs, stored: StoredVectors, known: dict[str, str | None]) -> _Scored:
    """Per-pair scores of an evaluation: from `Evaluation` when it carries them, else recomputed the same way."""
    if getattr(ev, "scores", None) is not None and getattr(ev, "pair_a", None) is not None:
        miss = np.asarray(getattr(ev, "missing", np.isnan(ev.scores)), bool)
        return _Scored(np.asarray(ev.scores, float), np.asarray(ev.labels, bool), miss, list(ev.pair_a),
                       list(ev.pair_b))
    where = stored.by_path()
    keep = [i for i, (a, b) in enumerate(zip(pairs.a, pairs.b)) if a in known and b in known]
    ia = np.array([where.get(pairs.a[i], -1) for i in keep])
    ib = np.array([where.get(pairs.b[i], -1) for i in keep])
    miss = (ia < 0) | (ib < 0)
    scores = np.full(len(keep), np.nan)
    ok = ~miss
    if ok.any():
        scores[ok] = np.einsum("ij,ij->i", stored.matrix[ia[ok]], stored.matrix[ib[ok]])
    return _Scored(scores, pairs.labels[keep], miss, [pairs.a[i] for i in keep], [pairs.b[i] for i in keep])


def _protocol(catalog: Catalog, pairs_file: Path | None, sample: int | None, seed: int, folds: int) -> protocols.Pairs:
    if pairs_file is not None:
        return protocols.read_pairs_file(pairs_file, k=folds, seed=seed)
    n = DEFAULT_SAMPLE if sample is None else sample
    if n <= 0:
        raise ProtocolError("--sample needs a positive number of pairs")
    paths = catalog.image_paths()
    names = sorted(paths)
    return protocols.sample_pairs(names, [paths[p] for p in names], n, seed, folds)


# ---------------------------------------------------------------- sections
def _summary(catalog: Catalog) -> dict:
    stats = catalog.stats()
    with catalog.session() as s:
        multi = dict(s.execute(select(Scan.space_id, func.count()).where(Scan.faces > 1).group_by(Scan.space_id)).all())
    imgs = stats["images"]
    return {
        "store": str(catalog.settings.store), "dataset_root": catalog.get_meta("dataset_root"),
        "images": sum(v for k, v in imgs.items() if k != "missing"), "images_ok": imgs.get("ok", 0),
        "undecodable": imgs.get("error", 0), "missing_files": imgs.get("missing", 0),
        "identities": stats["identities"],
        "spaces": [{"space": _label(sp), "faces": stats["spaces"][sp.id]["vectors"],
                    "no_face": stats["spaces"][sp.id]["scans"].get("no-face", 0),
                    "errors": stats["spaces"][sp.id]["scans"].get("error", 0), "multi_face": multi.get(sp.id, 0)}
                   for sp in catalog.spaces()],
    }


def _label(space) -> str:
    return f"{space.model} / {space.detector} / {space.aligner}"


def _threshold(space, ev) -> tuple[float, str, bool]:
    """(threshold, where it came from, stored?): the space's calibrated one, else this protocol's."""
    if space.threshold is not None:
        return float(space.threshold), space.threshold_source or "stored with the space", True
    r = ev.report
    return (float(r.threshold), f"{ev.protocol}: best accuracy, mean of {len(r.fold_accuracies)} fold thresholds "
            "(chosen for this report; not stored - run `facevault evaluate` to store one)", False)


def _operating(sc: _Scored, thr: float) -> dict:
    ok = ~sc.missing
    s, lab = sc.scores[ok], sc.labels[ok]
    fa = int(np.sum((s >= thr) & ~lab))
    fr = int(np.sum((s < thr) & lab)) + int(np.sum(sc.missing & sc.labels))
    neg, pos = int((~sc.labels).sum()), int(sc.labels.sum())
    return {"far": fa / max(neg, 1), "frr": fr / max(pos, 1), "false_accepts": fa, "false_rejects": fr,
            "accuracy": metrics.accuracy_at(s, lab, thr, missing=int(sc.missing.sum()))}


def _identification(stored: StoredVectors, seed: int):
    """Closed-set identification (CMC) when facevault.evaluation.identification exists; None otherwise."""
    try:
        from facevault.evaluation.identification import identify
    except ImportError:
        return None
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


def _hardest(sc: _Scored, thr: float, n: int) -> list[dict]:
    """Highest-scoring different-person pairs and lowest-scoring same-person pairs (errors first)."""
    ok = np.flatnonzero(~sc.missing)
    neg = ok[~sc.labels[ok]]
    pos = ok[sc.labels[ok]]
    fa = neg[np.argsort(-sc.scores[neg], kind="stable")][: n // 2]
    fr = pos[np.argsort(sc.scores[pos], kind="stable")][: n - n // 2]
    out = []
    for kind, idx in (("different people", fa), ("same person", fr)):
        for i in idx:
            s = float(sc.scores[i])
            wrong = (s >= thr) if kind == "different people" else (s < thr)
            out.append({"kind": kind, "a": sc.a[i], "b": sc.b[i], "score": round(s, 6),
                        "error": ("false accept" if kind == "different people" else "false reject") if wrong else None})
    return out


def _subject_faces(catalog: Catalog, paths: list[str], detector: str) -> dict[str, Detection]:
    with catalog.session() as s:
        q = (select(Image.path, Face).join(Face, Face.sha256 == Image.sha256)
             .where(Image.path.in_(paths), Face.detector == detector, Face.is_subject.is_(True)))
        rows = s.execute(q).all()
    return {p: Detection(f.x, f.y, f.w, f.h, f.score, f.source or "", Detection.landmarks_from_list(f.landmarks))
            for p, f in rows}


def _thumbnails(catalog: Catalog, space, pairs: list[dict], out: Path, weights_dir: str | None) -> str | None:
    """Write each shown image's face, aligned as the space's recognizer sees it; returns a note on fallbacks."""
    from facevault.faces import imageio
    from facevault.faces.pipeline import Pipeline, SpaceSpec

    root = catalog.get_meta("dataset_root")
    paths = sorted({p for pr in pairs for p in (pr["a"], pr["b"])})
    dets = _subject_faces(catalog, paths, space.detector)
    try:
        recognizer = Pipeline(SpaceSpec(space.model, space.detector, space.aligner), weights_dir).recognizer
        note = None
    except Exception as exc:  # the report must not fail because weights moved; box crops stand in
        recognizer, note = None, f"faces shown as box crops: the space's aligner could not be built ({exc})"
    made: dict[str, str | None] = {}
    for k, p in enumerate(paths):
        made[p] = None
        if root is None or p not in dets:
            continue
        try:
            rgb = imageio.load(Path(root) / p).rgb
            d = dets[p]
            if recognizer is not None:
                chip = recognizer.align(rgb, d)
            else:
                x0, y0 = max(0, int(d.x)), max(0, int(d.y))
                chip = rgb[y0:int(d.y + d.h), x0:int(d.x + d.w)]
            rel = f"img/face-{k:02d}.png"
            (out / rel).write_bytes(chip_png(chip, recognizer is not None and chip_is_bgr(recognizer)))
            made[p] = rel
        except (FacevaultError, OSError, ValueError) as exc:
            log.info("no thumbnail for %s: %s", p, exc)
    for pr in pairs:
        pr["thumb_a"], pr["thumb_b"] = made[pr["a"]], made[pr["b"]]
    return note


# ---------------------------------------------------------------- build
def build(catalog: Catalog, out: Path, pairs_file: Path | None = None, sample: int | None = None, seed: int = 0,
          folds: int = 10, top_identities: int = 30, hard_pairs: int = 8, weights_dir: str | None = None) -> Report:
    """Evaluate every space on one protocol and draw the figures into `out/img`; nothing is stored."""
    out = Path(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    spaces = catalog.spaces()
    if not spaces:
        raise FacevaultError("the store holds no embedding space yet (run `facevault ingest DATASET` first)")
    pairs = _protocol(catalog, pairs_file, sample, seed, folds)
    known = catalog.image_paths()
    rows, curves = [], {}
    for sp in spaces:
        stored = catalog.vectors(sp.id, sp.dim)
        try:
            ev = evaluate(catalog, sp, pairs, calibrate=False, stored=stored, known=known)
        except ProtocolError as exc:
            rows.append({"space": _label(sp), "space_id": sp.id, "error": str(exc)})
            continue
        sc = _scored_pairs(ev, pairs, stored, known)
        thr, source, is_stored = _threshold(sp, ev)
        r = ev.report
        ident = _identification(stored, seed)
        row = {"space": _label(sp), "space_id": sp.id, "model": sp.model, "detector": sp.detector,
               "aligner": sp.aligner, "dim": sp.dim, "images_per_second": sp.images_per_second, **ev.to_dict(),
               "threshold_used": thr, "threshold_source": source, "threshold_stored": is_stored,
               "at_threshold": _operating(sc, thr),
               "identification": ident.to_dict() if ident is not None else None}
        for k in ("scores", "labels", "missing", "pair_a", "pair_b", "folds"):  # per-pair arrays stay out of the JSON
            if isinstance(row.get(k), (list, np.ndarray)):
                row.pop(k)
        row["missing"] = int(sc.missing.sum())
        rows.append(row)
        curves[sp.id] = (sc, stored, ident)
    ranked = sorted((r for r in rows if "error" not in r), key=lambda r: (-r["accuracy"], -r["auc"], r["space_id"]))
    if not ranked:
        raise ProtocolError("no space could be evaluated on this protocol: " + "; ".join(r["error"] for r in rows))
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
    rep = Report({}, out)
    _figures(rep, ranked, curves)
    best = ranked[0]
    best_space = next(sp for sp in spaces if sp.id == best["space_id"])
    sc, stored, _ = curves[best["space_id"]]
    sim = similarity.compute(stored, top=top_identities, order="cluster")
    rep.figures["heatmap"] = plots.heatmap_plot(
        sim.names, sim.counts, sim.matrix, out / "img" / "heatmap.png",
        title=f"mean cosine similarity between identities, clustered - {best['space']}", note=sim.note)[0]
    hard = _hardest(sc, best["threshold_used"], hard_pairs)
    for pr in hard:
        pr["identity_a"], pr["identity_b"] = known.get(pr["a"]), known.get(pr["b"])
    thumb_note = _thumbnails(catalog, best_space, hard, out, weights_dir) if hard else None
    rep.doc = {
        "title": "facevault evaluation report", "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "facevault": __version__, "summary": _summary(catalog),
        "protocol": {"name": pairs.name, "pairs": len(pairs), "same": int(pairs.labels.sum()),
                     "different": int((~pairs.labels).sum()), "folds": int(len(np.unique(pairs.folds))),
                     "seed": seed if pairs_file is None else None, "file": str(pairs_file) if pairs_file else None},
        "leaderboard": ranked, "failed": [r for r in rows if "error" in r], "best_space": best["space"],
        "hardest_pairs": hard, "hardest_pairs_note": thumb_note,
        "heatmap": {"space": best["space"], "identities": sim.names, "faces": sim.counts.tolist(), "note": sim.note},
        "lookalikes": _lookalikes(stored, best["threshold_used"]),
        "health": health.check(catalog, best_space, stored=stored, limit=20).to_dict(),
        "figures": {k: str(v.relative_to(out)) for k, v in rep.figures.items()},
        "explanations": EXPLAIN,
    }
    return rep


def _figures(rep: Report, ranked: list[dict], curves: dict) -> None:
    img = rep.out / "img"
    roc, det, ops_roc, ops_det, cmcs = [], [], [], [], []
    for r in ranked:
        sc, _, ident = curves[r["space_id"]]
        ok = ~sc.missing
        c = metrics.roc(sc.scores[ok], sc.labels[ok])
        roc.append((f"{r['space']}  (AUC {r['auc']:.4f})", c.far, c.tar))
        det.append((f"{r['space']}  (EER {100 * r['eer']:.2f}%)", c.far, 1.0 - c.tar))
        at = r["at_threshold"]
        ops_roc.append((at["far"], 1.0 - at["frr"]))
        ops_det.append((at["far"], at["frr"]))
        if ident is not None and getattr(ident, "cmc", None) is not None and len(ident.cmc):
            n = int(getattr(ident, "identities", 0) or len(ident.cmc))
            cmcs.append((r["space"], np.asarray(ident.cmc)[: max(n, 1)]))
        rep.figures[f"distribution-{r['rank']}"] = plots.distribution_plot(
            sc.scores, sc.labels, img / f"distribution-{r['rank']}.png", threshold=r["threshold_used"],
            threshold_source=("stored: " if r["threshold_stored"] else "") + r["threshold_source"].split(" (")[0],
            title=f"score distributions - {r['space']}",
            extra=[("EER threshold", r["eer_threshold"]), ("study rule (mean + 1 std)", r["study_threshold"])])[0]
    rep.figures["roc"] = plots.roc_plot(roc, img / "roc.png", operating=ops_roc)[0]
    rep.figures["det"] = plots.det_plot(det, img / "det.png", operating=ops_det)[0]
    if cmcs:
        rep.figures["cmc"] = plots.cmc_plot(cmcs, img / "cmc.png")[0]


# ---------------------------------------------------------------- write
def write(rep: Report) -> dict[str, Path]:
    """report.html (self-contained), report.md and report.json in the report's folder."""
    paths = {"html": rep.out / "report.html", "md": rep.out / "report.md", "json": rep.out / "report.json"}
    paths["html"].write_text(render_html(rep.doc, rep.data_uri), encoding="utf-8")
    paths["md"].write_text(render_markdown(rep.doc), encoding="utf-8")
    paths["json"].write_text(json.dumps(rep.doc, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return paths


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
