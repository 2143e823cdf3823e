"""Tests for facevault.evaluation (curves, accuracy, histogram, bootstrap, reports): hand-computed cases plus parity with scikit-learn."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from facevault import evaluation as m
from facevault.evaluation.bootstrap import _resample_counts, _resampled_tars

T, F = True, False
PERFECT_S = [0.9, 0.8, 0.3, 0.1]
PERFECT_L = [T, T, F, F]


# ---------- ROC / AUC / EER: hand-computed ----------

def test_roc_perfect_separation():
    r = m.roc(PERFECT_S, PERFECT_L)
    np.testing.assert_allclose(r.far, [0, 0, 0, 0.5, 1])
    np.testing.assert_allclose(r.tar, [0, 0.5, 1, 1, 1])
    assert r.thresholds[0] == np.inf
    np.testing.assert_allclose(r.thresholds[1:], [0.9, 0.8, 0.3, 0.1])


def test_auc_and_eer_perfect():
    assert m.auc(PERFECT_S, PERFECT_L) == pytest.approx(1.0)
    rate, thr = m.eer(PERFECT_S, PERFECT_L)
    assert rate == pytest.approx(0.0)
    assert thr == pytest.approx(0.8)


def test_auc_inverted_is_zero():
    assert m.auc(PERFECT_S, [F, F, T, T]) == pytest.approx(0.0)


def test_ties_form_one_roc_point_and_count_half():
    s, lab = [0.5, 0.5, 0.5, 0.2], [T, F, T, F]
    r = m.roc(s, lab)
    np.testing.assert_allclose(r.far, [0, 0.5, 1])
    np.testing.assert_allclose(r.tar, [0, 1, 1])
    # pos {0.5, 0.5} vs neg {0.5, 0.2}: two ties (1/2 each) + two wins = 3 of 4
    assert m.auc(s, lab) == pytest.approx(0.75)
    # crossing between (0,0,+inf) and (0.5,1,0.5): FAR = 0.5t, FRR = 1-t -> t = 2/3, EER = 1/3
    rate, thr = m.eer(s, lab)
    assert rate == pytest.approx(1 / 3)
    assert thr == 0.5  # upper point is +inf, so the first real threshold is reported


def test_eer_interpolates_between_points():
    s = [0.9, 0.8, 0.7, 0.6, 0.5]
    lab = [T, F, F, T, T]
    # points: (FAR, FRR) = (.5, 2/3) at .8 and (1, 2/3) at .7 -> FAR-FRR goes -1/6 -> 1/3, t = 1/3
    rate, thr = m.eer(s, lab)
    assert rate == pytest.approx(2 / 3)
    assert thr == pytest.approx(0.8 - 0.1 / 3)


def test_eer_exact_crossing():
    rate, thr = m.eer([0.9, 0.8, 0.7, 0.6], [T, F, T, F])
    assert rate == pytest.approx(0.5)
    assert thr == pytest.approx(0.8)


def test_roc_arrays_are_read_only():
    r = m.roc(PERFECT_S, PERFECT_L)
    with pytest.raises(ValueError):
        r.far[0] = 1.0


# ---------- TAR @ FAR ----------

NEG10 = [i / 10 for i in range(10)]  # 0.0 .. 0.9


def test_tar_at_far_picks_lowest_threshold_within_budget():
    s = NEG10 + [0.95, 0.85, 0.5]
    lab = [F] * 10 + [T, T, T]
    res = m.tar_at_far(s, lab, 0.1)  # 10 negatives -> one false accept allowed
    assert res.sufficient
    assert res.tar == pytest.approx(2 / 3)
    assert res.far_achieved == pytest.approx(0.1)
    assert res.threshold == pytest.approx(0.85)
    assert res.far_target == 0.1


def test_tar_at_far_insufficient_negatives():
    s = NEG10 + [0.95]
    lab = [F] * 10 + [T]
    res = m.tar_at_far(s, lab, 0.01)  # needs >= 100 negatives
    assert res == m.TarAtFar(0.01, None, None, None, False)
    assert m.tar_at_far(s, lab, 0.1).sufficient


def test_tar_at_far_nothing_qualifies_rejects_all():
    s = NEG10[:8] + [0.99, 0.99, 0.5]  # two negatives tied at the top score
    lab = [F] * 10 + [T]
    res = m.tar_at_far(s, lab, 0.1)
    assert res.sufficient and res.tar == 0.0 and res.far_achieved == 0.0
    assert res.threshold > 0.99 and math.isfinite(res.threshold)


def test_tar_at_far_rejects_bad_target():
    with pytest.raises(ValueError):
        m.tar_at_far(PERFECT_S, PERFECT_L, 0.0)


# ---------- best threshold / accuracy ----------

def test_best_threshold_perfect_is_midpoint():
    thr, acc = m.best_threshold(PERFECT_S, PERFECT_L)
    assert acc == 1.0
    assert 0.3 < thr < 0.8
    assert thr == pytest.approx(0.55)


def test_best_threshold_plateau_median():
    # candidates <.1, .15, .25, .35, .45, .55, >.6 -> correct 3,4,3,4,3,4,3 -> best {.15,.35,.55}, median .35
    thr, acc = m.best_threshold([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [F, T, F, T, F, T])
    assert acc == pytest.approx(4 / 6)
    assert thr == pytest.approx(0.35)
    # even number of best candidates (.15 and .35): the lower middle one
    thr, acc = m.best_threshold([0.1, 0.2, 0.3, 0.4], [F, T, F, T])
    assert acc == pytest.approx(0.75)
    assert thr == pytest.approx(0.15)


def test_best_threshold_extremes():
    thr, acc = m.best_threshold([0.2, 0.4], [T, T])
    assert acc == 1.0 and thr < 0.2
    thr, acc = m.best_threshold([0.2, 0.4], [F, F])
    assert acc == 1.0 and thr > 0.4


def test_missing_counted_wrong():
    thr, acc = m.best_threshold([0.9, 0.1], [T, F], missing_pos=1, missing_neg=1)
    assert acc == pytest.approx(0.5)
    assert m.accuracy_at([0.9, 0.1], [T, F], 0.5, missing=2) == pytest.approx(0.5)
    assert m.accuracy_at([0.9, 0.1], [T, F], 0.5) == 1.0
    assert m.accuracy_at([], [], 0.5, missing=3) == 0.0


def test_accuracy_at_uses_ge():
    assert m.accuracy_at([0.5, 0.4], [T, F], 0.5) == 1.0


def _brute_best(s, lab):
    u = np.unique(s)
    cands = np.r_[u[0] - 1, (u[1:] + u[:-1]) / 2, u[-1] + 1]
    accs = np.array([np.mean((s >= c) == lab) for c in cands])
    best = np.flatnonzero(accs == accs.max())
    return best[(len(best) - 1) // 2], accs.max(), cands


@pytest.mark.parametrize("seed", range(5))
def test_best_threshold_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    s = np.round(rng.normal(size=60), 1)
    lab = rng.random(60) < 0.5
    thr, acc = m.best_threshold(s, lab)
    j, best_acc, cands = _brute_best(s, lab)
    assert acc == pytest.approx(best_acc)
    assert m.accuracy_at(s, lab, thr) == pytest.approx(best_acc)
    if 0 < j < len(cands) - 1:
        assert thr == pytest.approx(cands[j])


# ---------- k-fold ----------

def _two_fold_case():
    # fold 0: pos .6 .7, neg .2 .3 (own best .45); fold 1: pos .9 .95, neg .65 .5 (own best .775)
    s = np.array([0.6, 0.9, 0.2, 0.95, 0.7, 0.65, 0.3, 0.5])
    lab = np.array([T, T, F, T, T, F, F, F])
    folds = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    return s, lab, folds


def test_kfold_thresholds_come_from_other_folds():
    s, lab, folds = _two_fold_case()
    res = m.kfold_accuracy(s, lab, folds)
    np.testing.assert_allclose(res.thresholds, [0.775, 0.45])  # fold 0 tested with fold 1's threshold
    np.testing.assert_allclose(res.accuracies, [0.5, 0.5])  # own-fold thresholds would give 1.0
    assert res.mean == pytest.approx(0.5) and res.std == pytest.approx(0.0)


def test_kfold_missing_counted_wrong_everywhere():
    s, lab, folds = _two_fold_case()
    s = np.r_[s, np.nan]
    lab = np.r_[lab, T]
    folds = np.r_[folds, 0]
    miss = np.isnan(s)
    res = m.kfold_accuracy(s, lab, folds, miss)
    np.testing.assert_allclose(res.thresholds, [0.775, 0.45])
    np.testing.assert_allclose(res.accuracies, [2 / 5, 0.5])
    assert res.std == pytest.approx(np.std([0.4, 0.5], ddof=1))


def test_kfold_ignores_score_of_missing_pair():
    s, lab, folds = _two_fold_case()
    s = np.r_[s, 0.4]  # a stale score under the mask must not be used (it would move fold 0's best to .5)
    lab = np.r_[lab, F]
    folds = np.r_[folds, 0]
    miss = np.r_[np.zeros(8, bool), T]
    res = m.kfold_accuracy(s, lab, folds, miss)
    np.testing.assert_allclose(res.thresholds, [0.775, 0.45])
    np.testing.assert_allclose(res.accuracies, [2 / 5, 0.5])


def test_kfold_nan_without_mask_raises():
    s, lab, folds = _two_fold_case()
    s[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.kfold_accuracy(s, lab, folds)


def test_kfold_needs_two_folds():
    with pytest.raises(ValueError):
        m.kfold_accuracy(PERFECT_S, PERFECT_L, [0, 0, 0, 0])


def test_assign_folds_balanced_and_seeded():
    f = m.assign_folds(23, 10, seed=1)
    assert sorted(np.bincount(f).tolist()) == [2] * 7 + [3] * 3
    np.testing.assert_array_equal(f, m.assign_folds(23, 10, seed=1))
    assert not np.array_equal(f, m.assign_folds(23, 10, seed=2))


# ---------- study rule ----------

def test_study_rule_threshold():
    # same-pair distances .1 and .3: mean .2 + std .1 = .3 -> similarity threshold .7
    assert m.study_rule_threshold([0.9, 0.7, 0.1], [T, T, F]) == pytest.approx(0.7)


# ---------- validation ----------

@pytest.mark.parametrize("fn", [m.roc, m.auc, m.eer, m.best_threshold, m.study_rule_threshold])
def test_empty_and_mismatch_raise(fn):
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(ValueError, match="length"):
        fn([0.1, 0.2], [T])


@pytest.mark.parametrize("fn", [m.roc, m.auc, m.eer])
def test_single_class_raises(fn):
    with pytest.raises(ValueError, match="positive and negative"):
        fn([0.1, 0.2], [T, T])
    with pytest.raises(ValueError, match="positive and negative"):
        fn([0.1, 0.2], [F, F])


def test_nan_scores_raise():
    with pytest.raises(ValueError, match="NaN"):
        m.auc([0.1, np.nan], [T, F])


# ---------- report ----------

def test_verification_report():
    s, lab, folds = _two_fold_case()
    s = np.r_[s, np.nan]
    lab = np.r_[lab, F]
    folds = np.r_[folds, 1]
    miss = np.isnan(s)
    rep = m.verification_report(s, lab, folds, miss, fars=(0.25, 0.01))
    assert (rep.pairs, rep.positives, rep.negatives, rep.missing) == (9, 4, 5, 1)
    assert rep.fold_accuracies == pytest.approx([0.5, 0.4])
    assert rep.threshold == pytest.approx((0.775 + 0.45) / 2)
    assert rep.auc == pytest.approx(m.auc(s[:8], lab[:8]))
    assert rep.tar_at_far[0].sufficient and not rep.tar_at_far[1].sufficient
    scored_pos = s[:8][lab[:8]]
    assert rep.study_threshold == pytest.approx(scored_pos.mean() - scored_pos.std())
    d = rep.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["tar_at_far"][1]["tar"] is None
    assert isinstance(d["tar_at_far"][0], dict)


# ---------- scikit-learn parity ----------

@pytest.mark.parametrize("seed", range(3))
def test_sklearn_parity(seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    lab = rng.random(1000) < 0.4
    s = np.round(rng.normal(size=1000) + 0.8 * lab, 1)  # coarse rounding -> many ties
    assert len(np.unique(s)) < 200
    assert m.auc(s, lab) == pytest.approx(sk.roc_auc_score(lab, s), abs=1e-6)
    fpr, tpr, thr = sk.roc_curve(lab, s, drop_intermediate=False)
    r = m.roc(s, lab)
    np.testing.assert_allclose(r.far, fpr, atol=1e-6)
    np.testing.assert_allclose(r.tar, tpr, atol=1e-6)
    np.testing.assert_allclose(r.thresholds[1:], thr[1:], atol=1e-6)
    assert r.thresholds[0] == np.inf
    # EER lies where the interpolated curves cross: FAR == FRR on the segment
    rate, _ = m.eer(s, lab)
    frr = 1 - tpr
    i = np.argmax(fpr >= frr)
    assert min(fpr[i - 1], frr[i]) - 1e-9 <= rate <= max(fpr[i], frr[i - 1]) + 1e-9


# ---------- metric variants ----------

def test_metric_scores_hand_computed():
    # cos .6, raw norms 2 and 3: ||a-b||^2 = 4 + 9 - 2*2*3*.6 = 5.8
    assert m.metric_scores([0.6], "euclidean", [2.0], [3.0])[0] == pytest.approx(-math.sqrt(5.8))
    assert m.metric_scores([0.5], "euclidean_l2")[0] == pytest.approx(-1.0)  # sqrt(2 - 2 * .5)
    assert m.metric_scores([1.0 + 1e-7], "euclidean_l2")[0] == 0.0  # rounding above 1 is clipped, not NaN
    np.testing.assert_array_equal(m.metric_scores([0.3, -0.2], "cosine"), [0.3, -0.2])


def test_metric_scores_match_raw_vectors():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 16)) * 3, rng.normal(size=(50, 16))
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = np.sum((a / na[:, None]) * (b / nb[:, None]), axis=1)
    np.testing.assert_allclose(-m.metric_scores(cos, "euclidean", na, nb), np.linalg.norm(a - b, axis=1), rtol=1e-9)
    np.testing.assert_allclose(-m.metric_scores(cos, "euclidean_l2"),
                               np.linalg.norm(a / na[:, None] - b / nb[:, None], axis=1), rtol=1e-9)


def test_euclidean_without_norms_is_refused():
    with pytest.raises(ValueError, match="unavailable"):
        m.metric_scores([0.5, 0.2], "euclidean", [1.0, np.nan], [1.0, 1.0])
    with pytest.raises(ValueError, match="norms"):
        m.metric_scores([0.5], "euclidean")
    with pytest.raises(ValueError, match="unknown metric"):
        m.metric_scores([0.5], "manhattan")


def test_report_thresholds_in_metric_units():
    rng = np.random.default_rng(3)
    lab = rng.random(400) < 0.5
    cos = np.clip(rng.normal(size=400) * 0.2 + 0.4 * lab, -1, 1)
    folds = m.assign_folds(400, 10, 0)
    rc = m.verification_report(cos, lab, folds, bootstrap=0)
    dist = np.sqrt(2 - 2 * cos)
    rl = m.verification_report(m.metric_scores(cos, "euclidean_l2"), lab, folds, metric="euclidean_l2", bootstrap=0)
    # a monotone transform keeps every partition: same accuracies, AUC, EER rate, TARs
    assert rl.fold_accuracies == pytest.approx(rc.fold_accuracies)
    assert (rl.auc, rl.eer) == pytest.approx((rc.auc, rc.eer))
    assert [t.tar for t in rl.tar_at_far] == [t.tar for t in rc.tar_at_far]
    assert rl.metric == "euclidean_l2" and rl.threshold > 0
    # thresholds are distances now: "same iff distance <= threshold" reproduces the TAR and FAR
    t = rl.tar_at_far[0]
    assert np.mean(dist[lab] <= t.threshold) == pytest.approx(t.tar)
    assert np.mean(dist[~lab] <= t.threshold) == pytest.approx(t.far_achieved)
    at_l2 = m.accuracy_at(-dist, lab, -rl.eer_threshold)
    assert at_l2 == pytest.approx(m.accuracy_at(cos, lab, rc.eer_threshold), abs=0.01)


def test_sklearn_parity_euclidean_and_accuracy():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    lab = rng.random(500) < 0.4
    raw_a, raw_b = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    raw_b[lab] = raw_a[lab] + 0.7 * rng.normal(size=(int(lab.sum()), 8))
    dist = np.linalg.norm(raw_a - raw_b, axis=1)
    na, nb = np.linalg.norm(raw_a, axis=1), np.linalg.norm(raw_b, axis=1)
    cos = np.sum(raw_a * raw_b, axis=1) / (na * nb)
    s = m.metric_scores(cos, "euclidean", na, nb)
    assert m.auc(s, lab) == pytest.approx(sk.roc_auc_score(lab, -dist), abs=1e-9)
    thr, acc = m.best_threshold(s, lab)
    assert acc == pytest.approx(sk.accuracy_score(lab, dist <= -thr))
    assert m.accuracy_at(s, lab, thr) == pytest.approx(sk.accuracy_score(lab, s >= thr))


# ---------- DET ----------

def test_det_is_one_minus_tar():
    d = m.det(PERFECT_S, PERFECT_L)
    np.testing.assert_allclose(d.far, [0, 0, 0, 0.5, 1])
    np.testing.assert_allclose(d.frr, [1, 0.5, 0, 0, 0])


def test_det_contains_sklearn_points():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    lab = rng.random(300) < 0.5
    s = np.round(rng.normal(size=300) + lab, 2)
    fpr, fnr, thr = sk.det_curve(lab, s)
    d = m.det(s, lab)
    for f, r, t in zip(fpr, fnr, thr):
        j = int(np.flatnonzero(d.thresholds == t)[0])
        assert (d.far[j], d.frr[j]) == pytest.approx((f, r))


# ---------- bootstrap ----------

def test_bootstrap_proportion_ci():
    ci = m.bootstrap_proportion_ci(90, 100, draws=2000, seed=1)
    assert ci[0] < 0.9 < ci[1]
    # normal approximation: 0.9 +- 1.96 * sqrt(.9 * .1 / 100) = [.841, .959]
    assert ci == pytest.approx((0.84, 0.96), abs=0.015)
    assert ci == m.bootstrap_proportion_ci(90, 100, draws=2000, seed=1)
    wide, narrow = m.bootstrap_proportion_ci(9, 10), m.bootstrap_proportion_ci(900, 1000)
    assert wide[1] - wide[0] > narrow[1] - narrow[0]
    assert m.bootstrap_proportion_ci(10, 10) == (1.0, 1.0)
    assert m.bootstrap_proportion_ci(5, 10, draws=0) is None and m.bootstrap_proportion_ci(0, 0) is None


def test_bootstrap_proportion_matches_index_resampling():
    outcome = np.r_[np.ones(70, bool), np.zeros(30, bool)]
    rng = np.random.default_rng(0)
    explicit = outcome[rng.integers(0, 100, (4000, 100))].mean(axis=1)
    lo, hi = np.quantile(explicit, [0.025, 0.975])
    assert m.bootstrap_proportion_ci(70, 100, draws=4000, seed=3) == pytest.approx((lo, hi), abs=0.021)


def test_resampled_tars_equal_tar_at_far_on_each_resample():
    rng = np.random.default_rng(4)
    lab = rng.random(600) < 0.4
    s = np.round(rng.normal(size=600) + lab, 1)  # many ties
    pos, neg = np.sort(s[lab]), np.sort(s[~lab])[::-1]
    pc, nc = _resample_counts(rng, len(pos), 5), _resample_counts(rng, len(neg), 5)
    assert (pc.sum(axis=1) == len(pos)).all() and (nc.sum(axis=1) == len(neg)).all()
    fars = (0.2, 0.05, 0.01)
    got = _resampled_tars(pos, pc, neg, nc, fars)
    for i in range(5):
        ss = np.r_[np.repeat(pos, pc[i]), np.repeat(neg, nc[i])]
        ll = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
        np.testing.assert_allclose(got[i], [m.tar_at_far(ss, ll, f).tar for f in fars])


def test_bootstrap_tar_at_far_intervals():
    rng = np.random.default_rng(5)
    lab = rng.random(3000) < 0.5
    s = rng.normal(size=3000) + 2 * lab
    fars = (0.1, 0.01, 1e-4)
    cis = m.bootstrap_tar_at_far(s, lab, fars, draws=500, seed=0)
    for f, ci in zip(fars[:2], cis):
        point = m.tar_at_far(s, lab, f).tar
        assert ci[0] <= point <= ci[1] and 0 < ci[1] - ci[0] < 0.3
    assert cis[2] is None  # ~1500 negatives cannot resolve 1e-4
    assert cis == m.bootstrap_tar_at_far(s, lab, fars, draws=500, seed=0)
    assert cis != m.bootstrap_tar_at_far(s, lab, fars, draws=500, seed=1)
    assert m.bootstrap_tar_at_far(s, lab, fars, draws=0) == [None, None, None]


def test_report_carries_cis():
    rng = np.random.default_rng(2)
    lab = rng.random(2000) < 0.5
    s = rng.normal(size=2000) + 2.5 * lab
    rep = m.verification_report(s, lab, m.assign_folds(2000, 10, 0), bootstrap=300, seed=4)
    assert rep.accuracy_ci[0] <= rep.accuracy <= rep.accuracy_ci[1]
    assert rep.tar_at_far[0].ci is not None and rep.tar_at_far[-1].ci is None
    assert rep.bootstrap == 300 and rep.cross_validated and "10-fold" in rep.note
    again = m.verification_report(s, lab, m.assign_folds(2000, 10, 0), bootstrap=300, seed=4)
    assert again.to_dict() == rep.to_dict()
    json.dumps(rep.to_dict(), allow_nan=False)


# ---------- histogram curves ----------

def test_histogram_hand_computed():
    h = m.histogram([0.9, 0.6, 0.1, 0.4], [T, T, F, F], 0.0, 1.0, bins=4)
    np.testing.assert_array_equal(h.pos, [0, 0, 1, 1])
    np.testing.assert_array_equal(h.neg, [1, 1, 0, 0])
    assert m.histogram_auc(h) == 1.0
    assert m.histogram_best_threshold(h) == (0.5, 1.0)
    assert m.histogram_eer(h)[0] == 0.0
    r = m.histogram_roc(h)
    np.testing.assert_allclose(r.far, [0, 0, 0, 0.5, 1])
    np.testing.assert_allclose(r.thresholds[1:], [0.75, 0.5, 0.25, 0.0])
    # two scores in one bin are a tie: pos .55 and neg .6 share bin [.5, .75)
    h = m.histogram([0.55, 0.6], [T, F], 0.0, 1.0, bins=4)
    assert m.histogram_auc(h) == 0.5


@pytest.mark.parametrize("seed", range(3))
def test_histogram_metrics_match_exact(seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    lab = rng.random(20000) < 0.2
    s = np.clip(rng.normal(size=20000) * 0.25 + 0.5 * lab, -1, 1)
    h = m.histogram(s, lab, -1.0, 1.0, bins=20000)
    assert m.histogram_auc(h) == pytest.approx(sk.roc_auc_score(lab, s), abs=1e-3)
    e, et = m.eer(s, lab)
    he, het = m.histogram_eer(h)
    assert he == pytest.approx(e, abs=1e-3) and het == pytest.approx(et, abs=1e-3)
    thr, acc = m.best_threshold(s, lab)
    hthr, hacc = m.histogram_best_threshold(h)
    assert hacc == pytest.approx(acc, abs=1e-3) and m.accuracy_at(s, lab, hthr) == pytest.approx(hacc)
    for far in (0.1, 0.01, 0.001):
        exact, hist = m.tar_at_far(s, lab, far), m.histogram_tar_at_far(h, far)
        assert hist.tar == pytest.approx(exact.tar, abs=2e-3)
        assert hist.far_achieved <= far and np.mean(s[~lab] >= hist.threshold) == pytest.approx(hist.far_achieved)


def test_histogram_report_and_bootstrap():
    rng = np.random.default_rng(8)
    lab = rng.random(5000) < 0.3
    s = np.clip(rng.normal(size=5000) * 0.2 + 0.4 * lab, -1, 1)
    h = m.histogram(s, lab, -1.0, 1.0, bins=2000)
    rep = m.histogram_report(h, missing_pos=3, missing_neg=2, fars=(0.1, 0.01, 1e-4), bootstrap=300)
    assert not rep.cross_validated and rep.accuracy_std is None and rep.fold_accuracies == []
    assert "threshold not cross-validated" in rep.note
    assert (rep.pairs, rep.missing) == (5005, 5) and rep.positives == int(lab.sum()) + 3
    assert rep.accuracy_ci[0] <= rep.accuracy <= rep.accuracy_ci[1]
    assert rep.tar_at_far[2].ci is None and not rep.tar_at_far[2].sufficient
    ci, exact_ci = rep.tar_at_far[1].ci, m.bootstrap_tar_at_far(s, lab, (0.01,), draws=300)[0]
    assert ci == pytest.approx(exact_ci, abs=0.03)
    h_l2 = m.histogram(m.metric_scores(s, "euclidean_l2"), lab, -2.0, 0.0, 4000)
    in_l2 = m.histogram_report(h_l2, metric="euclidean_l2", bootstrap=0)
    assert in_l2.threshold == pytest.approx(math.sqrt(2 - 2 * m.histogram_report(h, bootstrap=0).threshold), abs=2e-3)
