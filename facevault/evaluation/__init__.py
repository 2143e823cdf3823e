"""Evaluation as pure functions: arrays in, dataclasses out; no I/O, no catalog.

Modules, each building only on those before it:

- `counts`: input validation and cumulative accept counts (the primitives the others share);
- `metric`: cosine and Euclidean scores as similarities, thresholds back in each metric's units;
- `curves`: ROC, DET, AUC, EER, TAR@FAR from scored pairs;
- `accuracy`: accuracy at a threshold, the best threshold, k-fold accuracy, the study's rule;
- `histogram`: the same curves from fixed-bin score histograms;
- `bootstrap`: percentile confidence intervals (proportions, TAR@FAR from pairs or histograms);
- `verification`: `VerificationReport` and its two builders (scored pairs, histogram);
- `allpairs`: every pair of a set of vectors into a score histogram, in blocks;
- `identification`: closed- and open-set identification with a seeded gallery/probe split;
- `similarity`: identity x identity mean similarity and its clustering order.

The public names of all of them are importable from this package.
"""

from facevault.evaluation.accuracy import (
    FoldResult,
    accuracy_at,
    assign_folds,
    best_threshold,
    kfold_accuracy,
    study_rule_threshold,
)
from facevault.evaluation.allpairs import all_pairs_histogram, pair_counts
from facevault.evaluation.bootstrap import (
    bootstrap_histogram_tar_at_far,
    bootstrap_proportion_ci,
    bootstrap_tar_at_far,
)
from facevault.evaluation.curves import (
    ALL_PAIRS_FARS,
    DEFAULT_FARS,
    Det,
    Roc,
    TarAtFar,
    auc,
    det,
    det_from_roc,
    eer,
    roc,
    tar_at_far,
)
from facevault.evaluation.histogram import (
    ScoreHistogram,
    bin_index,
    histogram,
    histogram_accuracy_at,
    histogram_auc,
    histogram_best_threshold,
    histogram_eer,
    histogram_roc,
    histogram_tar_at_far,
)
from facevault.evaluation.identification import (
    IdentificationReport,
    OpenSetPoint,
    identify,
)
from facevault.evaluation.metric import (
    METRICS,
    check_metric,
    in_metric_units,
    metric_range,
    metric_rule,
    metric_scores,
)
from facevault.evaluation.similarity import cluster_order, mean_similarity
from facevault.evaluation.verification import (
    VerificationReport,
    histogram_report,
    verification_report,
)

__all__ = [
    "ALL_PAIRS_FARS", "DEFAULT_FARS", "METRICS", "Det", "FoldResult", "IdentificationReport", "OpenSetPoint", "Roc",
    "ScoreHistogram", "TarAtFar", "VerificationReport", "accuracy_at", "all_pairs_histogram", "assign_folds", "auc",
    "best_threshold", "bin_index", "bootstrap_histogram_tar_at_far", "bootstrap_proportion_ci",
    "bootstrap_tar_at_far", "check_metric", "cluster_order", "det", "det_from_roc", "eer", "histogram",
    "histogram_accuracy_at", "histogram_auc", "histogram_best_threshold", "histogram_eer", "histogram_report",
    "histogram_roc", "histogram_tar_at_far", "identify", "in_metric_units", "kfold_accuracy", "mean_similarity",
    "metric_range", "metric_rule", "metric_scores", "pair_counts", "roc", "study_rule_threshold", "tar_at_far",
    "verification_report",
]
