"""The published ONNX encoding contract (specs/onnx/<space>.json) and a client that uses only it.

``tests/contract_client.py`` imports onnxruntime, numpy and json only; it builds the input
arrays from architecture strings by following the contract and must reproduce archmodel.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra 'onnx')")
pytest.importorskip("onnx", reason="onnx is not installed (extra 'onnx')")

from archmodel.errors import FormatError, ParameterError  # noqa: E402
from archmodel.spaces import get_space, list_spaces  # noqa: E402

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "contract_client.py"
SPECS = HERE.parent / "specs" / "onnx"
SMALL = dict(op_emb_dim=8, node_emb_dim=8, hidden_dim=16, gates_dims=(24, 24, 24), mlp_hidden=(32, 32))


def _client_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("contract_client", CLIENT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


#: small configurations of every predictor class with a converter
SMALL_BY_CLASS = {
    "GATESPredictor": SMALL,
    "MLPPredictor": dict(mlp_hidden=(32, 32)),
    "LSTMPredictor": dict(emb_dim=8, hidden_dim=16, mlp_hidden=(32,)),
    "GCNPredictor": dict(gcn_dims=(24, 24), mlp_hidden=(32,)),
}
ENCODINGS = ["graph", "onehot", "sequence"]


def _gates(space_name: str, seed: int = 0):
    return _fresh("GATESPredictor", space_name, seed)


def _fresh(cls_name: str, space_name: str, seed: int = 0):
    from archmodel.predictors import predictor_class

    sp = get_space(space_name)
    p = predictor_class(cls_name)(backend="numpy", **SMALL_BY_CLASS[cls_name])
    p.initialize(sp, seed)
    return p


def test_every_space_ships_a_contract_equal_to_the_generator():
    from archmodel.export.contract import build_contract, contract_json

    assert sorted(p.stem for p in SPECS.glob("*.json")) == list_spaces()
    for name in list_spaces():
        shipped = (SPECS / f"{name}.json").read_text(encoding="utf-8")
        assert shipped == contract_json(build_contract(name)), (
            f"specs/onnx/{name}.json is stale: regenerate with python -m archmodel.export.contract")


def test_contract_fields():
    from archmodel.encoding import vocabulary
    from archmodel.export.contract import CONTRACT_VERSION, load_contract

    for name in list_spaces():
        c = load_contract(name)
        sp = get_space(name)
        assert c["contract_version"] == CONTRACT_VERSION and c["space"] == name
        assert c["vocabulary"] == vocabulary(sp)
        assert c["build"]["string_format"] in sp.formats
        graph = c["encodings"]["graph"]
        assert graph["output"] == {"name": "score", "dtype": "float32", "shape": ["batch"],
                                   "description": graph["output"]["description"]}
        for inp in graph["inputs"]:
            assert inp["shape"][0] == "batch" and inp["dtype"] in ("int64", "float32")
        for ex in c["examples"]:  # worked examples decode to archmodel's own arrays
            arch = sp.parse(ex["string"])
            arrays = sp.to_arrays([arch])
            for k, v in ex["arrays"].items():
                np.testing.assert_array_equal(np.asarray(v), getattr(arrays, k)[0])
            assert sp.parse(ex["sequence"], "sequence") == arch
            assert json.loads(ex["sequence"]) == list(arch.seq)
            assert sorted(ex["encodings"]) == ENCODINGS
            np.testing.assert_array_equal(ex["encodings"]["sequence"]["seq"], arch.seq)
            np.testing.assert_array_equal(ex["encodings"]["onehot"]["onehot"], sp.onehot([arch])[0])
            assert ex["encodings"]["graph"] == ex["arrays"]
        # the decision encodings: sizes and offsets of the space, one input each
        sizes = list(sp.decision_sizes)
        assert c["build"]["decisions"]["decision_sizes"] == sizes
        assert c["encodings"]["sequence"]["inputs"][0]["shape"] == ["batch", len(sizes)]
        assert c["encodings"]["onehot"]["inputs"][0]["shape"] == ["batch", sum(sizes)]
        assert c["encodings"]["onehot"]["offsets"] == [sum(sizes[:t]) for t in range(len(sizes))]
        assert c["encodings"]["sequence"]["inputs"][0]["dtype"] == "int64"
        assert c["encodings"]["onehot"]["inputs"][0]["dtype"] == "float32"
        # every class with a converter is listed under the encoding its graphs take
        from archmodel.export import _REGISTRY

        for key, (_, encoding) in _REGISTRY.items():
            assert key.rsplit(".", 1)[-1] in c["encodings"][encoding]["predictors"]


def test_contract_errors():
    from archmodel.export.contract import check_contract_version, load_contract

    with pytest.raises(ParameterError, match="no ONNX contract for search space 'nb999'"):
        load_contract("nb999")
    with pytest.raises(FormatError, match="contract_version 2 is not supported.*upgrade"):
        check_contract_version(2)
    with pytest.raises(FormatError, match="contract_version 0 is not supported"):
        check_contract_version(0)
    with pytest.raises(FormatError, match="is not an integer"):
        check_contract_version(None)


def test_client_imports_only_onnxruntime_numpy_json():
    tree = ast.parse(CLIENT.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported == {"json", "sys", "numpy", "onnxruntime"}


@pytest.mark.parametrize("space_name", list_spaces())
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_client_builds_archmodels_arrays_from_strings(space_name, encoding):
    """The contract's construction rules, implemented independently, give archmodel's arrays
    (and the same arrays the predictors encode)."""
    from archmodel.export import get_converter
    from archmodel.export.contract import encode, load_contract
    from archmodel.predictors import REGISTRY, predictor_class

    client = _client_module()
    sp = get_space(space_name)
    c = load_contract(space_name)
    archs = sp.sample(2000, 21)
    strings = [sp.format(a, c["build"]["string_format"]) for a in archs]
    built = client.build_arrays(c, strings, encoding)
    want = encode(sp, archs, encoding)
    assert sorted(built) == sorted(want) == sorted(i["name"] for i in c["encodings"][encoding]["inputs"])
    for k in want:
        assert built[k].dtype == want[k].dtype
        np.testing.assert_array_equal(built[k], want[k])
    for name in REGISTRY:  # what each predictor feeds its model is the contract's encoding
        if get_converter(predictor_class(name)).encoding == encoding:
            ours = _fresh(name, space_name).encode(archs[:50])
            for k in want:
                np.testing.assert_array_equal(np.asarray(ours[k]).astype(want[k].dtype), want[k][:50])


CLIENT_CASES = ([("GATESPredictor", s) for s in ("nb201", "darts", "nb101", "nasbench-graph")]
                + [(c, s) for c in ("MLPPredictor", "LSTMPredictor", "GCNPredictor")
                   for s in ("nb201", "darts", "nb101")])


@pytest.mark.parametrize("cls_name, space_name", CLIENT_CASES)
def test_standalone_client_reproduces_archmodel_scores(tmp_path, cls_name, space_name):
    from archmodel.export import load_onnx_predictor, to_onnx

    p = _fresh(cls_name, space_name, seed=5)
    model = tmp_path / "model.onnx"
    to_onnx(p, model)
    sp = get_space(space_name)
    fmt = json.loads((SPECS / f"{space_name}.json").read_text())["build"]["string_format"]
    archs = sp.sample(1500 if space_name == "nb201" else 300, 22)
    (tmp_path / "archs.txt").write_text("\n".join(sp.format(a, fmt) for a in archs) + "\n")
    # archmodel made unimportable in the client's process
    runner = ("import sys, runpy; sys.modules['archmodel'] = None; sys.argv = sys.argv[1:]; "
              "runpy.run_path(sys.argv[0], run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", runner, str(CLIENT), str(SPECS / f"{space_name}.json"),
                        str(model), str(tmp_path / "archs.txt"), "512"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    scores = np.asarray(json.loads(r.stdout), dtype=np.float32)
    ours = load_onnx_predictor(model, batch_size=512).predict(archs)
    np.testing.assert_array_equal(scores, ours)
    ref = p.predict(archs)
    np.testing.assert_allclose(scores, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))


def test_client_refuses_a_model_of_another_contract_version(tmp_path):
    import onnx

    from archmodel.export import to_onnx

    model = to_onnx(_gates("nb201"), None)
    props = {m.key: m.value for m in model.metadata_props}
    props["contract_version"] = "7"
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(tmp_path / "m.onnx"))
    (tmp_path / "a.txt").write_text(get_space("nb201").format(get_space("nb201").sample(1, 0)[0]) + "\n")
    r = subprocess.run([sys.executable, str(CLIENT), str(SPECS / "nb201.json"), str(tmp_path / "m.onnx"),
                        str(tmp_path / "a.txt")], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "contract version 7" in r.stderr


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_client_pads_nb101_modules_with_fewer_than_7_nodes(encoding):
    from archmodel.export.contract import encode, load_contract

    client = _client_module()
    sp = get_space("nb101")
    strings = []
    for a in sp.sample(500, 23):
        m, ops = sp.matrix_ops(a)  # NB101's own pruned module: 2..7 nodes
        strings.append(json.dumps({"matrix": m.tolist(), "ops": ops}))
    sizes = {len(json.loads(s)["ops"]) for s in strings}
    assert min(sizes) < 7  # some modules really are smaller
    built = client.build_arrays(load_contract("nb101"), strings, encoding)
    want = encode(sp, [sp.parse(s) for s in strings], encoding)
    for k in want:
        np.testing.assert_array_equal(built[k], want[k])
