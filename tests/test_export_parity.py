"""Numerical parity of exported GATES models (default, paper-sized configuration).

* onnxruntime vs the NumPy reference (``predict`` with ``backend='numpy'``) on 10,000 fresh
  random architectures of every supported space, within 1e-5 relative (to the largest
  |score|; the elementwise relative error is bounded too),
* ``onnx.reference.ReferenceEvaluator`` vs the reference on 2,000 of them (all 10,000 in the
  slow test).

Kendall's tau on all NB201 cells is in test_export_kendall.py.
"""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is not installed (extra 'onnx')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra 'onnx')")

from archmodel.spaces import get_space  # noqa: E402

SPACES = ["nb201", "nb101", "darts", "enas", "nasbench-graph"]


def default_gates(space_name: str, seed: int = 0, **kw):
    from archmodel.predictors.gates import GATESPredictor

    sp = get_space(space_name)
    p = GATESPredictor(backend="numpy", **kw)
    p.space_ = sp.name
    p.model_ = p._build_model(sp)
    p.params_ = p.model_.init_params(seed)
    return p


def errors(ref: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    """(max |diff| / max |ref|, max elementwise |diff| / |ref|)."""
    ref = np.asarray(ref, np.float64)
    d = np.abs(np.asarray(got, np.float64) - ref)
    return float(d.max() / np.abs(ref).max()), float((d / np.abs(ref)).max())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from archmodel.export import load_onnx_predictor, to_onnx

    folder = tmp_path_factory.mktemp("parity")
    out = {}
    for name in SPACES:
        p = default_gates(name, seed=SPACES.index(name))
        model = to_onnx(p, folder / f"{name}.onnx")
        out[name] = (p, model, load_onnx_predictor(folder / f"{name}.onnx", intra_op_num_threads=1))
    return out


@pytest.mark.parametrize("space_name", SPACES)
def test_onnxruntime_matches_numpy_on_10000_random_architectures(exported, space_name):
    p, model, o = exported[space_name]
    archs = get_space(space_name).sample(10_000, 1000 + SPACES.index(space_name))
    batch = p.encode(archs)
    ref = p.predict_arrays(batch)
    got = o.predict_arrays(batch)
    assert got.shape == (10_000,) and got.dtype == np.float32
    scale_rel, elem_rel = errors(ref, got)
    print(f"{space_name}: max |onnx - numpy| / max |numpy| = {scale_rel:.3g}, "
          f"max elementwise relative error {elem_rel:.3g}")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    assert scale_rel < 1e-5
    # the reference evaluator (pure NumPy, independent of onnxruntime) agrees on a subsample
    from onnx.reference import ReferenceEvaluator

    sub = {k: v[:2000] for k, v in batch.items()}
    (ev,) = ReferenceEvaluator(model).run(None, sub)
    assert errors(ref[:2000], ev)[0] < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("space_name", SPACES)
def test_reference_evaluator_on_10000(exported, space_name):
    from onnx.reference import ReferenceEvaluator

    p, model, _ = exported[space_name]
    archs = get_space(space_name).sample(10_000, 1000 + SPACES.index(space_name))
    batch = p.encode(archs)
    (ev,) = ReferenceEvaluator(model).run(None, batch)
    err = errors(p.predict_arrays(batch), ev)
    print(f"{space_name}: ReferenceEvaluator on 10,000: max |ref_eval - numpy| / max |numpy| = {err[0]:.3g}")
    assert err[0] < 1e-5
