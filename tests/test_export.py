"""ONNX export (archmodel.export): graph validity, versions, metadata, converter registry,
atomic writes, the onnxruntime inference backend, load errors, the ``export`` command.

Numerical parity on 10,000 architectures per space is in test_export_parity.py; the encoding
contract and the standalone client are in test_export_contract.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_correctly_rounded, require_module

onnx = require_module("onnx", "onnx")
ort = require_module("onnxruntime", "onnx")

from archmodel.errors import (FormatError, InvalidArchitectureError, NotFittedError,  # noqa: E402
                              ParameterError)
from archmodel.spaces import get_space  # noqa: E402

SMALL = dict(op_emb_dim=8, node_emb_dim=8, hidden_dim=16, gates_dims=(24, 24, 24), mlp_hidden=(32, 32))


def fresh_gates(space_name: str, seed: int = 0, dtype=np.float32, **kw):
    """A GATESPredictor with freshly initialised parameters (no training needed for parity)."""
    from archmodel.predictors.gates import GATESPredictor

    sp = get_space(space_name)
    p = GATESPredictor(backend="numpy", dtype=np.dtype(dtype).name, **{**SMALL, **kw})
    p.initialize(sp, seed)
    return p


def reference(p, archs) -> np.ndarray:
    p.backend = "numpy"
    return p.predict(archs)


def rel_err(ref, got) -> float:
    ref = np.asarray(ref, np.float64)
    return float(np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def nb201_model(tmp_path_factory):
    from archmodel.export import to_onnx

    p = fresh_gates("nb201")
    path = tmp_path_factory.mktemp("onnx") / "nb201.onnx"
    model = to_onnx(p, path)
    return p, path, model


# ============================================================================ the graph
def test_model_is_valid_pinned_and_dynamic(nb201_model):
    _, path, model = nb201_model
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    assert loaded.ir_version == 8
    assert [(o.domain, o.version) for o in loaded.opset_import] == [("", 17)]
    (inp,) = loaded.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == "edges" and inp.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 6, 3]
    (out,) = loaded.graph.output
    assert out.name == "score" and out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param for d in out.type.tensor_type.shape.dim] == ["batch"]
    # every weight is float32; only structural constants are integer
    kinds = {onnx.helper.tensor_dtype_to_np_dtype(t.data_type) for t in loaded.graph.initializer}
    assert kinds <= {np.dtype(np.float32), np.dtype(np.int64)}
    assert {n.op_type for n in loaded.graph.node}.isdisjoint({"Loop", "Scan", "If"})


def test_metadata_records_space_contract_version_and_class(nb201_model):
    from archmodel._version import __version__
    from archmodel.export.contract import CONTRACT_VERSION, METADATA_KEYS

    p, path, model = nb201_model
    meta = {m.key: m.value for m in onnx.load(str(path)).metadata_props}
    assert meta["archmodel_format"] == "archmodel.onnx_predictor"
    assert meta["space"] == "nb201"
    assert int(meta["contract_version"]) == CONTRACT_VERSION
    assert meta["archmodel_version"] == __version__
    assert meta["predictor_class"] == "GATESPredictor"
    assert meta["encoding"] == "graph"
    assert json.loads(meta["model_config"]) == p.model_.get_config()
    assert json.loads(meta["predictor_params"])["gates_dims"] == [24, 24, 24]
    assert meta["source_dtype"] == "float32" and float(meta["cast_max_abs_param_error"]) == 0.0
    assert meta["compute_dtype"] == "float32"
    assert 0 <= float(meta["verify_max_rel_error"]) < 1e-5
    assert set(meta) <= set(METADATA_KEYS) and set(METADATA_KEYS) == set(meta)


@pytest.mark.parametrize("batch", [1, 7, 4096])
def test_any_batch_size_runs(nb201_model, batch):
    p, path, _ = nb201_model
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    archs = get_space("nb201").sample(batch, batch)
    got = sess.run(["score"], p.encode(archs))[0]
    assert got.shape == (batch,) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference(p, archs), rtol=1e-5, atol=1e-5 * np.abs(got).max())


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_supported_opsets(tmp_path, opset):
    from archmodel.export import to_onnx

    p = fresh_gates("darts", seed=1)
    model = to_onnx(p, tmp_path / "m.onnx", opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == opset
    assert model.ir_version == onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)])
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    archs = get_space("darts").sample(50, 2)
    assert rel_err(reference(p, archs), sess.run(["score"], p.encode(archs))[0]) < 1e-5


@pytest.mark.parametrize("readout", ["output", "mean"])
@pytest.mark.parametrize("space_name", ["nb201", "nb101", "darts", "enas", "nasbench-graph", "tnb101-micro"])
def test_small_models_every_space_and_readout(tmp_path, space_name, readout):
    from archmodel.export import to_onnx

    p = fresh_gates(space_name, seed=7, readout=readout)
    model = to_onnx(p, tmp_path / "m.onnx")
    archs = get_space(space_name).sample(300, 8)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["score"], p.encode(archs))[0]
    assert rel_err(reference(p, archs), got) < 1e-5
    from onnx.reference import ReferenceEvaluator

    (ev,) = ReferenceEvaluator(model).run(None, p.encode(archs[:50]))
    assert rel_err(reference(p, archs[:50]), ev) < 1e-5


def test_score_command_scores_an_onnx_model(nb201_model, tmp_path):
    """``archmodel score --onnx`` (cli/predict.py) goes through archmodel.export.load_onnx_predictor."""
    from click.testing import CliRunner

    from archmodel.cli.predict import score

    p, path, _ = nb201_model
    sp = get_space("nb201")
    archs = sp.sample(20, 9)
    (tmp_path / "a.txt").write_text("\n".join(sp.format(a) for a in archs) + "\n")
    r = CliRunner().invoke(score, [str(path), "--onnx", "--input", str(tmp_path / "a.txt"), "--json"])
    assert r.exit_code == 0, r.output
    got = np.asarray(json.loads(r.output), np.float32)
    assert got.shape == (20,) and rel_err(reference(p, archs), got) < 1e-5


def test_bad_opset_and_unfitted(tmp_path):
    from archmodel.export import to_onnx
    from archmodel.predictors.gates import GATESPredictor

    with pytest.raises(ParameterError, match="'opset' parameter of to_onnx must be an integer in the range"):
        to_onnx(fresh_gates("nb201"), tmp_path / "m.onnx", opset=12)
    with pytest.raises(ParameterError, match="'compute_dtype' parameter of to_onnx must be one of"):
        to_onnx(fresh_gates("nb201"), tmp_path / "m.onnx", compute_dtype="float16")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        to_onnx(GATESPredictor(), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_float64_model_is_cast_and_the_error_recorded(tmp_path, caplog):
    import logging

    from archmodel.export import to_onnx

    p64 = fresh_gates("nb201", seed=4, dtype=np.float64)
    with caplog.at_level(logging.INFO, logger="archmodel.export"):
        model = to_onnx(p64, tmp_path / "m64.onnx")
    meta = {m.key: float(m.value) if m.key.startswith(("cast", "verify")) else m.value
            for m in model.metadata_props}
    assert meta["source_dtype"] == "float64"
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in model.graph.initializer
               if t.name.startswith(("encoder.", "head.")))
    # parameter cast error: half a float32 ulp at most
    biggest = max(float(np.abs(v).max()) for v in p64.params_.values())
    assert 0 < meta["cast_max_abs_param_error"] <= biggest * 2.0 ** -24
    assert 0 < meta["cast_max_rel_param_error"] <= 2.0 ** -24
    # score cast error on the probe sample: re-measure it independently
    probe = get_space("nb201").sample(256, 0)
    ref64 = reference(p64, probe)
    p32 = fresh_gates("nb201", seed=4, dtype=np.float64)
    p32.params_ = {k: v.astype(np.float32) for k, v in p64.params_.items()}
    p32.dtype = "float32"
    ref32 = reference(p32, probe).astype(np.float64)
    assert meta["cast_max_abs_score_error"] == pytest.approx(float(np.abs(ref32 - ref64).max()), rel=1e-6)
    assert 0 < meta["cast_max_rel_score_error"] < 1e-5
    assert "cast to float32" in caplog.text
    sess = ort.InferenceSession(str(tmp_path / "m64.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["score"], p64.encode(probe))[0]
    assert got.dtype == np.float32 and rel_err(ref64, got) < 1e-5


# ============================================================================ registry
def test_no_converter_is_a_clear_error_never_a_wrong_graph(tmp_path):
    from archmodel.export import NoConverterError, get_converter, supported_predictors, to_onnx
    from archmodel.predictors.base import Predictor
    from archmodel.predictors.gates import GATESPredictor

    class MyPredictor(Predictor):
        pass

    class MyGATES(GATESPredictor):  # may change the math: the parent's converter must not apply
        pass

    p = MyPredictor()
    p.params_, p.model_, p.space_ = {}, object(), "nb201"
    with pytest.raises(NoConverterError, match="no ONNX converter for MyPredictor"):
        to_onnx(p, tmp_path / "x.onnx")
    g = MyGATES(**SMALL)
    ref = fresh_gates("nb201")
    g.params_, g.model_, g.space_ = ref.params_, ref.model_, "nb201"
    with pytest.raises(NoConverterError, match="its parent GATESPredictor has one"):
        to_onnx(g, tmp_path / "x.onnx")
    with pytest.raises(TypeError, match="no ONNX converter"):  # NoConverterError is a TypeError
        get_converter(MyPredictor)
    assert not (tmp_path / "x.onnx").exists()
    assert "GATESPredictor" in supported_predictors()


def test_register_converter_for_a_new_class(tmp_path):
    from archmodel.export import _REGISTRY, get_converter, register_converter, to_onnx
    from archmodel.export.gates import convert_gates
    from archmodel.predictors.gates import GATESPredictor

    class SameMathGATES(GATESPredictor):
        pass

    key = f"{SameMathGATES.__module__}.{SameMathGATES.__qualname__}"
    try:
        register_converter(SameMathGATES, convert_gates, encoding="graph")
        with pytest.raises(ParameterError, match="already registered"):
            register_converter(SameMathGATES, convert_gates, encoding="graph")
        register_converter(SameMathGATES, "archmodel.export.gates:convert_gates", encoding="graph",
                           overwrite=True)
        assert get_converter(SameMathGATES).convert is convert_gates
        ref = fresh_gates("nb201")
        g = SameMathGATES(**SMALL, backend="numpy")
        g.params_, g.model_, g.space_ = ref.params_, ref.model_, "nb201"
        model = to_onnx(g, tmp_path / "same.onnx")
        assert {m.key: m.value for m in model.metadata_props}["predictor_class"] == "SameMathGATES"
        with pytest.raises(ParameterError, match="must be a callable or 'module:function'"):
            register_converter("some.Class", "not-a-target", encoding="graph")
        with pytest.raises(ParameterError, match="has no encoding 'bitstring'"):
            register_converter(SameMathGATES, convert_gates, encoding="bitstring", overwrite=True)
            to_onnx(g, tmp_path / "bad.onnx")
        with pytest.raises(ParameterError, match="differ from the contract's 'onehot' inputs"):
            register_converter(SameMathGATES, convert_gates, encoding="onehot", overwrite=True)
            to_onnx(g, tmp_path / "bad.onnx")
    finally:
        _REGISTRY.pop(key, None)
    assert not (tmp_path / "bad.onnx").exists()


def test_write_is_atomic(tmp_path, monkeypatch):
    from archmodel.export import _REGISTRY, to_onnx

    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous content")
    p = fresh_gates("nb201")

    def broken(predictor, g):
        g.input("edges", "int64", ["batch", 1, 6, 3])
        raise RuntimeError("converter failed half way")

    monkeypatch.setitem(_REGISTRY, "archmodel.predictors.gates.GATESPredictor", (broken, "graph"))
    with pytest.raises(RuntimeError, match="half way"):
        to_onnx(p, target)
    assert target.read_bytes() == b"previous content"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]  # no temporary file left behind


def test_a_wrong_graph_is_refused_by_verification(tmp_path, monkeypatch):
    from archmodel.errors import ArchModelError
    from archmodel.export import _REGISTRY, to_onnx
    from archmodel.export.gates import convert_gates

    p = fresh_gates("nb201")

    def off_by_a_bit(predictor, g):  # correct interface, wrong math (head bias changed)
        import copy

        q = copy.copy(predictor)
        q.params_ = dict(predictor.params_)
        q.params_["head.out.bias"] = q.params_["head.out.bias"] + np.float32(0.5)
        convert_gates(q, g)

    monkeypatch.setitem(_REGISTRY, "archmodel.predictors.gates.GATESPredictor", (off_by_a_bit, "graph"))
    with pytest.raises(ArchModelError, match="disagrees with the NumPy reference"):
        to_onnx(p, tmp_path / "wrong.onnx")
    assert not (tmp_path / "wrong.onnx").exists()


# ============================================================================ inference backend
def test_onnx_predictor_api(nb201_model):
    from archmodel.backends.onnxruntime import ONNXPredictor
    from archmodel.export import load_onnx_predictor

    p, path, _ = nb201_model
    o = load_onnx_predictor(path, intra_op_num_threads=1, batch_size=100)
    assert isinstance(o, ONNXPredictor)
    assert (o.space_, o.predictor_class_, o.encoding_) == ("nb201", "GATESPredictor", "graph")
    assert o.input_names_ == ["edges"]
    assert o.session_options_.intra_op_num_threads == 1 and o.providers_ == ["CPUExecutionProvider"]
    assert o.model_info["model_config"]["gates_dims"] == [24, 24, 24]
    sp = get_space("nb201")
    archs = sp.sample(333, 5)
    ref = reference(p, archs)
    by_arch = o.predict(archs)
    by_str = o.predict([sp.format(a) for a in archs])
    by_naslib = o.predict([sp.format(a, "naslib") for a in archs], batch_size=7)
    by_arrays = o.predict_arrays(o.encode(archs))
    np.testing.assert_array_equal(by_arch, by_str)
    np.testing.assert_array_equal(by_arch, by_arrays)
    np.testing.assert_allclose(by_naslib, by_arch, rtol=1e-6, atol=1e-7)
    assert rel_err(ref, by_arch) < 1e-5
    # batching changes nothing about the order
    np.testing.assert_allclose(o.predict_arrays(p.encode(archs), batch_size=1)[::37], by_arch[::37],
                               rtol=1e-6, atol=1e-7)
    with pytest.raises(InvalidArchitectureError, match="scores search space 'nb201'"):
        o.predict(get_space("darts").sample(2, 0))
    with pytest.raises(ParameterError, match=r"input 'edges' must have shape \[batch, 1, 6, 3\]"):
        o.predict_arrays({"edges": np.zeros((3, 6, 3), np.int64)})
    bad = p.encode(archs[:3])["edges"].copy()
    bad[0, 0, 0, 1] = 4  # node 4 does not exist in a 4-node cell
    with pytest.raises(ParameterError, match=r"node numbers in \[0, 4\) and operation indices in \[0, 5\)"):
        o.predict_arrays({"edges": bad})
    with pytest.raises(ParameterError, match="lacks inputs"):
        o.predict_arrays({"adj": np.zeros((3, 1, 4, 4), np.float32)})
    with pytest.raises(ParameterError, match="graph_optimization_level"):
        load_onnx_predictor(path, graph_optimization_level="max")
    slow = load_onnx_predictor(path, graph_optimization_level="disable", inter_op_num_threads=1)
    np.testing.assert_allclose(slow.predict(archs), by_arch, rtol=1e-5, atol=1e-6 * np.abs(by_arch).max())


def test_inference_needs_neither_numba_nor_onnx(nb201_model, tmp_path):
    p, path, _ = nb201_model
    sp = get_space("nb201")
    archs = sp.sample(50, 6)
    (tmp_path / "archs.txt").write_text("\n".join(sp.format(a) for a in archs))
    code = (
        "import sys, json\n"
        "sys.modules['numba'] = None\n"
        "from archmodel.export import load_onnx_predictor\n"
        "p = load_onnx_predictor(sys.argv[1], intra_op_num_threads=1)\n"
        "scores = p.predict(open(sys.argv[2]).read().split())\n"
        "print(json.dumps({'space': p.space_, 'scores': [float(s) for s in scores],\n"
        "  'numba': sys.modules['numba'] is None,\n"
        "  'onnx': [m for m in sys.modules if m == 'onnx' or m.startswith('onnx.')]}))\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "archs.txt")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["space"] == "nb201" and out["numba"] is True and out["onnx"] == []
    np.testing.assert_allclose(out["scores"], reference(p, archs), rtol=1e-5,
                               atol=1e-5 * max(abs(s) for s in out["scores"]))


# ============================================================================ load errors
@pytest.mark.parametrize("cut", [0.0, 0.1, 0.5, 0.9, 0.999, -1])
def test_truncated_file_is_a_format_error(nb201_model, tmp_path, cut):
    from archmodel.export import load_onnx_predictor

    data = nb201_model[1].read_bytes()
    n = len(data) - 1 if cut == -1 else int(len(data) * cut)
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[:n])
    msg = "truncated\\.onnx: (not a loadable ONNX model|not an archmodel ONNX predictor)"
    with pytest.raises(FormatError, match=msg):
        load_onnx_predictor(bad)


def test_corrupted_file_is_a_format_error(nb201_model, tmp_path):
    from archmodel.export import load_onnx_predictor

    data = bytearray(nb201_model[1].read_bytes())
    rng = np.random.default_rng(0)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(FormatError, match="not a loadable ONNX model"):
        load_onnx_predictor(garbage)
    data[:64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()  # smashed header
    smashed = tmp_path / "smashed.onnx"
    smashed.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="smashed.onnx"):
        load_onnx_predictor(smashed)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_onnx_predictor(tmp_path / "missing.onnx")


def _with_metadata(src, dst, **changes) -> None:
    m = onnx.load(str(src))
    props = {p.key: p.value for p in m.metadata_props}
    props.update({k: v for k, v in changes.items() if v is not None})
    for k in [k for k, v in changes.items() if v is None]:
        props.pop(k)
    del m.metadata_props[:]
    onnx.helper.set_model_props(m, props)
    onnx.save(m, str(dst))


def test_unknown_contract_version_or_foreign_model_is_a_format_error(nb201_model, tmp_path):
    from archmodel.export import load_onnx_predictor

    src = nb201_model[1]
    _with_metadata(src, tmp_path / "future.onnx", contract_version="99")
    with pytest.raises(FormatError, match="contract_version 99 is not supported.*newer archmodel: upgrade"):
        load_onnx_predictor(tmp_path / "future.onnx")
    _with_metadata(src, tmp_path / "nonint.onnx", contract_version="v1")
    with pytest.raises(FormatError, match="contract_version 'v1' is not an integer"):
        load_onnx_predictor(tmp_path / "nonint.onnx")
    _with_metadata(src, tmp_path / "foreign.onnx", archmodel_format=None)
    with pytest.raises(FormatError, match="not an archmodel ONNX predictor"):
        load_onnx_predictor(tmp_path / "foreign.onnx")
    _with_metadata(src, tmp_path / "nospace.onnx", space="not-a-space")
    with pytest.raises(FormatError, match="no ONNX contract for search space 'not-a-space'"):
        load_onnx_predictor(tmp_path / "nospace.onnx")
    _with_metadata(src, tmp_path / "fmt2.onnx", archmodel_format_version="2")
    with pytest.raises(FormatError, match="archmodel_format_version '2' is not supported"):
        load_onnx_predictor(tmp_path / "fmt2.onnx")


# ============================================================================ CLI
def test_export_command(tmp_path):
    from click.testing import CliRunner

    from archmodel.cli.export import export
    from archmodel.export import load_onnx_predictor

    p = fresh_gates("nb101", seed=2)
    p.save(tmp_path / "model.npz")
    runner = CliRunner()
    r = runner.invoke(export, [str(tmp_path / "model.npz"), "-o", str(tmp_path / "model.onnx"), "--opset", "13"])
    assert r.exit_code == 0, r.output
    assert "opset 13, IR version 7" in r.output and "GATESPredictor for nb101" in r.output
    o = load_onnx_predictor(tmp_path / "model.onnx")
    archs = get_space("nb101").sample(64, 3)
    assert rel_err(reference(p, archs), o.predict(archs)) < 1e-5
    r = runner.invoke(export, [str(tmp_path / "model.npz"), "-o", str(tmp_path / "m2.onnx"), "--json", "--no-verify"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["opset"] == 17 and report["ir_version"] == 8 and report["space"] == "nb101"
    assert "verify_max_rel_error" not in report and report["compute_dtype"] == "float32"
    r = runner.invoke(export, [str(tmp_path / "model.npz"), "-o", str(tmp_path / "m64.onnx"), "--json",
                               "--compute-dtype", "float64", "--opset", "13"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["compute_dtype"] == "float64" and report["verify_max_rel_error"] < 1e-6
    o64 = load_onnx_predictor(tmp_path / "m64.onnx")
    assert o64.compute_dtype_ == "float64" and o.compute_dtype_ == "float32"
    got = o64.predict(archs)
    # double arithmetic in the graph and in NumPy/BLAS, each rounded to float32 once: equal
    # except next to a float32 rounding boundary (then one float32 step apart)
    assert_correctly_rounded(got, np.asarray(p.astype("float64").predict(archs), np.float64))
    r = runner.invoke(export, [str(tmp_path / "model.npz"), "-o", str(tmp_path / "m5.onnx"), "--compute-dtype", "half"])
    assert r.exit_code == 2 and "'half' is not one of 'float32', 'float64'" in r.output
    r = runner.invoke(export, [str(tmp_path / "model.npz"), "-o", str(tmp_path / "m3.onnx"), "--opset", "99"])
    assert r.exit_code == 2 and "99 is not in the range 13<=x<=21" in r.output
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    r = runner.invoke(export, [str(tmp_path / "junk.npz"), "-o", str(tmp_path / "m4.onnx")])
    assert isinstance(r.exception, FormatError) and "truncated or corrupt" in str(r.exception)
    assert not (tmp_path / "m3.onnx").exists() and not (tmp_path / "m4.onnx").exists()


def test_node_kind_inputs_are_validated(tmp_path):
    from archmodel.export import load_onnx_predictor, to_onnx

    p = fresh_gates("nb101", seed=3)
    to_onnx(p, tmp_path / "m.onnx")
    o = load_onnx_predictor(tmp_path / "m.onnx")
    assert o.input_names_ == ["adj", "node_ops"]
    batch = p.encode(get_space("nb101").sample(4, 0))
    bad_adj = dict(batch, adj=batch["adj"] * 2)
    with pytest.raises(ParameterError, match="'adj' must hold only 0.0 and 1.0"):
        o.predict_arrays(bad_adj)
    bad_ops = dict(batch, node_ops=batch["node_ops"] + 5)
    with pytest.raises(ParameterError, match=r"'node_ops' needs operation indices in \[0, 5\)"):
        o.predict_arrays(bad_ops)
    with pytest.raises(ParameterError, match="disagree on the batch size"):
        o.predict_arrays(dict(batch, node_ops=batch["node_ops"][:2]))
    with pytest.raises(ParameterError, match="execution providers \\['NoSuchExecutionProvider'\\] are not available"):
        load_onnx_predictor(tmp_path / "m.onnx", providers=["NoSuchExecutionProvider"])
    assert o.predict_arrays(batch).shape == (4,)


def test_missing_onnx_or_onnxruntime_name_the_extra(nb201_model):
    code = (
        "import sys\n"
        "sys.modules[sys.argv[2]] = None\n"
        "from archmodel.errors import MissingDependencyError\n"
        "from archmodel.export import to_onnx, load_onnx_predictor\n"
        "try:\n"
        "    load_onnx_predictor(sys.argv[1]) if sys.argv[2] == 'onnxruntime' else to_onnx(None, None)\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    for missing in ("onnx", "onnxruntime"):
        r = subprocess.run([sys.executable, "-c", code, str(nb201_model[1]), missing],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "pip install 'archmodel[onnx]'" in r.stdout, (missing, r.stdout)
