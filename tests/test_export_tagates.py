"""ONNX export of TAGATESPredictor (archmodel.export.tagates): numerical parity of the dense graph
with the NumPy reference on every NB201 cell (a small trained model) and on a sample (the
paper-sized default model, other readout/residual options, float64 arithmetic), the registry
and metadata, weights stored once although every time step uses them, and clear errors for
the configurations the converter does not support.

Tolerance as for GATES in test_export_parity.py: ``rtol=1e-5`` elementwise plus an absolute
``1e-5 * max |reference score|``, and max |diff| / max |ref| < 1e-5.
"""
from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from conftest import require_module

onnx = require_module("onnx", "onnx")
ort = require_module("onnxruntime", "onnx")

from archmodel.errors import ParameterError  # noqa: E402
from archmodel.spaces import get_space  # noqa: E402

SMALL = dict(time_steps=3, gates_dims=(16, 16), backward_dims=(16, 16), fb_dims=(16,), update_dims=(16,),
             mlp_hidden=(32,))


def scale_rel(ref: np.ndarray, got: np.ndarray) -> float:
    ref = np.asarray(ref, np.float64)
    return float(np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max())


def assert_parity(ref: np.ndarray, got: np.ndarray) -> None:
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    assert scale_rel(ref, got) < 1e-5


def export(p, path, **kw):
    from archmodel.export import load_onnx_predictor, to_onnx

    model = to_onnx(p, path, **kw)
    return model, load_onnx_predictor(path, intra_op_num_threads=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small TAGATESPredictor fitted on 60 NB201 architectures, exported."""
    from archmodel.predictors.tagates import TAGATESPredictor

    sp = get_space("nb201")
    archs = sp.sample(60, 0)
    p = TAGATESPredictor(**SMALL, epochs=3, rng=0, backend="numpy").fit(archs, [a.seq.count(3) for a in archs])
    model, o = export(p, tmp_path_factory.mktemp("tagates") / "small.onnx")
    return p, model, o


def test_all_nb201_cells_match_the_reference(trained):
    p, _, o = trained
    cells = list(get_space("nb201").enumerate())
    assert len(cells) == 15_625
    ref = p.predict(cells)
    got = o.predict(cells)
    assert got.shape == (15_625,) and got.dtype == np.float32
    err = float(np.abs(got.astype(np.float64) - ref).max())
    print(f"TA-GATES small, all NB201 cells: max |onnx - numpy| = {err:.3g}, max |ref| = "
          f"{np.abs(ref).max():.3g}, std {ref.std():.3g}, relative {scale_rel(ref, got):.3g}")
    assert_parity(ref, got)
    # the check has teeth: without the backward pass and update (scale 0) the scores differ by
    # far more than the tolerance, so a graph missing them would fail above
    q = copy.deepcopy(p)
    q.model_.update_scale = 0.0
    assert np.abs(q.predict(cells) - ref).max() > 100 * 1e-5 * np.abs(ref).max()


def test_graph_registry_metadata_and_weights_stored_once(trained):
    from archmodel.export import get_converter
    from archmodel.export.tagates import convert_tagates
    from archmodel.predictors.tagates import TAGATESPredictor

    p, model, o = trained
    info = get_converter(TAGATESPredictor)
    assert info.convert is convert_tagates and info.encoding == "graph"
    meta = {m.key: m.value for m in model.metadata_props}
    assert (meta["predictor_class"], meta["encoding"], meta["graph_variant"]) == ("TAGATESPredictor", "graph", "dense")
    assert (o.predictor_class_, o.encoding_) == ("TAGATESPredictor", "graph")
    (inp,) = model.graph.input
    assert inp.name == "edges" and [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]] == [1, 6, 3]
    assert {n.op_type for n in model.graph.node}.isdisjoint({"Loop", "Scan", "If", "ScatterND", "ScatterElements"})
    names = [t.name for t in model.graph.initializer]
    assert set(p.params_) <= set(names)               # every parameter, under its own name ...
    dup = [n for n in names for k in p.params_ if re.fullmatch(re.escape(k) + r"_\d+", n)]
    assert dup == []                                  # ... once, although three time steps use it


def test_reference_evaluator_agrees(trained):
    from onnx.reference import ReferenceEvaluator

    p, model, _ = trained
    batch = p.encode(get_space("nb201").sample(200, 7))
    (ev,) = ReferenceEvaluator(model).run(None, batch)
    assert_parity(p.predict_arrays(batch), ev)


@pytest.mark.parametrize("kw, compute", [({}, "float32"), ({"readout": "mean", "residual": "all"}, "float32"),
                                         ({}, "float64")], ids=["default", "mean-all", "float64"])
def test_default_size_untrained(tmp_path, kw, compute):
    """Paper-sized model (T=4, 128-wide layers), freshly initialised, on 300 cells."""
    from archmodel.predictors.tagates import TAGATESPredictor

    p = TAGATESPredictor(backend="numpy", **kw).initialize("nb201", rng=0)
    assert p.model_.time_steps == 4 and p.model_.gates_dims == [128, 128, 128]
    _, o = export(p, tmp_path / "default.onnx", compute_dtype=compute)
    archs = get_space("nb201").sample(300, 5)
    ref, got = p.predict(archs), o.predict(archs)
    assert_parity(ref, got)


def test_one_time_step(tmp_path):
    from archmodel.predictors.tagates import TAGATESPredictor

    p = TAGATESPredictor(backend="numpy", **{**SMALL, "time_steps": 1}).initialize("nb201", rng=1)
    _, o = export(p, tmp_path / "t1.onnx")
    archs = get_space("nb201").sample(300, 2)
    assert_parity(p.predict(archs), o.predict(archs))


def test_unsupported_symmetry_breaking_is_a_clear_error(tmp_path):
    from archmodel.export import to_onnx
    from archmodel.models.tagates import TAGATESModel
    from archmodel.predictors.tagates import TAGATESPredictor

    p = TAGATESPredictor(backend="numpy", symmetry_breaking="noise", **SMALL).initialize("nb201", rng=0)
    with pytest.raises(ParameterError, match=r"symmetry_breaking='none' only; this model uses 'noise'"):
        to_onnx(p, tmp_path / "noise.onnx")
    # 'stats' is not reachable through the predictor; a model carrying it is refused too
    cfg = {**p.model_.get_config(), "symmetry_breaking": "stats", "n_stats": 2}
    p.model_ = TAGATESModel(**cfg)
    p.params_ = p.model_.init_params(0, dtype=np.float32)
    with pytest.raises(ParameterError, match=r"symmetry_breaking='none' only; this model uses 'stats'"):
        to_onnx(p, tmp_path / "stats.onnx")
    assert not (tmp_path / "noise.onnx").exists() and not (tmp_path / "stats.onnx").exists()
