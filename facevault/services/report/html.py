"""The report as one self-contained HTML page: inline CSS, figures and faces as data URIs, no external resource.

A document in (the JSON that `facevault.services.report.build.build` assembles), a string out; the only files
read are the PNGs that `data_uri` embeds.
"""

from __future__ import annotations

import base64
from pathlib import Path

from facevault.services.report.sections import (
    EXPLAIN,
    health_tables,
    identification_table,
    leaderboard_table,
    num,
)

__all__ = ["data_uri", "render_html"]


def data_uri(path: Path) -> str:
    """A PNG file as a data URI, so the page needs no file next to it."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


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


def _html_table(head: list[str], rows: list[list], best: list[bool] | None = None) -> str:
    def cls(v) -> str:
        s = str(v)
        return ' class="n"' if s[:1].isdigit() or s[:1] in "-+" and len(s) > 1 else ""
    out = ["<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for i, r in enumerate(rows):
        tr = ' class="best"' if best and best[i] else ""
        out.append(f"<tr{tr}>" + "".join(f"<td{cls(v)}>{_e(v)}</td>" for v in r) + "</tr>")
    return "".join(out) + "</tbody></table>"


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

    head, body, best = leaderboard_table(doc)
    how = EXPLAIN["protocol_file"] if proto["file"] else EXPLAIN["protocol_sample"]
    o.append(f"<section id='leaderboard'><h2>Leaderboard</h2><p class='explain'><b>Pairs:</b> <code>{_e(proto['name'])}"
             f"</code>, {proto['pairs']} pairs ({proto['same']} same person, {proto['different']} different), "
             f"{proto['folds']} folds. {_e(how)}</p><p class='explain'>{_e(EXPLAIN['leaderboard'])}</p>"
             + _html_table(head, body, best)
             + f"<h3>How the threshold was chosen</h3><p class='explain'>{_e(EXPLAIN['threshold'])} "
               "* = chosen on this report's pairs.</p>"
             + "".join(f"<p class='explain'>{_e(r['space'])}: threshold {num(r['threshold_used'])} - "
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
                 + _html_table(*identification_table(doc))
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
                          f"<div class='meta'>{tag} <b>{_e(p['kind'])}</b> · cosine <b>{num(p['score'])}</b><br>"
                          f"<span class='path'>{_e(p['a'])}<br>{_e(p['b'])}</span></div></div>")
    note = f"<p class='explain'>{_e(doc['hardest_pairs_note'])}</p>" if doc.get("hardest_pairs_note") else ""
    o.append(f"<section id='hardest'><h2>Hardest pairs</h2><p class='explain'>{_e(EXPLAIN['hardest'])} Space: "
             f"{_e(doc['best_space'])}, threshold {num(doc['leaderboard'][0]['threshold_used'])}.</p>{note}"
             f"<div class='pairs'>{''.join(cards_html)}</div></section>")

    o.append(f"<section id='lookalikes'><h2>Lookalike identities</h2><p class='explain'>{_e(EXPLAIN['lookalikes'])}</p>"
             + _html_table(["identity", "identity", "centroid cosine", "at the threshold"],
                           [[f"{x['a']} ({x['faces_a']})", f"{x['b']} ({x['faces_b']})", num(x["similarity"]),
                             x["verdict"]] for x in doc["lookalikes"]]) + "</section>")

    h = doc["health"]
    parts = []
    for title, cols, rows in health_tables(h):
        if rows:
            parts.append(f"<h3>{_e(title)}</h3>" + _html_table(cols, rows))
        else:
            parts.append(f"<h3 class='ok'>✓ {_e(title.split(' (')[0])}: none</h3>")
    o.append(f"<section id='health'><h2>Dataset health</h2><p class='explain'>{_e(EXPLAIN['health'])} Space: "
             f"{_e(h['space'])}; duplicates at cosine ≥ {h['duplicate_threshold']}.</p>{''.join(parts)}</section>")
    o.append(f"<footer>facevault {_e(doc['facevault'])} · report.json holds every number on this page</footer>"
             f"</main><script>{_SCRIPT}</script></body></html>")
    return "\n".join(o)
