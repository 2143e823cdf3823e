"""Rendering of the evaluation report: the self-contained HTML page (inline CSS, figures as data URIs) and the
Markdown twin, from the JSON document that `facevault.services.report.build.build` assembles; plus the words that explain each
section and the PNG encoding of the face chips shown.

A document in, a string out; the only file read is the PNG that `data_uri` embeds.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

__all__ = ["EXPLAIN", "chip_is_bgr", "chip_png", "data_uri", "render_html", "render_markdown"]


# ---------------------------------------------------------------- images
def data_uri(path: Path) -> str:
    """A PNG file as a data URI, so the page needs no file next to it."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def chip_is_bgr(recognizer) -> bool:
    """deepface's models take BGR chips; a recognizer may say so with `chip_color = "BGR"`."""
    color = getattr(recognizer, "chip_color", None)
    if color is not None:
        return str(color).upper() == "BGR"
    return type(recognizer).__module__.endswith("deepface_zoo")


def chip_png(chip: np.ndarray, bgr: bool = False) -> bytes:
    """A face chip (any layout or range a recognizer uses) as PNG bytes, at least 112 px on its longer side."""
    from PIL import Image as PILImage

    c = np.asarray(chip)
    while c.ndim > 3 and c.shape[0] == 1:
        c = c[0]
    if c.dtype != np.uint8:
        c = c.astype(np.float64)
        c = (c * 255.0 if c.max(initial=0) <= 1.0 else c).clip(0, 255).astype(np.uint8)
    if c.ndim == 3 and c.shape[0] in (1, 3) and c.shape[2] not in (1, 3):
        c = np.transpose(c, (1, 2, 0))
    if bgr and c.ndim == 3 and c.shape[2] == 3:
        c = c[..., ::-1]
    img = PILImage.fromarray(c.squeeze())
    if max(img.size) < 112:
        img = img.resize((112 * img.size[0] // max(img.size), 112 * img.size[1] // max(img.size)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- words
EXPLAIN = {
    "intro": "This page compares face-recognition embedding spaces on one dataset. Every face becomes a vector; two "
             "faces are compared by the cosine similarity of their vectors (up to 1 for the same direction), and a "
             "pair is called the same person when that similarity reaches the space's threshold. Each section says "
             "what it measures and which way is better; report.json holds every number shown here.",
    "dataset": "What was ingested. Each image is decoded, its faces are detected, and the subject face (the largest "
               "face nearest the centre) is aligned and embedded once per embedding space. An embedding space is one "
               "recognizer with its detector and alignment; vectors of different spaces are never compared.",
    "protocol_sample": "Pairs drawn at random (seeded, so the report can be reproduced) from the store: same-identity "
                       "pairs and different-identity pairs, split into folds. Every space is scored on the same pairs.",
    "protocol_file": "Pairs read from a protocol file, with its labels and folds. Every space is scored on the same "
                     "pairs; pairs whose images are not in the store are left out.",
    "leaderboard": "Best first. Accuracy: the share of pairs judged correctly, each fold tested at the threshold that "
                   "was best on the other folds, so no pair is judged by a threshold tuned on it (± is the standard "
                   "deviation over folds); higher is better. AUC: the chance that a random same-person pair scores "
                   "above a random different-person pair; 1 is perfect. EER: the error rate where false accepts and "
                   "false rejects are equally frequent; lower is better. TAR @ FAR: the share of same-person pairs "
                   "accepted when at most that share of different-person pairs gets through; '-' where there are "
                   "too few different-person pairs to measure so small a rate. A pair with an image where no face "
                   "was found counts as an error.",
    "threshold": "The threshold is the cosine similarity at or above which two faces are called the same person. "
                 "A stored threshold was chosen by `facevault evaluate` (best accuracy on its pairs, the mean of the "
                 "fold thresholds) and is the one `facevault search` and `facevault verify` use; a space without "
                 "one is shown at the threshold chosen on this report's pairs.",
    "roc": "ROC: for every threshold, the share of same-person pairs accepted (TAR, higher is better) against the "
           "share of different-person pairs accepted (FAR, log scale). Higher and further left is better; circles "
           "mark each space's threshold.",
    "det": "DET: the same trade-off as two error rates on normal-deviate axes, which turn well-behaved curves into "
           "near-straight lines and spread out the low-error corner. Closer to the lower left is better; the curve "
           "crosses the dotted diagonal at the EER.",
    "distributions": "Scores of same-person pairs (green) and different-person pairs (red) over shared bins. The "
                     "less they overlap, the better the space tells people apart. The dashed line is the threshold "
                     "in use; dotted lines show the EER threshold and the original study's rule "
                     "(1 - (mean + 1 std) of same-person distances) for comparison.",
    "cmc": "Closed-set identification (who is this, among the known people?): one seeded face per identity forms "
           "the gallery and every other face is a query. Rank-1 is the share of queries whose first answer is the "
           "right identity; the CMC curve gives the share whose true identity is among the first k answers. "
           "Higher is better; the interval is a bootstrap over queries.",
    "heatmap": "Mean cosine similarity between every two identities (diagonal: between different faces of the same "
               "identity), in the best space. Rows are ordered by average-linkage clustering, so identities that "
               "look alike sit side by side; a bright cell off the diagonal is a pair the model finds alike.",
    "hardest": "The different-person pairs that scored highest and the same-person pairs that scored lowest in the "
               "best space, with the faces as the model sees them after alignment. Marked red: wrong at the "
               "threshold. These are where the model fails, or where a label is wrong.",
    "lookalikes": "Identity pairs whose mean vectors (centroids) are closest, as `facevault search --identity NAME` "
                  "ranks them. 'same' means their centroids would pass the threshold: on average the model cannot "
                  "tell these people apart.",
    "health": "Problems in the dataset itself, which bend every number above. Likely mislabels: faces nearer "
              "another identity's centroid than their own (the face left out of its own centroid); margin is by how "
              "much. Duplicates: the same face under two identities (near-identical vectors or the identical file). "
              "Identities with too few usable faces cannot form a same-person pair. Images with no face cannot be "
              "compared; images with several faces may have had the wrong one chosen.",
}

_CSS = """
:root{--fg:#1d2430;--muted:#5b6474;--line:#e3e7ee;--bg:#f6f8fb;--accent:#2f5fb3;--bad:#c0392b;--good:#24834a}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 28px 60px}
header h1{margin:0 0 4px;font-size:28px}header .sub{color:var(--muted);margin:0;font-size:13px}
nav{margin:16px 0 8px;display:flex;flex-wrap:wrap;gap:6px}nav a{font-size:13px;color:var(--accent);
text-decoration:none;border:1px solid var(--line);background:#fff;border-radius:14px;padding:2px 10px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:18px 0}
h2{margin:0 0 6px;font-size:20px}h3{font-size:15px;margin:16px 0 6px}
p.explain{color:var(--muted);margin:0 0 12px;font-size:13.5px;max-width:980px}p.intro{margin:14px 0 0;font-size:14px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:6px 0 14px}.card{border:1px solid var(--line);border-radius:8px;
padding:8px 14px;min-width:120px}.card b{display:block;font-size:22px}.card span{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}th,td{padding:5px 8px;
border-bottom:1px solid var(--line);text-align:left;vertical-align:top}th{background:#f0f3f8;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}tr.best td{background:#eef7f0}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:14px}
.figs.one{grid-template-columns:minmax(0,760px)}figure{margin:0}
figure img{width:100%;height:auto;border:1px solid var(--line);border-radius:6px;background:#fff}
figcaption{color:var(--muted);font-size:12px;margin-top:4px}
.pairs{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px}
.pair{border:1px solid var(--line);border-radius:8px;padding:10px}.pair.err{border-color:var(--bad);
box-shadow:inset 0 0 0 1px var(--bad)}.pair .faces{display:flex;gap:8px}.pair img,.pair .none{width:112px;
height:112px;border-radius:4px;object-fit:cover;background:#eee}.pair .none{display:flex;align-items:center;
justify-content:center;color:var(--muted);font-size:11px;text-align:center}
.pair .meta{font-size:12px;margin-top:6px}.path{word-break:break-all;color:var(--muted)}
.tag{display:inline-block;border-radius:9px;
padding:0 8px;font-size:11.5px;font-weight:600;color:#fff;background:var(--muted)}.tag.bad{background:var(--bad)}
.tag.good{background:var(--good)}.ok{color:var(--good)}.muted{color:var(--muted)}code{font-size:12.5px;
background:#f0f3f8;padding:1px 4px;border-radius:3px}footer{color:var(--muted);font-size:12px;text-align:center}
"""
# a self-check for headless browsers only: counts the images that decoded (the page needs no script)
_SCRIPT = ("addEventListener('load',function(){var i=Array.prototype.slice.call(document.images);"
           "document.body.setAttribute('data-images',i.length);document.body.setAttribute('data-loaded',"
           "i.filter(function(x){return x.complete&&x.naturalWidth>0}).length)})")


class _Raw(str):
    """A table cell that is already HTML."""


def _e(x) -> str:
    import html

    return x if isinstance(x, _Raw) else html.escape("-" if x is None else str(x))


def _num(x, d: int = 4) -> str:
    return "-" if x is None else f"{x:.{d}f}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _tar(row: dict, far: float) -> str | None:
    for t in row.get("tar_at_far", []):
        if abs(t["far_target"] - far) < 1e-12:
            return _pct(t["tar"]) if t["sufficient"] else "-"
    return None


def _leader_cols(doc: dict) -> tuple[list[str], list[list], list[bool]]:
    rows = doc["leaderboard"]
    has_id = any(r.get("identification") for r in rows)
    head = ["#", "space", "accuracy", "AUC", "EER", "TAR @ FAR 1%", "TAR @ FAR 0.1%", "threshold", "FAR / FRR there",
            "no-face pairs"] + (["rank-1 identification"] if has_id else []) + ["images/s"]
    body = []
    for r in rows:
        at = r["at_threshold"]
        thr = _num(r["threshold_used"]) + ("" if r["threshold_stored"] else " *")
        ident = r.get("identification") or {}
        body.append([r["rank"], r["space"], f"{_pct(r['accuracy'])} ± {100 * r['accuracy_std']:.2f}", _num(r["auc"]),
                     _pct(r["eer"]), _tar(r, 1e-2), _tar(r, 1e-3), thr, f"{_pct(at['far'])} / {_pct(at['frr'])}",
                     r["missing"]] + ([_pct(ident.get("rank1"))] if has_id else [])
                    + [_num(r["images_per_second"], 1)])
    return head, body, [i == 0 for i in range(len(rows))]


def _ident_table(doc: dict) -> tuple[list[str], list[list]]:
    def ci(x) -> str:
        return "" if not x else f" ({100 * x[0]:.1f}-{100 * x[1]:.1f}%)"
    rows = [[r["space"], _pct(i["rank1"]) + ci(i.get("rank1_ci")), _pct(i["rank5"]) + ci(i.get("rank5_ci")),
             i.get("probes"), i.get("identities")]
            for r in doc["leaderboard"] if (i := r.get("identification"))]
    return ["space", "rank-1 (95% CI)", "rank-5 (95% CI)", "queries", "gallery identities"], rows


def _html_table(head: list[str], rows: list[list], best: list[bool] | None = None) -> str:
    def cls(v) -> str:
        s = str(v)
        return ' class="n"' if s[:1].isdigit() or s[:1] in "-+" and len(s) > 1 else ""
    out = ["<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for i, r in enumerate(rows):
        tr = ' class="best"' if best and best[i] else ""
        out.append(f"<tr{tr}>" + "".join(f"<td{cls(v)}>{_e(v)}</td>" for v in r) + "</tr>")
    return "".join(out) + "</tbody></table>"


def _health_tables(h: dict) -> list[tuple[str, list[str], list[list]]]:
    t = {k: f"{v}, first {len(h[k])} shown" if v > len(h[k]) else str(v) for k, v in h["totals"].items()}
    return [
        (f"likely mislabels ({t['mislabels']})", ["image", "labelled", "nearest identity", "own", "nearest", "margin"],
         [[m["path"], m["identity"], m["nearest"], _num(m["own_similarity"]), _num(m["nearest_similarity"]),
           _num(m["margin"])] for m in h["mislabels"]]),
        (f"duplicates across identities ({t['duplicates']})", ["image a", "image b", "cosine", "identical file"],
         [[d["a"], d["b"], _num(d["similarity"]), "yes" if d["identical_file"] else "no"] for d in h["duplicates"]]),
        (f"identities with fewer than {h['min_faces']} usable faces ({t['few_faces']})",
         ["identity", "usable faces", "images"],
         [[f["identity"], f["usable_faces"], f["images"]] for f in h["few_faces"]]),
        (f"images with no face ({t['no_face']})", ["image", "identity"],
         [[x["path"], x["identity"]] for x in h["no_face"]]),
        (f"images with several faces ({t['multi_face']})", ["image", "faces"],
         [[x["path"], x["faces"]] for x in h["multi_face"]]),
        (f"images that could not be used ({t['errors']})", ["image", "error"],
         [[x["path"], x["error"]] for x in h["errors"]]),
    ]


def render_html(doc: dict, uri) -> str:
    """One self-contained page: inline CSS, figures as data URIs, no external resource."""
    s, proto, fig = doc["summary"], doc["protocol"], doc["figures"]
    o = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
         "<meta name='viewport' content='width=device-width,initial-scale=1'>",
         f"<title>{_e(doc['title'])}</title><style>{_CSS}</style></head><body><main>",
         f"<header><h1>Face recognition evaluation</h1><p class='sub'>dataset <code>{_e(s['dataset_root'])}</code> · "
         f"store <code>{_e(s['store'])}</code> · {_e(doc['generated'])} · facevault {_e(doc['facevault'])}</p>"
         "</header>"]
    sections = [("dataset", "Dataset"), ("leaderboard", "Leaderboard"), ("curves", "ROC and DET"),
                ("distributions", "Score distributions")] + ([("cmc", "Identification")] if "cmc" in fig else []) + [
        ("heatmap", "Identity similarity"), ("hardest", "Hardest pairs"), ("lookalikes", "Lookalikes"),
        ("health", "Dataset health")]
    o.append(f"<p class='explain intro'><b>How to read this report.</b> {_e(EXPLAIN['intro'])}</p>")
    o.append("<nav>" + "".join(f"<a href='#{k}'>{_e(v)}</a>" for k, v in sections) + "</nav>")

    cards = [("images", s["images"]), ("identities", s["identities"]), ("undecodable", s["undecodable"]),
             ("files gone", s["missing_files"]), ("spaces", len(s["spaces"]))]
    o.append(f"<section id='dataset'><h2>Dataset</h2><p class='explain'>{_e(EXPLAIN['dataset'])}</p><div class='cards'>"
             + "".join(f"<div class='card'><b>{_e(v)}</b><span>{_e(k)}</span></div>" for k, v in cards) + "</div>"
             + _html_table(["space (model / detector / aligner)", "faces embedded", "no face", "several faces",
                            "errors"],
                           [[x["space"], x["faces"], x["no_face"], x["multi_face"], x["errors"]] for x in s["spaces"]])
             + "</section>")

    head, body, best = _leader_cols(doc)
    how = EXPLAIN["protocol_file"] if proto["file"] else EXPLAIN["protocol_sample"]
    o.append(f"<section id='leaderboard'><h2>Leaderboard</h2><p class='explain'><b>Pairs:</b> <code>{_e(proto['name'])}"
             f"</code>, {proto['pairs']} pairs ({proto['same']} same person, {proto['different']} different), "
             f"{proto['folds']} folds. {_e(how)}</p><p class='explain'>{_e(EXPLAIN['leaderboard'])}</p>"
             + _html_table(head, body, best)
             + f"<h3>How the threshold was chosen</h3><p class='explain'>{_e(EXPLAIN['threshold'])} "
               "* = chosen on this report's pairs.</p>"
             + "".join(f"<p class='explain'>{_e(r['space'])}: threshold {_num(r['threshold_used'])} - "
                       f"{_e(r['threshold_source'])}</p>" for r in doc["leaderboard"])
             + "".join(f"<p class='explain'><b>not evaluated</b> {_e(r['space'])}: {_e(r['error'])}</p>"
                       for r in doc["failed"]) + "</section>")

    def figure(key: str, alt: str, caption: str) -> str:
        return f"<figure><img src='{uri(fig[key])}' alt='{_e(alt)}'><figcaption>{_e(caption)}</figcaption></figure>"

    o.append(f"<section id='curves'><h2>ROC and DET</h2><p class='explain'>{_e(EXPLAIN['roc'])}</p>"
             f"<p class='explain'>{_e(EXPLAIN['det'])}</p><div class='figs'>"
             + figure("roc", "ROC curves of every space", "ROC, log FAR axis")
             + figure("det", "DET curves of every space", "DET, normal-deviate axes") + "</div></section>")
    o.append("<section id='distributions'><h2>Score distributions</h2>"
             f"<p class='explain'>{_e(EXPLAIN['distributions'])}"
             "</p><div class='figs'>" + "".join(
                 figure(f"distribution-{r['rank']}", f"score distributions, {r['space']}", r["space"])
                 for r in doc["leaderboard"]) + "</div></section>")
    if "cmc" in fig:
        o.append(f"<section id='cmc'><h2>Identification</h2><p class='explain'>{_e(EXPLAIN['cmc'])}</p>"
                 + _html_table(*_ident_table(doc))
                 + "<div class='figs one'>" + figure("cmc", "CMC curves", "cumulative match characteristic")
                 + "</div></section>")
    o.append(f"<section id='heatmap'><h2>Identity similarity</h2><p class='explain'>{_e(EXPLAIN['heatmap'])} "
             f"Space: {_e(doc['heatmap']['space'])}. {_e(doc['heatmap']['note'])}</p>"
             + "<div class='figs one'>" + figure("heatmap", "identity similarity heatmap",
                                                 "clustered identity x identity mean cosine similarity")
             + "</div></section>")

    cards_html = []
    for p in doc["hardest_pairs"]:
        faces = "".join(f"<img src='{uri(p[k])}' alt='face of {_e(p[n])}'>" if p.get(k)
                        else "<div class='none'>image not available</div>"
                        for k, n in (("thumb_a", "a"), ("thumb_b", "b")))
        tag = (f"<span class='tag bad'>{_e(p['error'])}</span>" if p["error"]
               else "<span class='tag good'>right at the threshold</span>")
        cards_html.append(f"<div class='pair{' err' if p['error'] else ''}'><div class='faces'>{faces}</div>"
                          f"<div class='meta'>{tag} <b>{_e(p['kind'])}</b> · cosine <b>{_num(p['score'])}</b><br>"
                          f"<span class='path'>{_e(p['a'])}<br>{_e(p['b'])}</span></div></div>")
    note = f"<p class='explain'>{_e(doc['hardest_pairs_note'])}</p>" if doc.get("hardest_pairs_note") else ""
    o.append(f"<section id='hardest'><h2>Hardest pairs</h2><p class='explain'>{_e(EXPLAIN['hardest'])} Space: "
             f"{_e(doc['best_space'])}, threshold {_num(doc['leaderboard'][0]['threshold_used'])}.</p>{note}"
             f"<div class='pairs'>{''.join(cards_html)}</div></section>")

    o.append(f"<section id='lookalikes'><h2>Lookalike identities</h2><p class='explain'>{_e(EXPLAIN['lookalikes'])}</p>"
             + _html_table(["identity", "identity", "centroid cosine", "at the threshold"],
                           [[f"{x['a']} ({x['faces_a']})", f"{x['b']} ({x['faces_b']})", _num(x["similarity"]),
                             x["verdict"]] for x in doc["lookalikes"]]) + "</section>")

    h = doc["health"]
    parts = []
    for title, cols, rows in _health_tables(h):
        if rows:
            parts.append(f"<h3>{_e(title)}</h3>" + _html_table(cols, rows))
        else:
            parts.append(f"<h3 class='ok'>✓ {_e(title.split(' (')[0])}: none</h3>")
    o.append(f"<section id='health'><h2>Dataset health</h2><p class='explain'>{_e(EXPLAIN['health'])} Space: "
             f"{_e(h['space'])}; duplicates at cosine ≥ {h['duplicate_threshold']}.</p>{''.join(parts)}</section>")
    o.append(f"<footer>facevault {_e(doc['facevault'])} · report.json holds every number on this page</footer>"
             f"</main><script>{_SCRIPT}</script></body></html>")
    return "\n".join(o)


def _md_table(head: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        return ("-" if v is None else str(v)).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(doc: dict) -> str:
    """The report as Markdown; figures are the PNG files in img/ next to it."""
    s, proto, fig = doc["summary"], doc["protocol"], doc["figures"]
    o = [f"# Face recognition evaluation\n\ndataset `{s['dataset_root']}` · store `{s['store']}` · "
         f"{doc['generated']} · facevault {doc['facevault']}\n", f"**How to read this report.** {EXPLAIN['intro']}\n",
         "## Dataset\n", EXPLAIN["dataset"] + "\n",
         f"{s['images']} images, {s['identities']} identities, {s['undecodable']} undecodable, "
         f"{s['missing_files']} files gone.\n",
         _md_table(["space", "faces embedded", "no face", "several faces", "errors"],
                   [[x["space"], x["faces"], x["no_face"], x["multi_face"], x["errors"]] for x in s["spaces"]]) + "\n"]
    head, body, _ = _leader_cols(doc)
    how = EXPLAIN["protocol_file"] if proto["file"] else EXPLAIN["protocol_sample"]
    o += ["## Leaderboard\n", f"**Pairs:** `{proto['name']}`, {proto['pairs']} pairs ({proto['same']} same person, "
          f"{proto['different']} different), {proto['folds']} folds. {how}\n", EXPLAIN["leaderboard"] + "\n",
          _md_table(head, body) + "\n", "### How the threshold was chosen\n",
          f"{EXPLAIN['threshold']} * = chosen on this report's pairs.\n"]
    o += [f"- {r['space']}: threshold {_num(r['threshold_used'])} - {r['threshold_source']}"
          for r in doc["leaderboard"]]
    o += [f"- not evaluated: {r['space']}: {r['error']}" for r in doc["failed"]]
    o += ["\n## ROC and DET\n", EXPLAIN["roc"] + "\n", EXPLAIN["det"] + "\n",
          f"![ROC]({fig['roc']}) ![DET]({fig['det']})\n", "## Score distributions\n", EXPLAIN["distributions"] + "\n"]
    o += [f"![{r['space']}]({fig['distribution-' + str(r['rank'])]})" for r in doc["leaderboard"]]
    if "cmc" in fig:
        o += ["\n## Identification\n", EXPLAIN["cmc"] + "\n", _md_table(*_ident_table(doc)) + "\n",
              f"![CMC]({fig['cmc']})"]
    o += ["\n## Identity similarity\n", f"{EXPLAIN['heatmap']} Space: {doc['heatmap']['space']}. "
          f"{doc['heatmap']['note']}\n", f"![identity similarity]({fig['heatmap']})\n",
          "## Hardest pairs\n", f"{EXPLAIN['hardest']} Space: {doc['best_space']}, threshold "
          f"{_num(doc['leaderboard'][0]['threshold_used'])}.\n"]
    if doc.get("hardest_pairs_note"):
        o.append(doc["hardest_pairs_note"] + "\n")
    o.append(_md_table(["faces", "pair", "cosine", "at the threshold", "image a", "image b"], [
        [" ".join(f"![]({p[k]})" for k in ("thumb_a", "thumb_b") if p.get(k)), p["kind"], _num(p["score"]),
         p["error"] or "right", p["a"], p["b"]] for p in doc["hardest_pairs"]]) + "\n")
    o += ["## Lookalike identities\n", EXPLAIN["lookalikes"] + "\n",
          _md_table(["identity", "identity", "centroid cosine", "at the threshold"],
                    [[f"{x['a']} ({x['faces_a']})", f"{x['b']} ({x['faces_b']})", _num(x["similarity"]), x["verdict"]]
                     for x in doc["lookalikes"]]) + "\n", "## Dataset health\n",
          f"{EXPLAIN['health']} Space: {doc['health']['space']}.\n"]
    for title, cols, rows in _health_tables(doc["health"]):
        o.append(f"### {title}\n\n" + (_md_table(cols, rows) if rows else "none") + "\n")
    return "\n".join(o) + "\n"
