"""Numerical parity of exported GATES models (default, paper-sized configuration), with the
graph the converter picks (fixed-edge tables for NB201 and TransNAS-Bench-101 micro, dense
elsewhere) and with the dense graph on NB201.

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

from conftest import require_module

onnx = require_module("onnx", "onnx")
ort = require_module("onnxruntime", "onnx")

from archmodel.spaces import get_space  # noqa: E402

SPACES = ["nb201", "nb101", "darts", "enas", "nasbench-graph", "tnb101-micro"]
#: (space, GATES graph): NB201 and TransNAS-Bench-101 micro get the fixed-edge table graph by
#: default; NB201 is also checked with the dense graph (the fallback of every other space)
CASES = [(s, "auto") for s in SPACES] + [("nb201", "dense")]
IDS = [s if v == "auto" else f"{s}-{v}" for s, v in CASES]


def default_gates(space_name: str, seed: int = 0, **kw):
    from archmodel.predictors.gates import GATESPredictor

    sp = get_space(space_name)
    p = GATESPredictor(backend="numpy", **kw)
    p.initialize(sp, seed)
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
    for name, variant in CASES:
        p = default_gates(name, seed=SPACES.index(name))
        path = folder / f"{name}-{variant}.onnx"
        model = to_onnx(p, path, converter_options={"variant": variant})
        out[name, variant] = (p, model, load_onnx_predictor(path, intra_op_num_threads=1))
    return out


@pytest.mark.parametrize("space_name, variant", CASES, ids=IDS)
def test_onnxruntime_matches_numpy_on_10000_random_architectures(exported, space_name, variant):
    p, model, o = exported[space_name, variant]
    graph = {m.key: m.value for m in model.metadata_props}["graph_variant"]
    assert graph == ("fixed_edge_tables" if variant == "auto" and space_name in ("nb201", "tnb101-micro")
                     else "dense")
    archs = get_space(space_name).sample(10_000, 1000 + SPACES.index(space_name))
    batch = p.encode(archs)
    ref = p.predict_arrays(batch)
    got = o.predict_arrays(batch)
    assert got.shape == (10_000,) and got.dtype == np.float32
    scale_rel, elem_rel = errors(ref, got)
    print(f"{space_name} ({graph}): max |onnx - numpy| / max |numpy| = {scale_rel:.3g}, "
          f"max elementwise relative error {elem_rel:.3g}")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    assert scale_rel < 1e-5
    # the reference evaluator (pure NumPy, independent of onnxruntime) agrees on a subsample
    from onnx.reference import ReferenceEvaluator

    sub = {k: v[:2000] for k, v in batch.items()}
    (ev,) = ReferenceEvaluator(model).run(None, sub)
    assert errors(ref[:2000], ev)[0] < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("space_name, variant", CASES, ids=IDS)
def test_reference_evaluator_on_10000(exported, space_name, variant):
    from onnx.reference import ReferenceEvaluator

    p, model, _ = exported[space_name, variant]
    archs = get_space(space_name).sample(10_000, 1000 + SPACES.index(space_name))
    batch = p.encode(archs)
    (ev,) = ReferenceEvaluator(model).run(None, batch)
    err = errors(p.predict_arrays(batch), ev)
    print(f"{space_name}: ReferenceEvaluator on 10,000: max |ref_eval - numpy| / max |numpy| = {err[0]:.3g}")
    assert err[0] < 1e-5
