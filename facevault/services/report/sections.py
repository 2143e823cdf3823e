"""What both pages of the report say: the words that explain each section, and the tables they show, as rows
of plain cells built from the report's JSON document.
"""

from __future__ import annotations

__all__ = ["EXPLAIN", "health_tables", "identification_table", "leaderboard_table", "num", "pct"]


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


def num(x, d: int = 4) -> str:
    return "-" if x is None else f"{x:.{d}f}"


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _tar(row: dict, far: float) -> str | None:
    for t in row.get("tar_at_far", []):
        if abs(t["far_target"] - far) < 1e-12:
            return pct(t["tar"]) if t["sufficient"] else "-"
    return None


def leaderboard_table(doc: dict) -> tuple[list[str], list[list], list[bool]]:
    rows = doc["leaderboard"]
    has_id = any(r.get("identification") for r in rows)
    head = ["#", "space", "accuracy", "AUC", "EER", "TAR @ FAR 1%", "TAR @ FAR 0.1%", "threshold", "FAR / FRR there",
            "no-face pairs"] + (["rank-1 identification"] if has_id else []) + ["images/s"]
    body = []
    for r in rows:
        at = r["at_threshold"]
        thr = num(r["threshold_used"]) + ("" if r["threshold_stored"] else " *")
        ident = r.get("identification") or {}
        body.append([r["rank"], r["space"], f"{pct(r['accuracy'])} ± {100 * r['accuracy_std']:.2f}", num(r["auc"]),
                     pct(r["eer"]), _tar(r, 1e-2), _tar(r, 1e-3), thr, f"{pct(at['far'])} / {pct(at['frr'])}",
                     r["missing"]] + ([pct(ident.get("rank1"))] if has_id else [])
                    + [num(r["images_per_second"], 1)])
    return head, body, [i == 0 for i in range(len(rows))]


def identification_table(doc: dict) -> tuple[list[str], list[list]]:
    def ci(x) -> str:
        return "" if not x else f" ({100 * x[0]:.1f}-{100 * x[1]:.1f}%)"
    rows = [[r["space"], pct(i["rank1"]) + ci(i.get("rank1_ci")), pct(i["rank5"]) + ci(i.get("rank5_ci")),
             i.get("probes"), i.get("identities")]
            for r in doc["leaderboard"] if (i := r.get("identification"))]
    return ["space", "rank-1 (95% CI)", "rank-5 (95% CI)", "queries", "gallery identities"], rows


def health_tables(h: dict) -> list[tuple[str, list[str], list[list]]]:
    t = {k: f"{v}, first {len(h[k])} shown" if v > len(h[k]) else str(v) for k, v in h["totals"].items()}
    return [
        (f"likely mislabels ({t['mislabels']})", ["image", "labelled", "nearest identity", "own", "nearest", "margin"],
         [[m["path"], m["identity"], m["nearest"], num(m["own_similarity"]), num(m["nearest_similarity"]),
           num(m["margin"])] for m in h["mislabels"]]),
        (f"duplicates across identities ({t['duplicates']})", ["image a", "image b", "cosine", "identical file"],
         [[d["a"], d["b"], num(d["similarity"]), "yes" if d["identical_file"] else "no"] for d in h["duplicates"]]),
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
