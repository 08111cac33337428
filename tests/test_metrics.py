"""Tests of archmodel.metrics: correlations against SciPy and brute force, top-K metrics on
hand-worked examples and against a slow reference written from the documented definitions,
properties (hypothesis) and input validation."""
from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from archmodel import metrics as M
from archmodel.errors import DataError, ParameterError

TOL = 1e-12


# --------------------------------------------------------------------------------------------
# references written independently of the module
# --------------------------------------------------------------------------------------------
def brute_tau_b(x, y) -> float:
    """O(n^2) tau-b straight from the definition: sum of sign products over all pairs."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(x.size, 1)
    s = float((sx * sy)[iu].sum())  # concordant - discordant
    nx = float(np.count_nonzero(sx[iu]))  # pairs not tied in x = n0 - n_x
    ny = float(np.count_nonzero(sy[iu]))
    if nx == 0 or ny == 0:
        return float("nan")
    return s / math.sqrt(nx * ny)


def ref_true_rank(y_true, i) -> int:
    return 1 + sum(1 for v in y_true if v > y_true[i])


def ref_predicted_top(y_true, y_pred, k):
    """Full sort: y_pred descending, then y_true ascending (pessimistic), then index."""
    order = sorted(range(len(y_pred)), key=lambda i: (-y_pred[i], y_true[i], i))
    return order[:k]


def ref_precision_top(y_true, y_pred, k):
    top = ref_predicted_top(y_true, y_pred, k)
    return sum(1 for i in top if ref_true_rank(y_true, i) <= k) / k


def scipy_stats(x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConstantInputWarning: nan is what we compare to
        return (stats.kendalltau(x, y, variant="b").statistic,
                stats.spearmanr(x, y).statistic,
                stats.pearsonr(x, y).statistic)


def assert_same(value, expected, tol=TOL):
    if np.isnan(expected):
        assert np.isnan(value), (value, expected)
    else:
        assert abs(value - expected) <= tol, (value, expected, value - expected)


# --------------------------------------------------------------------------------------------
# correlations against SciPy
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_correlations_match_scipy_on_integer_data_with_ties(seed):
    rng = np.random.default_rng(seed)
    # sizes include the block edges of the merge sort (16, 32, powers of two +- 1)
    for n in (2, 3, 5, 15, 16, 17, 31, 33, 64, 65, 100, 257, 1000, 1023):
        levels = int(rng.integers(2, 12))
        x = rng.integers(0, levels, n).astype(float)
        y = (rng.integers(0, levels, n) + rng.integers(-1, 2) * x).astype(float)
        tau, rho, r = scipy_stats(x, y)
        assert_same(M.kendall_tau(x, y), tau)
        assert_same(M.spearman(x, y), rho)
        assert_same(M.pearson(x, y), r)


def test_correlations_match_scipy_on_floats_with_ties_large():
    rng = np.random.default_rng(7)
    n = 100_000
    x = np.round(rng.standard_normal(n), 2)  # ~800 distinct values: many ties
    y = np.round(0.3 * x + rng.standard_normal(n), 1)
    tau, rho, r = scipy_stats(x, y)
    assert_same(M.kendall_tau(x, y), tau)
    assert_same(M.spearman(x, y), rho)
    assert_same(M.pearson(x, y), r)
    assert M.kendall_tau(x, y) > 0.1  # the comparison is not between two trivial values


def test_correlations_match_scipy_without_ties():
    rng = np.random.default_rng(3)
    x = rng.random(5000)
    y = x + rng.random(5000)
    tau, rho, r = scipy_stats(x, y)
    assert_same(M.kendall_tau(x, y), tau)
    assert_same(M.spearman(x, y), rho)
    assert_same(M.pearson(x, y), r)


def test_kendall_handles_dtypes_and_lists():
    x = [3, 1, 2, 2, 5]
    y = [True, False, True, False, True]
    expected = brute_tau_b(x, np.asarray(y, dtype=float))
    assert_same(M.kendall_tau(x, y), expected)
    assert_same(M.kendall_tau(np.asarray(x, np.int8), np.asarray(y, np.float32)), expected)


def test_small_hand_computed_kendall():
    # x = 1 2 3 4, y = 1 3 2 4: of the 6 pairs only (2, 3) is discordant -> (5 - 1) / 6
    assert M.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6, abs=1e-15)
    # x = 1 1 2, y = 1 2 3: pair (0, 1) tied in x; the other 2 are concordant; n0 = 3, n_x = 1
    # tau_b = 2 / sqrt((3 - 1) * (3 - 0))
    assert M.kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6), abs=1e-15)


@pytest.mark.parametrize("func", [M.kendall_tau, M.spearman, M.pearson])
def test_constant_input_gives_nan(func):
    assert np.isnan(func([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert np.isnan(func([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]))
    assert np.isnan(func([2.0, 2.0], [2.0, 2.0]))


def test_count_inversions_against_brute_force():
    rng = np.random.default_rng(11)
    for n in list(range(0, 70)) + [127, 128, 129, 511, 513]:
        m = max(1, n // 3)
        a = rng.integers(0, m, n).astype(np.int64)
        expected = sum(int(np.count_nonzero(a[i] > a[i + 1:])) for i in range(n))
        assert M._count_inversions(a, m) == expected, n


def test_average_ranks_and_true_ranks():
    rng = np.random.default_rng(5)
    v = rng.integers(0, 6, 40).astype(float)
    np.testing.assert_array_equal(M.average_ranks(v), stats.rankdata(v, method="average"))
    expected = [ref_true_rank(list(v), i) for i in range(v.size)]
    np.testing.assert_array_equal(M.true_ranks(v), expected)
    # competition ranks of [9, 7, 7, 3]: 9 is best; both 7s have one better item; 3 has three
    np.testing.assert_array_equal(M.true_ranks([9, 7, 7, 3]), [1, 2, 2, 4])


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------
int_lists = st.lists(st.integers(-20, 20), min_size=2, max_size=60)


def _non_constant(xs):
    return len(set(xs)) > 1


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_tau_equals_brute_force_and_is_bounded(data):
    n = data.draw(st.integers(2, 60))
    x = data.draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    y = data.draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    tau = M.kendall_tau(x, y)
    assert_same(tau, brute_tau_b(x, y))
    if not np.isnan(tau):
        assert -1.0 <= tau <= 1.0
        assert M.kendall_tau(y, x) == pytest.approx(tau, abs=TOL)  # symmetric


@settings(max_examples=100, deadline=None)
@given(int_lists.filter(_non_constant))
def test_tau_of_x_with_itself_and_its_negation(xs):
    x = np.asarray(xs, dtype=float)
    assert M.kendall_tau(x, x) == pytest.approx(1.0, abs=TOL)
    assert M.kendall_tau(x, -x) == pytest.approx(-1.0, abs=TOL)
    assert M.spearman(x, x) == pytest.approx(1.0, abs=TOL)
    assert M.spearman(x, -x) == pytest.approx(-1.0, abs=TOL)


@settings(max_examples=100, deadline=None)
@given(int_lists.filter(_non_constant), st.data())
def test_rank_correlations_invariant_under_monotone_transforms(xs, data):
    x = np.asarray(xs, dtype=float)
    y = np.asarray(data.draw(st.lists(st.integers(-20, 20), min_size=x.size, max_size=x.size)),
                   dtype=float)
    tau, rho = M.kendall_tau(x, y), M.spearman(x, y)
    # strictly increasing maps that keep distinct integers in [-20, 20] distinct and ties tied
    for f in (lambda v: v ** 3, lambda v: np.exp(v / 4.0), lambda v: 3.0 * v + 7.0,
              np.arctan):
        assert_same(M.kendall_tau(f(x), y), tau)
        assert_same(M.kendall_tau(x, f(y)), tau)
        assert_same(M.spearman(f(x), f(y)), rho)
    # a decreasing map flips the sign
    assert_same(M.kendall_tau(-np.exp(x / 4.0), y), -tau if not np.isnan(tau) else tau)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_top_k_metrics_match_reference(data):
    n = data.draw(st.integers(2, 40))
    y_true = data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    y_pred = data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    k = data.draw(st.integers(1, n))
    top = ref_predicted_top(y_true, y_pred, k)
    ranks = [ref_true_rank(y_true, i) for i in top]
    assert M.precision_at_top_k(y_true, y_pred, k) == pytest.approx(
        ref_precision_top(y_true, y_pred, k), abs=1e-15)
    neg_t, neg_p = [-v for v in y_true], [-v for v in y_pred]
    assert M.precision_at_bottom_k(y_true, y_pred, k) == pytest.approx(
        ref_precision_top(neg_t, neg_p, k), abs=1e-15)
    assert M.n_at_k(y_true, y_pred, k) == min(ranks)
    assert M.best_rank_at_k(y_true, y_pred, k) == min(ranks)
    assert M.worst_rank_at_k(y_true, y_pred, k) == max(ranks)
    assert M.worst_rank_at_k(y_true, y_pred, k, normalize=True) == pytest.approx(max(ranks) / n)
    # a perfect predictor (ties included) finds the truly top / bottom K
    assert M.precision_at_top_k(y_true, y_true, k) == 1.0
    assert M.precision_at_bottom_k(y_true, y_true, k) == 1.0
    assert M.n_at_k(y_true, y_true, k) == 1


def test_precision_matches_set_overlap_without_ties():
    rng = np.random.default_rng(2)
    for _ in range(20):
        n = int(rng.integers(2, 300))
        t, p = rng.random(n), rng.random(n)
        k = int(rng.integers(1, n + 1))
        true_top = set(np.argsort(-t)[:k].tolist())
        pred_top = set(np.argsort(-p)[:k].tolist())
        assert M.precision_at_top_k(t, p, k) == pytest.approx(len(true_top & pred_top) / k)
        true_bot = set(np.argsort(t)[:k].tolist())
        pred_bot = set(np.argsort(p)[:k].tolist())
        assert M.precision_at_bottom_k(t, p, k) == pytest.approx(len(true_bot & pred_bot) / k)


# --------------------------------------------------------------------------------------------
# hand-worked top-K examples
# --------------------------------------------------------------------------------------------
# Ten architectures; y_true decreases with the index, so item i has true rank i + 1.
#   item     0     1     2     3     4     5     6     7     8     9
#   y_true  .90   .85   .80   .75   .70   .65   .60   .55   .50   .45
#   rank     1     2     3     4     5     6     7     8     9    10
#   y_pred  .2    .9    .5    .8    .1    .7    .3    .6    .4    .0
# Predicted order (highest y_pred first): 1, 3, 5, 7, 2, 8, 6, 0, 4, 9.
# K = 3: predicted top {1, 3, 5}, true ranks {2, 4, 6}; true top 3 = {0, 1, 2}; overlap {1}
#        -> precision@top3 = 1/3, N@3 = BR@3 = 2, WR@3 = 6 (fractions 0.2 and 0.6).
# K = 1: predicted top {1} (rank 2) -> precision@top1 = 0, N@1 = 2.
# K = 5: predicted top {1, 3, 5, 7, 2}, ranks {2, 4, 6, 8, 3}; true top 5 = {0..4};
#        overlap {1, 2, 3} -> precision = 3/5, N@5 = 2, WR@5 = 8.
# Bottom K = 3: predicted bottom {9, 4, 0} (y_pred .0, .1, .2); true bottom {7, 8, 9};
#        overlap {9} -> precision@bottom3 = 1/3.
# Bottom K = 5: predicted bottom {9, 4, 0, 6, 8}; true bottom {5..9}; overlap {9, 6, 8} -> 3/5.
Y_TRUE = [0.90, 0.85, 0.80, 0.75, 0.70, 0.65, 0.60, 0.55, 0.50, 0.45]
Y_PRED = [0.2, 0.9, 0.5, 0.8, 0.1, 0.7, 0.3, 0.6, 0.4, 0.0]


def test_hand_example_precision():
    assert M.precision_at_top_k(Y_TRUE, Y_PRED, 3) == pytest.approx(1 / 3)
    assert M.precision_at_top_k(Y_TRUE, Y_PRED, 1) == 0.0
    assert M.precision_at_top_k(Y_TRUE, Y_PRED, 5) == pytest.approx(3 / 5)
    assert M.precision_at_bottom_k(Y_TRUE, Y_PRED, 3) == pytest.approx(1 / 3)
    assert M.precision_at_bottom_k(Y_TRUE, Y_PRED, 5) == pytest.approx(3 / 5)
    # fractions: 0.25 * 10 = 2.5 -> K = ceil(2.5) = 3;  0.5 * 10 -> K = 5
    assert M.precision_at_top_k(Y_TRUE, Y_PRED, 0.25) == pytest.approx(1 / 3)
    assert M.precision_at_top_k(Y_TRUE, Y_PRED, 0.5) == pytest.approx(3 / 5)
    assert M.precision_at_top_k(Y_TRUE, Y_PRED, 1.0) == 1.0  # K = n: everything


def test_hand_example_ranks():
    assert M.n_at_k(Y_TRUE, Y_PRED, 1) == 2
    assert M.n_at_k(Y_TRUE, Y_PRED, 3) == 2
    assert M.best_rank_at_k(Y_TRUE, Y_PRED, 3) == 2
    assert M.worst_rank_at_k(Y_TRUE, Y_PRED, 3) == 6
    assert M.best_rank_at_k(Y_TRUE, Y_PRED, 3, normalize=True) == pytest.approx(0.2)
    assert M.worst_rank_at_k(Y_TRUE, Y_PRED, 3, normalize=True) == pytest.approx(0.6)
    assert M.worst_rank_at_k(Y_TRUE, Y_PRED, 5) == 8
    assert M.n_at_k(Y_TRUE, Y_PRED, 8) == 1  # item 0 enters the predicted top at place 8


def test_hand_example_ties_are_broken_pessimistically():
    # y_true = 3 3 2 1 -> true ranks 1 1 3 4.  y_pred = 0 5 5 5.
    # K = 2: the cut (2nd highest y_pred) is 5, shared by items 1, 2, 3; the two with the
    # lowest y_true are taken: items 3 and 2 (ranks 4 and 3). True top 2 = items of rank <= 2
    # = {0, 1}: overlap 0 -> precision 0, N@2 = 3, WR@2 = 4.
    t, p = [3, 3, 2, 1], [0, 5, 5, 5]
    assert M.precision_at_top_k(t, p, 2) == 0.0
    assert M.n_at_k(t, p, 2) == 3
    assert M.worst_rank_at_k(t, p, 2) == 4
    # K = 3: all of items 1, 2, 3 (ranks 1, 3, 4); ranks <= 3: items 1 and 2 -> 2/3, N@3 = 1
    assert M.precision_at_top_k(t, p, 3) == pytest.approx(2 / 3)
    assert M.n_at_k(t, p, 3) == 1
    # Bottom, K = 1: lowest y_pred is item 0 alone (y_true 3, not the worst) -> 0
    assert M.precision_at_bottom_k(t, p, 1) == 0.0


def test_hand_example_true_ties_at_the_cut_count_as_top():
    # y_true = 5 4 4 1 -> ranks 1 2 2 4; y_pred = 4 1 3 2 -> predicted top 2 = {0, 2}.
    # Item 2 is tied with item 1 for true rank 2 <= K, so it counts: precision 2/2.
    assert M.precision_at_top_k([5, 4, 4, 1], [4, 1, 3, 2], 2) == 1.0


def test_constant_predictor_gets_no_credit():
    # y_true = 0..9 (item 9 best); constant y_pred: the pessimistic tie-break picks the
    # truly worst items 0, 1, 2 (ranks 10, 9, 8) for the top 3 and the best ones for the bottom.
    t = np.arange(10.0)
    p = np.zeros(10)
    assert M.precision_at_top_k(t, p, 3) == 0.0
    assert M.precision_at_bottom_k(t, p, 3) == 0.0
    assert M.n_at_k(t, p, 3) == 8
    assert M.worst_rank_at_k(t, p, 3) == 10


# --------------------------------------------------------------------------------------------
# K resolution
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, n, expected", [
    (0.05, 100, 5), (0.05, 30, 2), (0.07, 100, 7), (0.01, 10, 1), (1.0, 7, 7), (0.5, 3, 2),
    (3, 7, 3), (1, 2, 1), (np.int64(2), 5, 2), (np.float32(0.5), 4, 2),
])
def test_resolve_k(k, n, expected):
    got = M.resolve_k(k, n)
    assert got == expected and type(got) is int


@pytest.mark.parametrize("k", [0, -1, 8, 0.0, -0.5, 1.5, 2.0, True, "5", None, float("nan")])
def test_resolve_k_rejects(k):
    with pytest.raises(ParameterError,
                       match=r"'k' parameter of resolve_k must be an integer in \[1, 7\] \(a "
                             r"count\) or a float in \(0, 1\].*Got .* instead"):
        M.resolve_k(k, 7)


# --------------------------------------------------------------------------------------------
# ranking_report
# --------------------------------------------------------------------------------------------
REQUIRED_KEYS = {"kendall_tau", "spearman", "pearson", "precision_at_top5pct",
                 "precision_at_bottom5pct", "n_at_5", "n_at_10", "br_at_5", "wr_at_5"}


def test_report_keys_and_values():
    rng = np.random.default_rng(9)
    t = rng.integers(0, 50, 400).astype(float)
    p = t + rng.normal(0, 10, 400)
    rep = M.ranking_report(t, p)
    assert REQUIRED_KEYS <= set(rep)
    tau, rho, r = scipy_stats(t, p)
    assert_same(rep["kendall_tau"], tau)
    assert_same(rep["spearman"], rho)
    assert_same(rep["pearson"], r)
    assert rep["n"] == 400 and rep["k_top5pct"] == 20
    assert rep["precision_at_top5pct"] == M.precision_at_top_k(t, p, 20)
    assert rep["precision_at_bottom5pct"] == M.precision_at_bottom_k(t, p, 0.05)
    assert rep["br_at_top5pct"] == M.best_rank_at_k(t, p, 20)
    assert rep["wr_at_top5pct_frac"] == M.worst_rank_at_k(t, p, 20, normalize=True)
    for k in (5, 10):
        assert rep[f"n_at_{k}"] == M.n_at_k(t, p, k) == rep[f"br_at_{k}"]
        assert rep[f"wr_at_{k}"] == M.worst_rank_at_k(t, p, k)
        assert rep[f"br_at_{k}_frac"] == rep[f"br_at_{k}"] / 400
        assert rep[f"wr_at_{k}_frac"] == rep[f"wr_at_{k}"] / 400
    for key, value in rep.items():
        assert type(value) in (int, float), (key, type(value))


def test_report_on_hand_example_and_custom_labels():
    rep = M.ranking_report(Y_TRUE, Y_PRED, top_fraction=0.25, k_values=(3, 1, 3))
    assert rep["k_top25pct"] == 3
    assert rep["precision_at_top25pct"] == pytest.approx(1 / 3)
    assert rep["precision_at_bottom25pct"] == pytest.approx(1 / 3)
    assert (rep["n_at_3"], rep["wr_at_3"], rep["n_at_1"]) == (2, 6, 2)
    assert [k for k in rep if k.startswith("n_at_")] == ["n_at_3", "n_at_1"]
    assert "precision_at_top2.5pct" in M.ranking_report(np.arange(50.0), np.arange(50.0),
                                                        top_fraction=0.025, k_values=())


def test_report_constant_prediction():
    rep = M.ranking_report(np.arange(20.0), np.ones(20))
    assert np.isnan(rep["kendall_tau"]) and np.isnan(rep["spearman"]) and np.isnan(rep["pearson"])
    assert rep["precision_at_top5pct"] == 0.0 and rep["n_at_5"] == 16


@pytest.mark.parametrize("kwargs, match", [
    ({"top_fraction": 0.0}, r"'top_fraction' parameter of ranking_report must be a float in "
                            r"\(0, 1\]\. Got 0\.0 instead"),
    ({"top_fraction": 5}, r"'top_fraction' .* Got 5 instead"),
    ({"k_values": (5, 30)}, r"'k_values' parameter of ranking_report must contain integers in "
                            r"\[1, 20\].*Got 30 in \(5, 30\) instead"),
    ({"k_values": (0.5,)}, r"'k_values' .* Got 0\.5 in"),
    ({"k_values": 5}, r"'k_values' parameter of ranking_report must be an iterable of integers"),
])
def test_report_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        M.ranking_report(np.arange(20.0), np.arange(20.0), **kwargs)


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------
ALL_PAIR_FUNCS = [
    (M.kendall_tau, ("x", "y"), {}),
    (M.spearman, ("x", "y"), {}),
    (M.pearson, ("x", "y"), {}),
    (M.precision_at_top_k, ("y_true", "y_pred"), {"k": 1}),
    (M.precision_at_bottom_k, ("y_true", "y_pred"), {"k": 1}),
    (M.n_at_k, ("y_true", "y_pred"), {"k": 1}),
    (M.best_rank_at_k, ("y_true", "y_pred"), {"k": 1}),
    (M.worst_rank_at_k, ("y_true", "y_pred"), {"k": 1}),
    (M.ranking_report, ("y_true", "y_pred"), {}),
]
IDS = [f[0].__name__ for f in ALL_PAIR_FUNCS]


@pytest.mark.parametrize("func, names, kw", ALL_PAIR_FUNCS, ids=IDS)
def test_different_lengths(func, names, kw):
    with pytest.raises(DataError, match=rf"{names[0]} and {names[1]} must have the same "
                                        r"length; got 3 and 2 items"):
        func([1.0, 2.0, 3.0], [1.0, 2.0], **kw)


@pytest.mark.parametrize("func, names, kw", ALL_PAIR_FUNCS, ids=IDS)
def test_too_few_items(func, names, kw):
    with pytest.raises(DataError, match=rf"{func.__name__} needs at least 2 items in "
                                        rf"{names[0]} and {names[1]}; got 1"):
        func([1.0], [2.0], **kw)


@pytest.mark.parametrize("func, names, kw", ALL_PAIR_FUNCS, ids=IDS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values(func, names, kw, bad):
    with pytest.raises(DataError, match=rf"{names[1]} must contain only finite values \(no NaN "
                                        rf"or inf\); got 1 non-finite value\(s\), the first is "
                                        rf"-?{bad!r} at index 2"):
        func([1.0, 2.0, 3.0], [1.0, 2.0, bad], **kw)


@pytest.mark.parametrize("func, names, kw", ALL_PAIR_FUNCS, ids=IDS)
def test_wrong_shape_and_type(func, names, kw):
    with pytest.raises(DataError, match=rf"{names[0]} must be a 1-D array of scores; got an "
                                        r"array of shape \(2, 2\)"):
        func([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0, 3.0, 4.0], **kw)
    with pytest.raises(DataError, match=rf"{names[1]} must be a 1-D array of real numbers "
                                        r"\(bool, int or float\); got an array of dtype <U1"):
        func([1.0, 2.0], ["a", "b"], **kw)
    with pytest.raises(DataError, match=rf"{names[0]} must be a 1-D array of real numbers; "
                                        r"it could not be converted"):
        func([[1.0], [2.0, 3.0]], [1.0, 2.0], **kw)


@pytest.mark.parametrize("func", [M.precision_at_top_k, M.precision_at_bottom_k, M.n_at_k,
                                  M.best_rank_at_k, M.worst_rank_at_k])
@pytest.mark.parametrize("k", [0, 5, 1.5, 0.0])
def test_k_out_of_range(func, k):
    with pytest.raises(ParameterError,
                       match=rf"'k' parameter of {func.__name__} must be an integer in \[1, 4\] "
                             rf"\(a count\) or a float in \(0, 1\] \(a fraction of the n = 4 "
                             rf"items\)\. Got {k!r} instead"):
        func([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], k)


def test_single_item_rank_helpers_and_empty():
    assert M.true_ranks([3.0]).tolist() == [1]
    with pytest.raises(DataError, match=r"true_ranks needs at least 1 item in y_true; got 0"):
        M.true_ranks([])
    with pytest.raises(DataError, match=r"average_ranks needs at least 1 item in x; got 0"):
        M.average_ranks([])


def test_import_does_not_load_numba():
    code = "import sys, archmodel.metrics; assert 'numba' not in sys.modules, 'numba loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
