"""The report as Markdown, its figures and faces the PNG files in img/ next to it."""

from __future__ import annotations

from facevault.services.report.sections import (
    EXPLAIN,
    health_tables,
    identification_table,
    leaderboard_table,
    num,
)

__all__ = ["render_markdown"]


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
    head, body, _ = leaderboard_table(doc)
    how = EXPLAIN["protocol_file"] if proto["file"] else EXPLAIN["protocol_sample"]
    o += ["## Leaderboard\n", f"**Pairs:** `{proto['name']}`, {proto['pairs']} pairs ({proto['same']} same person, "
          f"{proto['different']} different), {proto['folds']} folds. {how}\n", EXPLAIN["leaderboard"] + "\n",
          _md_table(head, body) + "\n", "### How the threshold was chosen\n",
          f"{EXPLAIN['threshold']} * = chosen on this report's pairs.\n"]
    o += [f"- {r['space']}: threshold {num(r['threshold_used'])} - {r['threshold_source']}"
          for r in doc["leaderboard"]]
    o += [f"- not evaluated: {r['space']}: {r['error']}" for r in doc["failed"]]
    o += ["\n## ROC and DET\n", EXPLAIN["roc"] + "\n", EXPLAIN["det"] + "\n",
          f"![ROC]({fig['roc']}) ![DET]({fig['det']})\n", "## Score distributions\n", EXPLAIN["distributions"] + "\n"]
    o += [f"![{r['space']}]({fig['distribution-' + str(r['rank'])]})" for r in doc["leaderboard"]]
    if "cmc" in fig:
        o += ["\n## Identification\n", EXPLAIN["cmc"] + "\n", _md_table(*identification_table(doc)) + "\n",
              f"![CMC]({fig['cmc']})"]
    o += ["\n## Identity similarity\n", f"{EXPLAIN['heatmap']} Space: {doc['heatmap']['space']}. "
          f"{doc['heatmap']['note']}\n", f"![identity similarity]({fig['heatmap']})\n",
          "## Hardest pairs\n", f"{EXPLAIN['hardest']} Space: {doc['best_space']}, threshold "
          f"{num(doc['leaderboard'][0]['threshold_used'])}.\n"]
    if doc.get("hardest_pairs_note"):
        o.append(doc["hardest_pairs_note"] + "\n")
    o.append(_md_table(["faces", "pair", "cosine", "at the threshold", "image a", "image b"], [
        [" ".join(f"![]({p[k]})" for k in ("thumb_a", "thumb_b") if p.get(k)), p["kind"], num(p["score"]),
         p["error"] or "right", p["a"], p["b"]] for p in doc["hardest_pairs"]]) + "\n")
    o += ["## Lookalike identities\n", EXPLAIN["lookalikes"] + "\n",
          _md_table(["identity", "identity", "centroid cosine", "at the threshold"],
                    [[f"{x['a']} ({x['faces_a']})", f"{x['b']} ({x['faces_b']})", num(x["similarity"]), x["verdict"]]
                     for x in doc["lookalikes"]]) + "\n", "## Dataset health\n",
          f"{EXPLAIN['health']} Space: {doc['health']['space']}.\n"]
    for title, cols, rows in health_tables(doc["health"]):
        o.append(f"### {title}\n\n" + (_md_table(cols, rows) if rows else "none") + "\n")
    return "\n".join(o) + "\n"
