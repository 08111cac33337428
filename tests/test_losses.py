"""Ranking and regression losses (archmodel.losses) on both kernel backends: values against
references written from the documented definitions, finite-difference gradients, NumPy/Numba
parity, numerical stability, pair/list sampling, ties, invalid targets, the registry and the
fit_scores loss_fn contract."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from archmodel.backends import get_backend
from archmodel.errors import DataError, ParameterError
from archmodel.losses import (ENUMERATE_LIMIT, LOSSES, ListMLELoss, MSELoss, PairwiseHingeLoss,
                              PairwiseLogisticLoss, get_loss, listmle_loss, mse_loss,
                              pairwise_hinge_loss, pairwise_logistic_loss, sample_lists,
                              sample_pairs)
from archmodel.testing import check_grad


# --------------------------------------------------------------------------------------------
# references written independently, straight from the definitions (python loops, math module)
# --------------------------------------------------------------------------------------------
def ref_pairs(t):
    return [(a, b) for a, b in itertools.combinations(range(len(t)), 2) if t[a] != t[b]]


def ref_hinge(s, t, pairs, m):
    vals = [max(0.0, m - math.copysign(1.0, t[j] - t[i]) * (s[j] - s[i])) for i, j in pairs]
    return sum(vals) / len(vals) if vals else 0.0


def ref_logistic(s, t, pairs):
    vals = []
    for i, j in pairs:
        u = -math.copysign(1.0, t[j] - t[i]) * (s[j] - s[i])
        vals.append(math.log1p(math.exp(u)))
    return sum(vals) / len(vals) if vals else 0.0


def ref_listmle(s, lists):
    total, count = 0.0, 0
    for pi in lists:
        for k in range(len(pi)):
            total += math.log(sum(math.exp(s[q]) for q in pi[k:])) - s[pi[k]]
            count += 1
    return total / count if count else 0.0


def _data(rng, n=12, ties=True):
    s = rng.standard_normal(n)
    t = rng.standard_normal(n)
    if ties:
        t[1] = t[0]
        t[5] = t[4] = t[3]
    return s, t


# --------------------------------------------------------------------------------------------
# values against the references
# --------------------------------------------------------------------------------------------
def test_values_match_definitions(backend, rng):
    s, t = _data(rng)
    pairs = ref_pairs(t)
    i, j = sample_pairs(t)  # every pair of different targets
    assert sorted(zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist())) == sorted(pairs)
    for m in (0.0, 0.1, 1.0):
        v, _ = pairwise_hinge_loss(s, t, margin=m, pairs=(i, j), backend=backend)
        assert v == pytest.approx(ref_hinge(s, t, pairs, m), rel=1e-12, abs=1e-15)
    v, _ = pairwise_logistic_loss(s, t, pairs=(i, j), backend=backend)
    assert v == pytest.approx(ref_logistic(s, t, pairs), rel=1e-12)
    lists = np.array([[3, 0, 7, 2], [1, 6, 9, 11]])
    v, _ = listmle_loss(s, t, lists=lists, backend=backend)
    assert v == pytest.approx(ref_listmle(s, lists.tolist()), rel=1e-12)
    v, _ = mse_loss(s, t, backend=backend)
    assert v == pytest.approx(float(np.mean((s - t) ** 2)), rel=1e-12)


def test_hinge_hand_example(backend):
    # s = (0.3, 0.1, 0.2), t = (1, 2, 3): pairs (0,1): 0.1+0.2, (0,2): 0.1+0.1, (1,2): 0.1-0.1 -> 0
    s = np.array([0.3, 0.1, 0.2])
    v, g = pairwise_hinge_loss(s, np.array([1.0, 2.0, 3.0]), max_pairs_factor=None, backend=backend)
    assert v == pytest.approx(0.5 / 3, rel=1e-12)
    # active pairs (0,1) and (0,2): d/ds0 = +2/3, d/ds1 = -1/3, d/ds2 = -1/3
    np.testing.assert_allclose(g, [2 / 3, -1 / 3, -1 / 3], rtol=1e-12)


def test_hinge_is_zero_beyond_margin(backend):
    t = np.arange(6.0)
    v, g = pairwise_hinge_loss(t * 0.2, t, margin=0.1, max_pairs_factor=None, backend=backend)
    assert v == 0.0 and not g.any()
    v, _ = pairwise_hinge_loss(t * 0.05, t, margin=0.1, max_pairs_factor=None, backend=backend)
    assert v > 0


# --------------------------------------------------------------------------------------------
# gradients (float64, central differences)
# --------------------------------------------------------------------------------------------
def _grad_fn(loss, t, **kw):
    def fn(s):
        v, g = loss(s, t, **kw)
        return v, [g]

    return fn


def test_hinge_grad(backend, rng):
    s, t = _data(rng, 15)
    pairs = sample_pairs(t)
    d = s[pairs[1]] - s[pairs[0]]
    assert np.abs(0.1 - d).min() > 1e-4  # no pair at the kink: the loss is differentiable here
    check_grad(_grad_fn(pairwise_hinge_loss, t, pairs=pairs, backend=backend), s, max_probes=None)


def test_logistic_grad(backend, rng):
    s, t = _data(rng, 15)
    check_grad(_grad_fn(pairwise_logistic_loss, t, pairs=sample_pairs(t), backend=backend), s * 3,
               max_probes=None)


def test_listmle_grad(backend, rng):
    s, t = _data(rng, 15)
    lists = sample_lists(t, 1, list_size=6, n_lists=4)
    assert lists.shape == (4, 6)
    check_grad(_grad_fn(listmle_loss, t, lists=lists, backend=backend), s * 2, max_probes=None)
    full = sample_lists(t, 2)  # one list: the whole batch, ties in random order
    check_grad(_grad_fn(listmle_loss, t, lists=full, backend=backend), s, max_probes=None)


def test_mse_grad(backend, rng):
    s, t = _data(rng, 9)
    check_grad(_grad_fn(mse_loss, t, backend=backend), s, max_probes=None)


def test_loss_objects_grad_with_sampling(backend, rng):
    """The registered callables (sampling inside) differentiate correctly for a fixed rng seed."""
    s, t = _data(rng, 20)
    for name, kw in [("hinge", {"margin": 0.05, "max_pairs_factor": 2.0}),
                     ("logistic", {"max_pairs": 25}), ("listmle", {"list_size": 5, "n_lists": 3}),
                     ("mse", {})]:
        loss = get_loss(name, backend=backend, **kw)

        def fn(x, loss=loss):
            v, g = loss(x, t, np.random.default_rng(7))  # same pairs/lists at every probe
            return v, [g]

        if name == "hinge":
            i, j = sample_pairs(t, np.random.default_rng(7), 40)
            assert np.abs(0.05 - (s[j] - s[i])).min() > 1e-4
        check_grad(fn, s, max_probes=None)


# --------------------------------------------------------------------------------------------
# NumPy / Numba parity and numerical stability
# --------------------------------------------------------------------------------------------
def test_numpy_numba_parity(rng, numba_module):
    npb, nbb = get_backend("numpy").losses, get_backend("numba").losses
    for scale in (1.0, 30.0, 1e3):
        s = rng.standard_normal(200) * scale
        t = np.round(rng.standard_normal(200), 1)  # many ties
        i, j = sample_pairs(t, rng, 600)
        lists = sample_lists(t, rng, list_size=40, n_lists=5)
        for name, args in [("pairwise_hinge", (s, t, i, j, 0.1)), ("pairwise_logistic", (s, t, i, j)),
                           ("listmle", (s, lists)), ("mse", (s, t))]:
            v1, g1 = getattr(npb, name)(*args)
            v2, g2 = getattr(nbb, name)(*args)
            assert abs(v1 - v2) <= 1e-9 * max(1.0, abs(v1)), (name, scale)
            np.testing.assert_allclose(g2, g1, rtol=1e-9, atol=1e-12, err_msg=f"{name} scale {scale}")


def test_logistic_and_listmle_are_stable_for_huge_scores(backend):
    t = np.array([0.0, 1.0])
    # correct order by a huge gap: loss ~ 0; wrong order: loss ~ the gap, never inf
    v, g = pairwise_logistic_loss(np.array([0.0, 1000.0]), t, backend=backend)
    assert v == pytest.approx(0.0, abs=1e-300) and np.all(np.isfinite(g))
    v, g = pairwise_logistic_loss(np.array([1000.0, 0.0]), t, backend=backend)
    assert v == pytest.approx(1000.0, rel=1e-12)
    np.testing.assert_allclose(g, [1.0, -1.0], rtol=1e-12)
    # ListMLE: invariant to a constant shift, finite at |s| ~ 1e4
    rng = np.random.default_rng(3)
    s = rng.standard_normal(30) * 50
    tt = rng.standard_normal(30)
    lists = sample_lists(tt, 0, n_lists=2)
    v0, g0 = listmle_loss(s, tt, lists=lists, backend=backend)
    v1, g1 = listmle_loss(s + 1e4, tt, lists=lists, backend=backend)
    assert np.isfinite(v1) and v1 == pytest.approx(v0, rel=1e-9)
    np.testing.assert_allclose(g1, g0, atol=1e-9)


def test_listmle_gradient_sums_to_zero_and_rewards_true_order(backend, rng):
    s, t = _data(rng, 10, ties=False)
    v, g = listmle_loss(s, t, lists=sample_lists(t, 0), backend=backend)
    assert abs(g.sum()) < 1e-12  # shift invariance
    order = np.argsort(-t)
    good = np.empty(10)
    good[order] = -np.arange(10) * 10.0  # true order with big gaps
    v_good, _ = listmle_loss(good, t, lists=sample_lists(t, 0), backend=backend)
    assert v_good < 1e-3 < v


# --------------------------------------------------------------------------------------------
# sampling, ties and edge cases
# --------------------------------------------------------------------------------------------
def test_sample_pairs_orientation_ties_and_cap(rng):
    t = np.round(rng.standard_normal(40), 1)
    i, j = sample_pairs(t)
    assert i.dtype == np.int64 and np.all(t[i] < t[j])
    n_tied = sum(1 for a, b in itertools.combinations(range(40), 2) if t[a] == t[b])
    assert i.size == 40 * 39 // 2 - n_tied and n_tied > 0
    i2, j2 = sample_pairs(t, np.random.default_rng(5), max_pairs=100)
    assert i2.size == 100 and np.all(t[i2] < t[j2])
    assert len(set(zip(i2.tolist(), j2.tolist()))) == 100  # without replacement
    i3, j3 = sample_pairs(t, np.random.default_rng(5), max_pairs=100)
    np.testing.assert_array_equal(i2, i3)
    np.testing.assert_array_equal(j2, j3)
    i4, _ = sample_pairs(t, np.random.default_rng(6), max_pairs=100)
    assert not np.array_equal(i2, i4)
    # a cap larger than the pair count keeps every pair
    assert sample_pairs(t, 0, max_pairs=10**6)[0].size == i.size


def test_sample_pairs_large_batch_draws_with_replacement():
    n = int(math.isqrt(2 * ENUMERATE_LIMIT)) + 10  # n(n-1)/2 > ENUMERATE_LIMIT
    t = np.arange(n, dtype=float) % 7
    i, j = sample_pairs(t, np.random.default_rng(0), max_pairs=500)
    assert i.size == 500 and np.all(t[i] < t[j])


def test_pair_cap_from_factor(backend, rng):
    s, t = _data(rng, 30, ties=False)
    # with the default factor 4 at most 120 of the 435 pairs are used: the value differs from
    # the all-pairs value and depends on the rng
    v_all, _ = pairwise_hinge_loss(s, t, max_pairs_factor=None, backend=backend)
    v_a, _ = pairwise_hinge_loss(s, t, rng=1, backend=backend)
    v_b, _ = pairwise_hinge_loss(s, t, rng=2, backend=backend)
    i, j = sample_pairs(t, np.random.default_rng(1), max_pairs=120)
    v_ref, _ = pairwise_hinge_loss(s, t, pairs=(i, j), backend=backend)
    assert v_a == pytest.approx(v_ref, rel=1e-12)
    assert len({v_all, v_a, v_b}) == 3
    # an explicit max_pairs replaces the factor's cap (here: above 4n = 120, all 435 pairs)
    v_big, _ = pairwise_hinge_loss(s, t, rng=1, max_pairs_factor=4.0, max_pairs=1000, backend=backend)
    assert v_big == pytest.approx(v_all, rel=1e-12)
    loss = get_loss("hinge", max_pairs=200, backend=backend)
    i, j = sample_pairs(t, np.random.default_rng(3), max_pairs=200)
    assert loss(s, t, np.random.default_rng(3))[0] == pytest.approx(
        pairwise_hinge_loss(s, t, pairs=(i, j), backend=backend)[0], rel=1e-12)


@pytest.mark.parametrize("name", ["hinge", "logistic", "listmle"])
def test_all_equal_targets_give_zero_loss_and_gradient(backend, name):
    loss = get_loss(name, backend=backend)
    for n in (0, 1, 5):
        s = np.linspace(-1, 1, n)
        v, g = loss(s, np.full(n, 3.0), np.random.default_rng(0))
        assert v == 0.0 and g.shape == (n,) and not g.any()


def test_sample_lists_order_ties_and_dropped_rows(rng):
    t = np.array([1.0, 3.0, 3.0, 2.0, 0.0])
    seen = set()
    for seed in range(20):
        (row,) = sample_lists(t, seed)
        assert t[row].tolist() == [3.0, 3.0, 2.0, 1.0, 0.0]
        seen.add(tuple(row[:2].tolist()))
    assert seen == {(1, 2), (2, 1)}  # ties broken at random
    sub = sample_lists(t, 0, list_size=3, n_lists=50)
    assert sub.shape[1] == 3 and all(len(set(r)) == 3 for r in sub.tolist())
    assert all(np.all(np.diff(t[r]) <= 0) and t[r[0]] > t[r[-1]] for r in sub)
    # lists whose targets are all equal are dropped: here the pairs drawn from items 0, 1, 2
    t2 = np.array([1.0, 1.0, 1.0, 2.0])
    sub2 = sample_lists(t2, 0, list_size=2, n_lists=50)
    assert 0 < sub2.shape[0] < 50 and np.all(sub2[:, 0] == 3)
    assert sample_lists(np.ones(6), 0, n_lists=3).shape == (0, 6)


def test_nan_and_inf_targets_raise_data_error(backend):
    s = np.zeros(4)
    for bad in (np.nan, np.inf):
        t = np.array([0.0, 1.0, bad, 2.0])
        for name in LOSSES:
            with pytest.raises(DataError, match="non-finite value"):
                get_loss(name, backend=backend)(s, t, np.random.default_rng(0))
        with pytest.raises(DataError, match=r"first at index 2"):
            sample_pairs(t)
        with pytest.raises(DataError, match="non-finite"):
            sample_lists(t)


def test_input_validation():
    with pytest.raises(ParameterError, match=r"scores must have shape \(3,\)"):
        mse_loss(np.zeros(4), np.zeros(3), backend="numpy")
    with pytest.raises(ParameterError, match="scores must be a float numpy array"):
        mse_loss([0.0, 1.0], np.zeros(2), backend="numpy")
    with pytest.raises(ParameterError, match="targets must be 1-D"):
        mse_loss(np.zeros(4), np.zeros((2, 2)), backend="numpy")
    with pytest.raises(ParameterError, match=r"pair indices must index \[0, 3\)"):
        pairwise_hinge_loss(np.zeros(3), np.arange(3.0), pairs=(np.array([0]), np.array([3])))
    with pytest.raises(ParameterError, match="pairs must be a tuple"):
        pairwise_hinge_loss(np.zeros(3), np.arange(3.0), pairs=np.zeros(3, int))
    with pytest.raises(ParameterError, match="lists must be a 2-D integer array"):
        listmle_loss(np.zeros(3), np.arange(3.0), lists=np.array([0, 1]))
    with pytest.raises(ParameterError, match=r"The 'margin' parameter of PairwiseHingeLoss must be a number in the range \[0.0, inf\]"):
        PairwiseHingeLoss(margin=-1)
    with pytest.raises(ParameterError, match="The 'max_pairs_factor' parameter"):
        PairwiseLogisticLoss(max_pairs_factor=0)
    with pytest.raises(ParameterError, match="The 'list_size' parameter of ListMLELoss"):
        ListMLELoss(list_size=1)


# --------------------------------------------------------------------------------------------
# registry and the fit_scores contract
# --------------------------------------------------------------------------------------------
def test_registry():
    assert list(LOSSES) == ["hinge", "logistic", "listmle", "mse"]
    with pytest.raises(ParameterError, match=(
            r"^The 'loss' parameter of get_loss must be one of \{'hinge', 'logistic', 'listmle', "
            r"'mse'\}\. Got 'hinj' instead\.$")):
        get_loss("hinj")
    with pytest.raises(ParameterError, match=r"The 'loss' parameter of GATESPredictor must be one of"):
        get_loss("ranknet", owner="GATESPredictor")
    with pytest.raises(ParameterError, match=r"the 'mse' loss takes the parameters \['backend'\]; got unknown parameter\(s\) \['margin'\]"):
        get_loss("mse", margin=0.1)
    h = get_loss("hinge", margin=0.2, max_pairs_factor=4.0)
    assert isinstance(h, PairwiseHingeLoss) and h.margin == 0.2
    assert get_loss(h.name, **h.get_params()) == h
    assert get_loss(h) is h
    assert isinstance(get_loss("mse"), MSELoss) and isinstance(get_loss("listmle"), ListMLELoss)
    assert repr(get_loss("logistic")) == "PairwiseLogisticLoss(max_pairs_factor=4.0, max_pairs=None)"


@pytest.mark.parametrize("name", ["hinge", "logistic", "listmle", "mse"])
def test_fit_scores_contract_and_learning(backend, name):
    """Every loss trains a linear scorer through fit_scores (float32, mini-batches, the shared
    rng), reproducibly, and the learned scores rank held-out items."""
    from scipy.stats import kendalltau

    from archmodel.nn import Adam, Linear, fit_scores

    class LinearScorer:
        layer = Linear(5, 1, name="lin")

        def forward(self, params, batch, *, train=False, rng=None, backend=None):
            y, cache = self.layer.forward(params, batch["x"], backend=backend)
            return y[:, 0], cache

        def backward(self, cache, grad_scores):
            return self.layer.backward(grad_scores[:, None], cache)[1]

    data_rng = np.random.default_rng(0)
    x = data_rng.standard_normal((400, 5)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.1 * data_rng.standard_normal(400)).astype(np.float32)

    def train(seed):
        model = LinearScorer()
        params = model.layer.init_params(0)
        loss = get_loss(name, backend=backend)
        s, t = np.zeros(4, np.float32), np.arange(4, dtype=np.float32)
        v, g = loss(s, t, np.random.default_rng(0))
        assert isinstance(v, float) and g.dtype == np.float32 and g.shape == (4,)
        hist = fit_scores(model, params, {"x": x[:300]}, y[:300], loss, Adam(lr=0.05, backend=backend),
                          epochs=15, batch_size=32, rng=seed, backend=backend)
        return params, hist

    p1, h1 = train(1)
    p2, h2 = train(1)
    assert h1 == h2 and all(np.array_equal(p1[k], p2[k]) for k in p1)
    assert h1[-1] < h1[0]
    pred = x[300:] @ p1["lin.weight"][:, 0]
    assert kendalltau(pred, y[300:])[0] > 0.8
