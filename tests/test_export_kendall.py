"""Kendall's tau between onnxruntime and NumPy scores of exported GATES models on all 15,625
NAS-Bench-201 cells, for a freshly initialised (paper-sized) model and for one trained on real
NB201 accuracies.

Two float32 implementations (OpenBLAS in NumPy, MLAS in onnxruntime; AVX2 or AVX-512, FMA or
not) round differently, so nothing here compares their floats for equality or a tau with a
tolerance measured on one machine. What the arithmetic guarantees, and what is asserted:

* every score is within ``score_error_bound`` (``SCORE_ULPS`` float32 unit roundoffs of the
  score scale, see tests/conftest.py) of the reference: the one assertion a wrong graph fails;
* with ``e`` the largest measured ``|onnx - numpy|``, a pair whose reference scores differ by
  more than ``2 e`` cannot be ordered the other way, so every discordant pair is one of the
  ``m`` pairs within ``2 e``, and a Kendall's tau moves by at most ``tau_shift_bound`` (about
  ``2 m / n_pairs``) -- against the reference itself (tau = 1) or against the real accuracies.

A fresh model's scores crowd together (with the default residual='inputs', 15,625 cells get
7,944 distinct reference scores between 0.03097 and 0.03110), so many pairs are closer than the
float32 discrepancy and tau itself is below 1.

Exported with ``compute_dtype='float64'`` (double arithmetic inside the graph, the float32
score rounded once), each score is the float64 NumPy reference computed from the same float32
weights (``predictor.astype('float64')``) rounded to float32, except next to a float32 rounding
boundary, where the two double computations may round to adjacent float32 values
(``assert_correctly_rounded``).
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import (assert_correctly_rounded, pairs_within, require_module, score_error_bound,
                      tau_shift_bound)

require_module("onnx", "onnx")
require_module("onnxruntime", "onnx")

from archmodel.metrics import kendall_tau  # noqa: E402
from archmodel.spaces import get_space  # noqa: E402


def reversed_pairs_beyond(ref: np.ndarray, got: np.ndarray, gap: float) -> int:
    """How many items j have some i with ``ref[j] - ref[i] > gap`` but ``got[i] > got[j]``
    (a pair ordered the other way although the reference separates it by more than ``gap``)."""
    order = np.argsort(ref, kind="stable")
    r, g = np.asarray(ref, np.float64)[order], np.asarray(got, np.float64)[order]
    k = np.searchsorted(r, r - gap, side="left")  # items 0..k-1 are below r[j] - gap
    prefix_max = np.maximum.accumulate(g)
    has = k > 0
    return int(np.sum(prefix_max[np.maximum(k - 1, 0)][has] > g[has]))


def discordant_pairs(x: np.ndarray, y: np.ndarray) -> int:
    """Number of pairs ordered strictly oppositely by x and y (from tau-b and the tie counts)."""
    def ties(v):
        _, c = np.unique(v, return_counts=True)
        return int((c * (c - 1) // 2).sum())

    n = len(x)
    n0 = n * (n - 1) // 2
    nx, ny = ties(x), ties(y)
    nxy = ties(np.stack([x, y], axis=1).view(np.dtype((np.void, 2 * x.dtype.itemsize))).ravel())
    tau = kendall_tau(x, y)
    return int(round((n0 - nx - ny + nxy - tau * np.sqrt(float(n0 - nx) * (n0 - ny))) / 2))


def near_tie_pairs(ref: np.ndarray, gap: float) -> int:
    """Pairs whose reference scores differ, but by at most ``gap``."""
    r = np.sort(np.asarray(ref, np.float64))
    within = np.searchsorted(r, r + gap, side="right") - np.arange(len(r)) - 1
    equal = np.searchsorted(r, r, side="right") - np.arange(len(r)) - 1
    return int((within - equal).sum())


def _check_rank_agreement(ref: np.ndarray, got: np.ndarray) -> dict:
    """The float32 ONNX scores ``got`` against the float32 NumPy reference ``ref``."""
    ref = np.asarray(ref, np.float64)
    err = float(np.abs(got.astype(np.float64) - ref).max())
    bound = score_error_bound(ref)
    tau = kendall_tau(ref, got)
    n_disc = discordant_pairs(ref, got)
    report = {"tau": tau, "discordant_pairs": n_disc, "max_abs_error": err,
              "max_rel_error": err / float(np.abs(ref).max()), "error_bound": bound,
              "pairs_within_2err": pairs_within(ref, 2 * err),
              "near_tie_pairs_2err": near_tie_pairs(ref, 2 * err),
              "reversed_beyond_2err": reversed_pairs_beyond(ref, got, 2 * err * (1 + 1e-12)),
              "tau_bound": tau_shift_bound(ref, ref, err)}
    print(report)
    # the scores: within SCORE_ULPS float32 roundoffs of the score scale
    assert err <= bound
    # what that implies for the order: no pair separated in the reference by more than twice
    # the largest discrepancy is reversed, every discordant pair is a near tie, and tau is 1
    # up to those pairs
    assert report["reversed_beyond_2err"] == 0
    assert n_disc <= report["near_tie_pairs_2err"]
    assert tau >= 1 - report["tau_bound"]
    return report


@pytest.mark.parametrize("variant", ["tables", "dense"])
def test_kendall_tau_on_all_nb201_cells_fresh_model(tmp_path, variant):
    """Both GATES graphs (the fixed-edge table graph, NB201's default, and the dense one).
    Measured 2026-12-02 on an AMD EPYC (AVX2, no AVX-512), onnxruntime 1.32, OpenBLAS 0.3.31:
    see the printed report (tau, discordant pairs, max |onnx - numpy|, the derived tau bound)."""
    from archmodel.export import load_onnx_predictor, to_onnx
    from archmodel.predictors.gates import GATESPredictor

    sp = get_space("nb201")
    p = GATESPredictor(backend="numpy")
    p.initialize(sp, 0)
    to_onnx(p, tmp_path / "fresh.onnx", converter_options={"variant": variant})
    o = load_onnx_predictor(tmp_path / "fresh.onnx", intra_op_num_threads=1)
    archs = list(sp.enumerate())
    assert len(archs) == 15_625
    batch = p.encode(archs)
    report = _check_rank_agreement(p.predict_arrays(batch).astype(np.float64), o.predict_arrays(batch))
    print(f"{variant}: {report}")


def test_trained_model_parity_and_kendall_on_all_nb201_cells(tmp_path):
    """A model trained (ranking loss) on real NB201 CIFAR-10 accuracies: the exported model
    ranks the real data as the original does, up to what its float32 rounding can change."""
    from conftest import require_data

    from archmodel.data import load_dataset
    from archmodel.export import load_onnx_predictor, to_onnx
    from archmodel.predictors.gates import GATESPredictor

    csv = require_data("nb201-landscapes", "cifar10_avg.csv")
    ds = load_dataset("nb201-c10", path=str(csv))
    y = np.asarray(ds.target("valid_accuracy"), np.float64)
    archs = list(ds.archs)
    idx = np.random.default_rng(0).choice(len(archs), 400, replace=False)
    p = GATESPredictor(epochs=20, backend="numpy", rng=0).fit([archs[i] for i in idx], y[idx])
    assert p.history_[-1] < p.history_[0]
    to_onnx(p, tmp_path / "trained.onnx")
    o = load_onnx_predictor(tmp_path / "trained.onnx", intra_op_num_threads=1)
    batch = p.encode(archs)
    ref = p.predict_arrays(batch)
    got = o.predict_arrays(batch)
    report = _check_rank_agreement(ref.astype(np.float64), got)
    tau_ref, tau_got = kendall_tau(y, ref), kendall_tau(y, got)
    shift = tau_shift_bound(ref, y, report["max_abs_error"])
    print(f"trained: max |onnx - numpy| / max |numpy| = {report['max_rel_error']:.3g}; tau vs valid "
          f"accuracy: numpy {tau_ref:.6f}, onnx {tau_got:.6f}, |difference| {abs(tau_got - tau_ref):.3g} "
          f"<= bound {shift:.3g} ({report['pairs_within_2err']} pairs within 2 max |onnx - numpy|)")
    # the exported model ranks the real data as the original does, up to the pairs that its
    # float32 rounding can reorder
    assert abs(tau_got - tau_ref) <= shift
    assert tau_got > 0.3 and tau_ref > 0.3


def _exact_rank_check(p, tmp_path, name: str, converter_options=None) -> dict:
    """Export ``p`` with compute_dtype='float64'; compare with its float64 NumPy reference
    (float32 weights, double arithmetic) on all 15,625 NB201 cells."""
    from archmodel.export import load_onnx_predictor, to_onnx

    sp = get_space("nb201")
    path = tmp_path / f"{name}.onnx"
    to_onnx(p, path, compute_dtype="float64", converter_options=converter_options)
    o = load_onnx_predictor(path, intra_op_num_threads=1)
    archs = list(sp.enumerate())
    batch = p.encode(archs)
    ref64 = p.astype("float32").astype("float64").predict_arrays(batch)
    ref = ref64.astype(np.float32)
    got = o.predict_arrays(batch)
    assert got.dtype == np.float32 and got.shape == (15_625,)
    n_rounded_apart = assert_correctly_rounded(got, ref64)
    err = float(np.abs(got.astype(np.float64) - ref).max())
    tau = kendall_tau(ref, got)
    report = {"tau": tau, "n_equal": int((got == ref).sum()), "n_rounded_apart": n_rounded_apart,
              "n_distinct": int(len(np.unique(ref))), "max_abs_diff": err,
              "tau_bound": tau_shift_bound(ref, ref, err)}
    print(f"{name}: {report}")
    # only cells whose scores differ by one float32 step can be ordered differently
    assert tau >= 1 - report["tau_bound"]
    return report


@pytest.mark.parametrize("variant", ["tables", "dense"])
def test_float64_compute_export_ranks_exactly_like_the_reference_fresh_model(tmp_path, variant):
    """A fresh model, whose 15,625 scores crowd into 1.3e-4 (both graphs)."""
    from archmodel.predictors.gates import GATESPredictor

    p = GATESPredictor(backend="numpy")
    p.initialize(get_space("nb201"), 0)
    _exact_rank_check(p, tmp_path, f"fresh_{variant}", {"variant": variant})


def test_float64_compute_export_ranks_exactly_like_the_reference_trained_model(tmp_path):
    """Trained on real NB201 CIFAR-10 accuracies; also a float64-trained model, whose
    weights the export rounds to float32 (the reference is then the rounded model)."""
    from conftest import require_data

    from archmodel.data import load_dataset
    from archmodel.predictors.gates import GATESPredictor

    csv = require_data("nb201-landscapes", "cifar10_avg.csv")
    ds = load_dataset("nb201-c10", path=str(csv))
    y = np.asarray(ds.target("valid_accuracy"), np.float64)
    archs = list(ds.archs)
    idx = np.random.default_rng(1).choice(len(archs), 300, replace=False)
    for dtype in ("float32", "float64"):
        p = GATESPredictor(epochs=10, backend="numpy", rng=0, dtype=dtype).fit([archs[i] for i in idx], y[idx])
        _exact_rank_check(p, tmp_path, f"trained_{dtype}")
