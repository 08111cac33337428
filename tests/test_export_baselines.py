"""ONNX export of the baseline predictors (MLPPredictor, LSTMPredictor, GCNPredictor):
registry coverage, graph validity, versions, metadata, dynamic batch, every space, opsets,
the float64 cast, and input validation by the onnxruntime backend.

Parity on 10,000 architectures is in test_export_parity_baselines.py; the contract entries
and the standalone client are in test_export_contract.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import require_module

onnx = require_module("onnx", "onnx")
ort = require_module("onnxruntime", "onnx")

from archmodel.errors import ParameterError  # noqa: E402
from archmodel.spaces import get_space, list_spaces  # noqa: E402

#: small configurations (fast); the paper-sized defaults are used in the parity tests
SMALL = {
    "MLPPredictor": dict(mlp_hidden=(32, 32)),
    "LSTMPredictor": dict(emb_dim=8, hidden_dim=16, mlp_hidden=(32,)),
    "GCNPredictor": dict(gcn_dims=(24, 24), mlp_hidden=(32,)),
}
ENCODING = {"MLPPredictor": "onehot", "LSTMPredictor": "sequence", "GCNPredictor": "graph"}
CLASSES = sorted(SMALL)


def fresh(cls_name: str, space_name: str, seed: int = 0, dtype=np.float32, small: bool = True, **kw):
    """A baseline predictor with freshly initialised parameters (no training needed for parity)."""
    from archmodel.predictors import predictor_class

    sp = get_space(space_name)
    args = {**(SMALL[cls_name] if small else {}), **kw}
    p = predictor_class(cls_name)(backend="numpy", dtype=np.dtype(dtype).name, **args)
    p.initialize(sp, seed)
    return p


def rel_err(ref, got) -> float:
    ref = np.asarray(ref, np.float64)
    return float(np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max())


def session(path_or_model, threads: int = 1):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    data = path_or_model.SerializeToString() if hasattr(path_or_model, "SerializeToString") else str(path_or_model)
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def nb201_models(tmp_path_factory):
    from archmodel.export import to_onnx

    folder = tmp_path_factory.mktemp("baselines")
    out = {}
    for i, name in enumerate(CLASSES):
        p = fresh(name, "nb201", seed=i)
        out[name] = (p, folder / f"{name}.onnx", to_onnx(p, folder / f"{name}.onnx"))
    return out


# ============================================================================ registry
def test_every_predictor_in_the_registry_has_a_converter_and_a_contract_encoding():
    from archmodel.export import get_converter, supported_predictors
    from archmodel.export.contract import load_contract
    from archmodel.predictors import REGISTRY, predictor_class

    from test_export_contract import NO_CONVERTER_YET

    assert sorted(set(REGISTRY) - set(NO_CONVERTER_YET)) == supported_predictors()
    assert not set(NO_CONVERTER_YET) & set(supported_predictors())   # remove an entry once converted
    for name in set(REGISTRY) - set(NO_CONVERTER_YET):
        info = get_converter(predictor_class(name))
        assert info.encoding == ENCODING.get(name, "graph")
        for space_name in list_spaces():  # every shipped contract publishes the encoding
            enc = load_contract(space_name)["encodings"][info.encoding]
            assert name in enc["predictors"]


# ============================================================================ the graphs
@pytest.mark.parametrize("cls_name", CLASSES)
def test_model_is_valid_pinned_and_dynamic(nb201_models, cls_name):
    from archmodel.export.contract import METADATA_KEYS

    p, path, _ = nb201_models[cls_name]
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    assert loaded.ir_version == 8
    assert [(o.domain, o.version) for o in loaded.opset_import] == [("", 17)]
    want = {"MLPPredictor": [("onehot", onnx.TensorProto.FLOAT, [30])],
            "LSTMPredictor": [("seq", onnx.TensorProto.INT64, [6])],
            "GCNPredictor": [("edges", onnx.TensorProto.INT64, [1, 6, 3])]}[cls_name]
    got = [(i.name, i.type.tensor_type.elem_type, [d.dim_value for d in i.type.tensor_type.shape.dim[1:]])
           for i in loaded.graph.input]
    assert got == want
    for i in loaded.graph.input:
        assert i.type.tensor_type.shape.dim[0].dim_param == "batch"
    (out,) = loaded.graph.output
    assert out.name == "score" and out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param for d in out.type.tensor_type.shape.dim] == ["batch"]
    # every learned parameter is a float32 initializer under its archmodel name
    inits = {t.name: t for t in loaded.graph.initializer}
    for name, value in p.params_.items():
        assert inits[name].data_type == onnx.TensorProto.FLOAT
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(inits[name]), value)
    assert {n.op_type for n in loaded.graph.node}.isdisjoint({"Loop", "Scan", "If", "LSTM", "ScatterND"})
    meta = {m.key: m.value for m in loaded.metadata_props}
    assert set(meta) == set(METADATA_KEYS)
    assert meta["predictor_class"] == cls_name and meta["encoding"] == ENCODING[cls_name]
    assert meta["graph_variant"] == "default" and meta["space"] == "nb201"
    assert json.loads(meta["model_config"]) == p.model_.get_config()
    assert 0 <= float(meta["verify_max_rel_error"]) < 1e-5


@pytest.mark.parametrize("cls_name", CLASSES)
@pytest.mark.parametrize("batch", [1, 7, 4096])
def test_any_batch_size_runs(nb201_models, cls_name, batch):
    p, path, _ = nb201_models[cls_name]
    archs = get_space("nb201").sample(batch, batch)
    got = session(path).run(["score"], p.encode(archs))[0]
    assert got.shape == (batch,) and got.dtype == np.float32
    ref = p.predict(archs)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("space_name", list_spaces())
@pytest.mark.parametrize("variant", [("MLPPredictor", {}), ("LSTMPredictor", {}),
                                     ("GCNPredictor", {"readout": "mean"}),
                                     ("GCNPredictor", {"readout": "output"})],
                         ids=["mlp", "lstm", "gcn-mean", "gcn-output"])
def test_small_models_every_space(tmp_path, space_name, variant):
    """onnxruntime and onnx's ReferenceEvaluator (pure NumPy) both agree with archmodel."""
    from onnx.reference import ReferenceEvaluator

    from archmodel.export import to_onnx

    cls_name, kw = variant
    p = fresh(cls_name, space_name, seed=7, **kw)
    model = to_onnx(p, tmp_path / "m.onnx")
    archs = get_space(space_name).sample(300, 8)
    batch = p.encode(archs)
    ref = p.predict_arrays(batch)
    assert rel_err(ref, session(tmp_path / "m.onnx").run(["score"], batch)[0]) < 1e-5
    sub = {k: v[:50] for k, v in batch.items()}
    (ev,) = ReferenceEvaluator(model).run(None, sub)
    assert rel_err(ref[:50], ev) < 1e-5


@pytest.mark.parametrize("cls_name", CLASSES)
@pytest.mark.parametrize("opset", [13, 21])
def test_supported_opsets(tmp_path, cls_name, opset):
    from archmodel.export import to_onnx

    p = fresh(cls_name, "darts", seed=1)
    model = to_onnx(p, tmp_path / "m.onnx", opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == opset
    archs = get_space("darts").sample(50, 2)
    assert rel_err(p.predict(archs), session(tmp_path / "m.onnx").run(["score"], p.encode(archs))[0]) < 1e-5


@pytest.mark.parametrize("cls_name", CLASSES)
def test_float64_model_is_cast_and_the_error_recorded(tmp_path, cls_name):
    from archmodel.export import to_onnx

    p64 = fresh(cls_name, "nb101", seed=4, dtype=np.float64)
    model = to_onnx(p64, tmp_path / "m64.onnx")
    meta = {m.key: m.value for m in model.metadata_props}
    assert meta["source_dtype"] == "float64"
    assert 0 < float(meta["cast_max_rel_param_error"]) <= 2.0 ** -24
    assert 0 <= float(meta["cast_max_rel_score_error"]) < 1e-5
    inits = {t.name: t.data_type for t in model.graph.initializer}
    assert all(inits[k] == onnx.TensorProto.FLOAT for k in p64.params_)
    archs = get_space("nb101").sample(200, 5)
    got = session(tmp_path / "m64.onnx").run(["score"], p64.encode(archs))[0]
    assert got.dtype == np.float32 and rel_err(p64.predict(archs), got) < 1e-5


def test_gcn_line_graph_matches_the_reference_adjacency():
    """The line graph built inside the ONNX graph equals gcn_graphs + normalize_adjacency, also
    for DARTS cells with padding rows and ENAS cells with repeated inputs."""
    from onnx import helper

    from archmodel.export._graph import GraphBuilder
    from archmodel.export.baselines import convert_gcn
    from archmodel.models.baselines import gcn_graphs, normalize_adjacency

    for space_name in ("darts", "enas", "nb201"):
        p = fresh("GCNPredictor", space_name)
        m = p.model_
        g = GraphBuilder(opset=17)
        g.mlp_head = lambda x, params, n_hidden, prefix="head": x  # noqa: E731 - expose the readout
        convert_gcn(p, g)
        a_hat = [n.output[0] for n in g.nodes if n.output[0].endswith(".a_hat")]
        outputs = [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in a_hat]
        model = helper.make_model(helper.make_graph(g.nodes, "t", g.inputs, outputs, g.initializers),
                                  opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        batch = p.encode(get_space(space_name).sample(200, 3))
        got = session(model).run(a_hat, batch)
        for c, arr in enumerate(got):
            adj, _, _ = gcn_graphs("edge", (batch["edges"][:, c],), n_nodes=m.n_nodes, n_inputs=m.n_inputs,
                                   n_ops=m.n_ops, none_op=m.none_op)
            np.testing.assert_array_equal(arr, normalize_adjacency(adj, np.float32))


# ============================================================================ inference backend
def test_onnx_predictor_on_decision_encodings(nb201_models):
    from archmodel.export import load_onnx_predictor

    sp = get_space("nb201")
    archs = sp.sample(300, 11)
    for cls_name in ("MLPPredictor", "LSTMPredictor"):
        p, path, _ = nb201_models[cls_name]
        o = load_onnx_predictor(path, intra_op_num_threads=1, batch_size=64)
        assert (o.predictor_class_, o.encoding_) == (cls_name, ENCODING[cls_name])
        by_arch = o.predict(archs)
        np.testing.assert_array_equal(by_arch, o.predict([sp.format(a) for a in archs]))
        np.testing.assert_array_equal(by_arch, o.predict_arrays(p.encode(archs)))
        assert rel_err(p.predict(archs), by_arch) < 1e-5
    o_lstm = load_onnx_predictor(nb201_models["LSTMPredictor"][1])
    seq = nb201_models["LSTMPredictor"][0].encode(archs[:4])["seq"].copy()
    seq[2, 3] = 5  # decision 3 has 5 choices: 5 would silently read decision 4's first row
    with pytest.raises(ParameterError, match=r"seq\[2, 3\] = 5 is outside \[0, 5\)"):
        o_lstm.predict_arrays({"seq": seq})
    with pytest.raises(ParameterError, match=r"input 'seq' must have shape \[batch, 6\]"):
        o_lstm.predict_arrays({"seq": seq[:, :5]})
    o_mlp = load_onnx_predictor(nb201_models["MLPPredictor"][1])
    x = nb201_models["MLPPredictor"][0].encode(archs[:4])["onehot"].copy()
    x[1, 0:5] = 0.0  # decision 0 of architecture 1 has no choice
    with pytest.raises(ParameterError, match="exactly one 1.0 per decision block"):
        o_mlp.predict_arrays({"onehot": x})
    with pytest.raises(ParameterError, match="exactly one 1.0 per decision block"):
        o_mlp.predict_arrays({"onehot": x * 0.5 + 0.25})


def test_a_model_of_another_space_is_refused(tmp_path):
    from archmodel.export import to_onnx

    p = fresh("LSTMPredictor", "nb201")
    p.space_ = "tnb101-micro"  # 4 operations per edge, not 5
    with pytest.raises(ParameterError, match="does not belong to this space"):
        to_onnx(p, tmp_path / "x.onnx")
    q = fresh("MLPPredictor", "nb201")
    q.space_ = "tnb101-micro"
    with pytest.raises(ParameterError, match="does not belong to this space"):
        to_onnx(q, tmp_path / "x.onnx")
    r = fresh("GCNPredictor", "darts")
    r.space_ = "enas"
    with pytest.raises(ParameterError, match="does not match search space 'enas'"):
        to_onnx(r, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("cls_name", CLASSES)
def test_export_and_score_commands(tmp_path, cls_name):
    """``archmodel export`` then ``archmodel score --onnx`` on a saved baseline."""
    from click.testing import CliRunner

    from archmodel.cli.export import export
    from archmodel.cli.predict import score

    p = fresh(cls_name, "nb201", seed=2)
    p.save(tmp_path / "model.npz")
    runner = CliRunner()
    r = runner.invoke(export, [str(tmp_path / "model.npz"), "-o", str(tmp_path / "model.onnx")])
    assert r.exit_code == 0, r.output
    assert f"{cls_name} for nb201" in r.output
    sp = get_space("nb201")
    archs = sp.sample(20, 9)
    (tmp_path / "a.txt").write_text("\n".join(sp.format(a) for a in archs) + "\n")
    r = runner.invoke(score, [str(tmp_path / "model.onnx"), "--onnx", "--input", str(tmp_path / "a.txt"), "--json"])
    assert r.exit_code == 0, r.output
    got = np.asarray(json.loads(r.output), np.float32)
    assert got.shape == (20,) and rel_err(p.predict(archs), got) < 1e-5
