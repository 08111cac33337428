"""The published ONNX encoding contract (specs/onnx/<space>.json) and the client shipped beside it.

``specs/onnx/client.py`` (installed as ``archmodel/specs/onnx/client.py``) imports numpy,
onnxruntime and the standard library only and reads nothing but the contract file. These tests
check that it reproduces archmodel from the contract alone (arrays and scores), that it refuses
every bad input the contract lists with a message naming the field and the allowed values, and
that it refuses models of another contract version or contract text (``contract_sha256``).
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require_module  # the 'onnx' extra: skips locally, fails under CI
ort, _onnx = require_module("onnxruntime", "onnx"), require_module("onnx", "onnx")

from archmodel.errors import ArchModelError, FormatError, ParameterError  # noqa: E402
from archmodel.spaces import get_space, list_spaces  # noqa: E402

HERE = Path(__file__).resolve().parent
SPECS = HERE.parent / "specs" / "onnx"
CLIENT = SPECS / "client.py"
SMALL = dict(op_emb_dim=8, node_emb_dim=8, hidden_dim=16, gates_dims=(24, 24, 24), mlp_hidden=(32, 32))

#: small configurations of every predictor class with a converter
SMALL_BY_CLASS = {
    "GATESPredictor": SMALL,
    "MLPPredictor": dict(mlp_hidden=(32, 32)),
    "LSTMPredictor": dict(emb_dim=8, hidden_dim=16, mlp_hidden=(32,)),
    "GCNPredictor": dict(gcn_dims=(24, 24), mlp_hidden=(32,)),
    "TAGATESPredictor": dict(time_steps=2, gates_dims=(16, 16), backward_dims=(16,), fb_dims=(16,),
                             update_dims=(16,), mlp_hidden=(32,)),
}
#: registered predictors without an ONNX converter yet (each entry says why; the tests fail on
#: any other predictor without one, and on an entry here that has gained one)
NO_CONVERTER_YET = {"DELEPredictor": "issue 10: the DELE ensemble's export is not written yet"}
ENCODINGS = ["graph", "onehot", "sequence"]
#: the score tolerance the contract promises: 1e-5 of the score scale (max |reference score|)
SCORE_TOL = 1e-5


def _client():
    """The shipped client, loaded from its file (as a user copying it would)."""
    spec = importlib.util.spec_from_file_location("archmodel_contract_client", CLIENT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


client = _client()


def _contract(space_name: str) -> dict:
    return client.load_contract(str(SPECS / f"{space_name}.json"))


def _fresh(cls_name: str, space_name: str, seed: int = 0):
    from archmodel.predictors import predictor_class

    p = predictor_class(cls_name)(backend="numpy", **SMALL_BY_CLASS[cls_name])
    p.initialize(get_space(space_name), seed)
    return p


# ============================================================================ the files
def test_every_space_ships_a_contract_equal_to_the_generator():
    from archmodel.export.contract import build_contract, contract_json

    assert sorted(p.stem for p in SPECS.glob("*.json")) == list_spaces()
    for name in list_spaces():
        shipped = (SPECS / f"{name}.json").read_text(encoding="utf-8")
        assert shipped == contract_json(build_contract(name)), (
            f"specs/onnx/{name}.json is stale: regenerate with python -m archmodel.export.contract")


def test_the_client_is_installed_with_the_contracts():
    """client.py and every contract file match the package-data patterns of archmodel.specs in
    pyproject.toml (specs/onnx is not a Python package, so a wheel carries only what the
    patterns name), and the installed package has them side by side."""
    import re
    from importlib import resources

    text = (HERE.parent / "pyproject.toml").read_text(encoding="utf-8")
    line = re.search(r'^"archmodel\.specs"\s*=\s*(\[.*\])\s*$', text, re.M)
    assert line, "pyproject.toml lacks the package-data line of archmodel.specs"
    shipped = {q.relative_to(SPECS.parent) for pattern in json.loads(line.group(1))
               for q in SPECS.parent.glob(pattern)}
    for f in [CLIENT] + sorted(SPECS.glob("*.json")) + [SPECS / "README.md"]:
        assert f.relative_to(SPECS.parent) in shipped, f"{f.name} is not in archmodel.specs' package-data"
    base = resources.files("archmodel.specs").joinpath("onnx")
    assert base.joinpath("client.py").is_file() and base.joinpath("nb201.json").is_file()


def test_contract_fields():
    from archmodel.encoding import vocabulary
    from archmodel.export.contract import CONTRACT_VERSION, load_contract

    for name in list_spaces():
        c = load_contract(name)
        sp = get_space(name)
        assert c["contract_version"] == CONTRACT_VERSION and c["space"] == name
        assert c["vocabulary"] == vocabulary(sp)
        assert c["build"]["string_format"] in sp.formats
        assert isinstance(c["build"]["whitespace"], str) and len(c["build"]["validation"]) >= 3
        graph = c["encodings"]["graph"]
        assert graph["output"] == {"name": "score", "dtype": "float32", "shape": ["batch"],
                                   "description": graph["output"]["description"]}
        for inp in graph["inputs"]:
            assert inp["shape"][0] == "batch" and inp["dtype"] in ("int64", "float32")
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
        # ONNX metadata values are strings: the contract says so for contract_version
        assert "decimal string" in c["metadata_keys"]["contract_version"]
        assert "contract_sha256" in c["metadata_keys"]


def test_examples_are_the_exact_feed_with_the_batch_dimension():
    """examples[i].inputs: archmodel's arrays for a batch of one, shaped as declared with
    batch = 1; sequence: the decision list as integers; equivalent strings: the same arch."""
    from archmodel.export.contract import encode, load_contract

    for name in list_spaces():
        c = load_contract(name)
        sp = get_space(name)
        fmt = c["build"]["string_format"]
        for ex in c["examples"]:
            arch = sp.parse(ex["string"], fmt)
            assert ex["sequence"] == list(arch.seq) and all(type(v) is int for v in ex["sequence"])
            assert sorted(ex["inputs"]) == ENCODINGS
            for enc in ENCODINGS:
                want = encode(sp, [arch], enc)
                declared = {i["name"]: i for i in c["encodings"][enc]["inputs"]}
                assert sorted(ex["inputs"][enc]) == sorted(declared) == sorted(want)
                for k, v in ex["inputs"][enc].items():
                    a = np.asarray(v, dtype=declared[k]["dtype"])
                    assert list(a.shape) == [1] + declared[k]["shape"][1:]
                    np.testing.assert_array_equal(a, want[k])
            np.testing.assert_array_equal(ex["inputs"]["sequence"]["seq"][0], ex["sequence"])
            assert len(ex["equivalent_strings"]) >= 1
            for other in ex["equivalent_strings"]:
                assert sp.parse(other, fmt) == arch


def test_every_invalid_example_is_refused_by_archmodel():
    for name in list_spaces():
        c = _contract(name)
        sp = get_space(name)
        assert len(c["invalid_examples"]) >= 5
        for bad in c["invalid_examples"]:
            with pytest.raises(ArchModelError, match=rf"\[{name}\]"):
                sp.parse(bad["string"], c["build"]["string_format"])


EDGE_SPACES = [s for s in list_spaces()
               if json.loads((SPECS / f"{s}.json").read_text())["encodings"]["graph"]["inputs"][0]["name"] == "edges"]


@pytest.mark.parametrize("space_name", EDGE_SPACES)
def test_padding_and_edge_columns_are_as_the_contract_says(space_name):
    """Fixed-edge spaces: every row is edge_order[e], no padding; other edge spaces: the cell's
    edge rows come first and every row after them is padding_row."""
    from archmodel.export.contract import encode

    c = _contract(space_name)
    sp = get_space(space_name)
    edges = encode(sp, sp.sample(500, 3), "graph")["edges"]
    b = c["build"]
    description = c["encodings"]["graph"]["inputs"][0]["description"]
    if b["algorithm"] == "fixed_edges":
        assert "there is no padding" in description and "edge_order[e]" in description
        np.testing.assert_array_equal(edges[..., :2], np.broadcast_to(b["edge_order"], edges.shape[:-1] + (2,)))
    else:
        assert "padding_row" in description and "no padding" not in description
        pad = np.all(edges == b["padding_row"], axis=-1).reshape(-1, edges.shape[2])   # [B * C, E]
        n_real = (~pad).sum(-1)
        for row_pad, n in zip(pad, n_real):
            assert not row_pad[:n].any() and row_pad[n:].all()                       # padding last
        assert (n_real >= 2 * b["n_intermediate"] + 1).all()


@pytest.mark.parametrize("space_name, cls_name, variant, reads_src_dst", [
    ("nb201", "GATESPredictor", "auto", False), ("nb201", "GATESPredictor", "dense", True),
    ("nb201", "GCNPredictor", None, True), ("darts", "GATESPredictor", "auto", True),
    ("darts", "GCNPredictor", None, True)])
def test_models_do_not_check_src_dst_and_read_them_as_the_contract_says(space_name, cls_name, variant,
                                                                        reads_src_dst):
    """The 'edges' description: no model refuses wrong [src, dst] columns; the fixed-edge table
    graph ignores them, every other graph's scores change (silently wrong): so clients fill them."""
    from archmodel.export import to_onnx

    model = to_onnx(_fresh(cls_name, space_name, seed=2), None,
                    converter_options=None if variant is None else {"variant": variant})
    meta = {m.key: m.value for m in model.metadata_props}
    assert (meta["graph_variant"] == "fixed_edge_tables") == (not reads_src_dst)
    c = _contract(space_name)
    sp = get_space(space_name)
    edges = client.build_inputs(c, [sp.format(a, c["build"]["string_format"]) for a in sp.sample(64, 9)],
                                "graph")["edges"]
    wrong = edges.copy()
    wrong[..., 0], wrong[..., 1] = wrong[..., 1] - 1, wrong[..., 0] + 1    # other valid node numbers
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    good = sess.run(["score"], {"edges": edges})[0]
    bad = sess.run(["score"], {"edges": wrong})[0]                     # no error either way
    assert np.isfinite(bad).all()
    assert np.array_equal(good, bad) == (not reads_src_dst)


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


# ============================================================================ the client
def test_client_imports_only_numpy_onnxruntime_and_the_standard_library():
    tree = ast.parse(CLIENT.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported == {"argparse", "hashlib", "json", "os", "sys", "numpy", "onnxruntime"}


@pytest.mark.parametrize("space_name", list_spaces())
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_client_builds_archmodels_arrays_from_strings(space_name, encoding):
    """The contract's construction rules, implemented independently, give archmodel's arrays
    (and the same arrays the predictors encode)."""
    from archmodel.export import get_converter
    from archmodel.export.contract import encode
    from archmodel.predictors import REGISTRY, predictor_class

    sp = get_space(space_name)
    c = _contract(space_name)
    archs = sp.sample(800, 21)
    strings = [sp.format(a, c["build"]["string_format"]) for a in archs]
    built = client.build_inputs(c, strings, encoding)
    want = encode(sp, archs, encoding)
    assert sorted(built) == sorted(want) == sorted(i["name"] for i in c["encodings"][encoding]["inputs"])
    for k in want:
        assert built[k].dtype == want[k].dtype
        np.testing.assert_array_equal(built[k], want[k])
    for name in REGISTRY:  # what each predictor feeds its model is the contract's encoding
        if name in NO_CONVERTER_YET:
            continue
        if name == "TAGATESPredictor" and (sp.kind != "edge" or sp.to_arrays(archs[:1]).n_cells != 1):
            continue   # TA-GATES takes one cell of operations on edges
        if get_converter(predictor_class(name)).encoding == encoding:
            ours = _fresh(name, space_name).encode(archs[:50])
            for k in want:
                np.testing.assert_array_equal(np.asarray(ours[k]).astype(want[k].dtype), want[k][:50])


@pytest.mark.parametrize("space_name", list_spaces())
def test_client_accepts_equivalent_and_refuses_invalid_examples(space_name):
    c = _contract(space_name)
    for ex in c["examples"]:
        for enc in ENCODINGS:
            built = client.build_inputs(c, [ex["string"]] + ex["equivalent_strings"], enc)
            for k, v in ex["inputs"][enc].items():
                for row in built[k]:
                    np.testing.assert_array_equal(row[None], np.asarray(v))
    for bad in c["invalid_examples"]:
        with pytest.raises(client.ContractError, match=r"^architecture 0 \(0-based\) "):
            client.build_inputs(c, [bad["string"]], "graph")


NB201_OK = "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|skip_connect~1|none~2|"
NB201_OPS = r"\['none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3'\]"
NB201_BAD = [
    (NB201_OK.replace("avg_pool_3x3", "conv_7x7"),
     rf"op 'conv_7x7' of edge 'conv_7x7~0' in node group 1 is not in vocabulary; allowed: {NB201_OPS}"),
    (NB201_OK.replace("|none~2|", "|"), r"node group 3 must list 3 edges .*got 2"),               # missing
    (NB201_OK.replace("none~2", "none~1"), r"node group 3 lists the edge 1 -> 3 twice"),       # duplicate
    (NB201_OK.replace("none~2", "none~3"), r"edge 'none~3' into node 3 must come from a node in \[0, 2\]"),
    (NB201_OK.replace("|+|nor_conv_3x3", "|+|nor_conv_3x3~0|+|nor"),                            # out of order
     r"must have 3 '\+'-separated node groups; got 4"),
    (NB201_OK.replace("|nor_conv_1x1~1", "| nor_conv_1x1~1"),                                   # whitespace
     rf"op ' nor_conv_1x1' of edge ' nor_conv_1x1~1' in node group 2 is not in vocabulary; allowed: {NB201_OPS}"),
    (NB201_OK.replace("~1|+", "~ 1|+"), r"edge 'nor_conv_1x1~ 1' in node group 2 must be 'op~j' with j a decimal"),
    (NB201_OK[1:], r"node group 1 must start and end with '\|'"),
]
DARTS_OK = ("Genotype(normal=[('sep_conv_3x3', 0), ('avg_pool_3x3', 1), ('avg_pool_3x3', 0), "
            "('max_pool_3x3', 2), ('sep_conv_3x3', 2), ('sep_conv_5x5', 3), ('sep_conv_3x3', 3), "
            "('sep_conv_3x3', 4)], normal_concat=[2, 3, 4, 5], reduce=[('sep_conv_5x5', 0), "
            "('dil_conv_3x3', 1), ('sep_conv_3x3', 0), ('max_pool_3x3', 1), ('avg_pool_3x3', 2), "
            "('max_pool_3x3', 3), ('skip_connect', 0), ('max_pool_3x3', 3)], reduce_concat=[2, 3, 4, 5])")
DARTS_OPS = (r"\['max_pool_3x3', 'avg_pool_3x3', 'skip_connect', 'sep_conv_3x3', 'sep_conv_5x5', "
             r"'dil_conv_3x3', 'dil_conv_5x5'\]")
DARTS_BAD = [
    (DARTS_OK.replace("'dil_conv_3x3'", "'conv_7x7'"),
     rf"op 'conv_7x7' of reduce pair 1 is not in op_choices; allowed: {DARTS_OPS}"),
    (DARTS_OK.replace("'dil_conv_3x3'", "'none'"), rf"op 'none' of reduce pair 1 is not in op_choices; allowed: {DARTS_OPS}"),
    (DARTS_OK.replace("('sep_conv_3x3', 4)], normal_concat", "], normal_concat"),               # missing
     r"genotype field 'normal' must hold 8 \(op, input\) pairs; got 7"),
    (DARTS_OK.replace("('avg_pool_3x3', 1), ('avg_pool_3x3', 0)", "('avg_pool_3x3', 0), ('avg_pool_3x3', 0)"),
     r"normal node 2 reads node 0 twice; its two inputs must differ \(distinct_inputs\)"),      # duplicate
    (DARTS_OK.replace("('max_pool_3x3', 2), ('sep_conv_3x3', 2)", "('max_pool_3x3', 2), ('sep_conv_3x3', 4)"),
     r"input 4 of normal pair 4 \(node 4\) must be an integer in \[0, 3\]"),                   # out of order
    (DARTS_OK.replace("'sep_conv_5x5', 0", "'sep_conv_5x5 ', 0"),                               # whitespace
     rf"op 'sep_conv_5x5 ' of reduce pair 0 is not in op_choices; allowed: {DARTS_OPS}"),
    (DARTS_OK.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3]"),
     r"normal_concat is \[2, 3\]; this contract connects nodes \[2, 3, 4, 5\] to the output"),
    (DARTS_OK.replace("reduce_concat", "reduce_concta"),
     r"unknown genotype field 'reduce_concta'; allowed: \['normal', 'reduce', 'normal_concat', 'reduce_concat'\]"),
    (DARTS_OK[:-1], r"the genotype lacks its closing '\)'"),
    (DARTS_OK + " x", r"text after the genotype's closing '\)'"),
]
NB101_OK = json.dumps({"matrix": [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1],
                                  [0, 0, 0, 0, 0]],
                       "ops": ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "output"]})
NB101_OPS = r"\['conv3x3-bn-relu', 'conv1x1-bn-relu', 'maxpool3x3'\]"
NB101_BAD = [
    (NB101_OK.replace("maxpool3x3", "maxpool5x5"), rf"ops\[2\] = 'maxpool5x5' is not in op_choices; allowed: {NB101_OPS}"),
    (NB101_OK.replace("[0, 0, 0, 1, 0], [0, 0, 0, 1, 0]", "[0, 0, 0, 1, 0], [1, 0, 0, 1, 0]"),  # out of order
     r"matrix\[2\]\[0\] = 1: matrix must be strictly upper triangular"),
    (NB101_OK.replace("[0, 0, 0, 0, 1],", "[0, 0, 0, 0, 0],"),                                  # missing
     r"no path from the input \(node 0\) to the output \(node 4\)"),
    (NB101_OK.replace("[0, 0, 0, 1, 0], [0, 0, 0, 1, 0]", "[0, 0, 0, 2, 0], [0, 0, 0, 1, 0]"),  # duplicate as 2
     r"matrix\[1\]\[3\] = 2; entries must be 0 or 1"),
    (NB101_OK.replace('"conv1x1-bn-relu"', '" conv1x1-bn-relu"'),                               # whitespace
     rf"ops\[3\] = ' conv1x1-bn-relu' is not in op_choices; allowed: {NB101_OPS}"),
    (json.dumps({"matrix": [[int(j > i) for j in range(7)] for i in range(7)],
                 "ops": ["input"] + ["maxpool3x3"] * 5 + ["output"]}),
     r"21 edges on input-output paths; at most max_edges = 9"),
    (NB101_OK.replace('"ops"', '"op"'), r'must be a JSON object \{"matrix"'),
]


@pytest.mark.parametrize("space_name, text, message",
                         [("nb201", t, m) for t, m in NB201_BAD] + [("darts", t, m) for t, m in DARTS_BAD]
                         + [("nb101", t, m) for t, m in NB101_BAD])
def test_client_refuses_each_bad_input_naming_the_field(space_name, text, message):
    """The client refuses (never repairs) each kind of bad input, naming the string, the field and
    the allowed values; archmodel refuses the same string (an unknown genotype field is the one
    string archmodel's parser lets through: it ignores unknown fields)."""
    c = _contract(space_name)
    good = {"nb201": NB201_OK, "darts": DARTS_OK, "nb101": NB101_OK}[space_name]
    client.build_inputs(c, [good], "graph")  # the unedited string is fine
    for enc in ENCODINGS:
        with pytest.raises(client.ContractError, match=r"^architecture 1 \(0-based\) .*" + message):
            client.build_inputs(c, [good, text], enc)
    if "unknown genotype field" not in message:
        with pytest.raises(ArchModelError, match=rf"\[{space_name}\]"):
            get_space(space_name).parse(text, c["build"]["string_format"])


@pytest.mark.parametrize("space_name", list_spaces())
def test_client_accepts_exactly_the_strings_archmodel_accepts(space_name):
    """Random one- and two-character edits of valid strings (deletions, insertions, changes and
    swaps of grammar characters, and characters that Python's parsers read more leniently than
    the contract: form feed, vertical tab, no-break space, non-ASCII digits, '#', '\\', '{'):
    the client and archmodel accept the same strings and build the same arrays from them."""
    from archmodel.export.contract import encode

    c = _contract(space_name)
    sp = get_space(space_name)
    fmt = c["build"]["string_format"]
    rng = np.random.default_rng(11)
    chars = list(" |~+-0123456789',()[]=x\t\"_n{}:.") + ["\x0b", "\x0c", "\xa0", "\u0660", "#", "\\", "0x"]
    agreed = {True: 0, False: 0}
    for a in sp.sample(120, 4):
        s0 = sp.format(a, fmt)
        for _ in range(6):
            s = s0
            for _k in range(int(rng.integers(1, 3))):
                i = int(rng.integers(0, len(s)))
                kind = int(rng.integers(0, 4))
                ch = str(rng.choice(chars))
                s = (s[:i] + s[i + 1:], s[:i] + ch + s[i:], s[:i] + ch + s[i + 1:],
                     s[:i] + s[i + 1:i + 2] + s[i:i + 1] + s[i + 2:])[kind]
            try:
                arch = sp.parse(s, fmt)
            except ArchModelError:
                arch = None
            try:
                built = client.build_inputs(c, [s], "graph")
            except client.ContractError:
                built = None
            assert (arch is None) == (built is None), (s, "client accepts what archmodel refuses")
            agreed[arch is not None] += 1
            if arch is not None:
                for k, v in encode(sp, [arch], "graph").items():
                    np.testing.assert_array_equal(built[k], v)
    assert agreed[True] >= 5 and agreed[False] >= 100  # both kinds really occurred


def test_client_ignores_only_the_whitespace_the_contract_allows():
    c = _contract("nb201")
    want = client.build_inputs(c, [NB201_OK], "graph")["edges"]
    spaced = " \t" + NB201_OK.replace("|+|", "| + |") + "\r\n"
    reordered = NB201_OK.replace("|skip_connect~0|skip_connect~1|none~2|", "|none~2|skip_connect~0|skip_connect~1|")
    for s in (spaced, reordered):
        np.testing.assert_array_equal(client.build_inputs(c, [s], "graph")["edges"], want)
        assert get_space("nb201").parse(s, "arch_str") == get_space("nb201").parse(NB201_OK)
    d = _contract("darts")
    want = client.build_inputs(d, [DARTS_OK], "graph")["edges"]
    spaced = DARTS_OK.replace(", ", " ,\n\t ").replace("'", '"')
    np.testing.assert_array_equal(client.build_inputs(d, [spaced], "graph")["edges"], want)


def test_client_rejects_a_single_string_and_empty_input():
    c = _contract("nb201")
    with pytest.raises(client.ContractError, match="pass a list of architecture strings, not one str"):
        client.build_inputs(c, NB201_OK, "graph")
    assert client.build_inputs(c, [], "graph")["edges"].shape == (0, 1, 6, 3)
    with pytest.raises(client.ContractError, match=r"unknown encoding 'bits'; the contract has \['graph'"):
        client.build_inputs(c, [NB201_OK], "bits")


# ============================================================================ scores
CLIENT_CASES = ([("GATESPredictor", s) for s in ("nb201", "darts", "nb101", "nasbench-graph")]
                + [(c, s) for c in ("MLPPredictor", "LSTMPredictor", "GCNPredictor")
                   for s in ("nb201", "darts", "nb101")])


@pytest.mark.parametrize("cls_name, space_name", CLIENT_CASES)
def test_standalone_client_reproduces_archmodel_scores(tmp_path, cls_name, space_name):
    """The shipped client, copied with only the contract file into an empty folder and run in a
    process where archmodel cannot be imported, gives archmodel's scores."""
    from archmodel.export import load_onnx_predictor, to_onnx

    p = _fresh(cls_name, space_name, seed=5)
    model = tmp_path / "model.onnx"
    to_onnx(p, model)
    sp = get_space(space_name)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(CLIENT, alone / "client.py")
    shutil.copy(SPECS / f"{space_name}.json", alone / f"{space_name}.json")
    fmt = _contract(space_name)["build"]["string_format"]
    archs = sp.sample(1500 if space_name == "nb201" else 300, 22)
    (tmp_path / "archs.txt").write_text("\n".join(sp.format(a, fmt) for a in archs) + "\n")
    runner = ("import sys, runpy; sys.modules['archmodel'] = None; sys.argv = sys.argv[1:]; "
              "runpy.run_path(sys.argv[0], run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", runner, str(alone / "client.py"), str(model),
                        str(tmp_path / "archs.txt"), "--batch-size", "512"],
                       capture_output=True, text=True, timeout=120, cwd=alone)
    assert r.returncode == 0, r.stderr
    scores = np.asarray(json.loads(r.stdout), dtype=np.float32)
    ours = load_onnx_predictor(model, batch_size=512).predict(archs)
    np.testing.assert_array_equal(scores, ours)  # the same arrays into the same model
    ref = p.predict(archs)
    scale = float(np.abs(ref).max())
    assert float(np.abs(scores.astype(np.float64) - ref).max()) <= SCORE_TOL * scale


@pytest.fixture(scope="module")
def nb201_onnx(tmp_path_factory):
    from archmodel.export import to_onnx

    path = tmp_path_factory.mktemp("model") / "m.onnx"
    to_onnx(_fresh("GATESPredictor", "nb201"), path)
    return path


def _with_metadata(src: Path, dst: Path, **changes) -> Path:
    import onnx

    model = onnx.load(str(src))
    props = {m.key: m.value for m in model.metadata_props}
    for k, v in changes.items():
        if v is None:
            props.pop(k, None)
        else:
            props[k] = v
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(dst))
    return dst


def test_model_carries_the_sha256_of_its_contract_file(nb201_onnx, tmp_path):
    import onnx

    from archmodel.export.contract import contract_sha256

    meta = {m.key: m.value for m in onnx.load(str(nb201_onnx)).metadata_props}
    raw = (SPECS / "nb201.json").read_bytes()
    assert meta["contract_sha256"] == hashlib.sha256(raw).hexdigest() == contract_sha256("nb201")
    assert meta["contract_version"] == "1"
    # a copy whose line ends became CR LF hashes the same; any other change does not
    crlf = tmp_path / "nb201.json"
    crlf.write_bytes(raw.replace(b"\n", b"\r\n"))
    assert client.read_contract(str(crlf))[1] == meta["contract_sha256"]
    s = client.Scorer(str(nb201_onnx), str(crlf))
    ours = s.score([NB201_OK] * 3, batch_size=2)
    assert ours.shape == (3,) and ours.dtype == np.float32
    edited = tmp_path / "edited.json"
    edited.write_bytes(raw.replace(b'"nor_conv_1x1"', b'"nor_conv_1x1" ', 1))
    with pytest.raises(client.ContractError, match="model metadata 'contract_sha256' is '[0-9a-f]{64}'; "
                                                   "this contract needs '[0-9a-f]{64}' .*another contract file"):
        client.Scorer(str(nb201_onnx), str(edited))


@pytest.mark.parametrize("changes, message", [
    (dict(contract_version="7"), r"'contract_version' is '7'; this client implements contract versions \['1'\]"),
    (dict(contract_version="1.0"), r"'contract_version' is '1.0'; this client implements"),
    (dict(contract_version=None), r"'contract_version' is None; this client implements"),
    (dict(contract_sha256="0" * 64), r"'contract_sha256' is '0{64}'; this contract needs"),
    (dict(contract_sha256=None), r"'contract_sha256' is None; this contract needs"),
    (dict(space="nb101"), r"'space' is 'nb101'; this contract needs 'nb201'"),
    (dict(archmodel_format="other"), r"'archmodel_format' is 'other'; this contract needs 'archmodel.onnx_predictor'"),
    (dict(archmodel_format_version="2"), r"'archmodel_format_version' is '2'; this contract needs '1'"),
    (dict(encoding="bits"), r"'encoding' is 'bits'; the contract has encodings \['graph', 'onehot', 'sequence'\]"),
    (dict(encoding="onehot"), r"model inputs \['edges'\] differ from the contract's 'onehot' inputs \['onehot'\]"),
])
def test_client_refuses_a_model_that_does_not_match_the_contract(nb201_onnx, tmp_path, changes, message):
    path = _with_metadata(nb201_onnx, tmp_path / "m.onnx", **changes)
    with pytest.raises(client.ContractError, match=message):
        client.Scorer(str(path), str(SPECS / "nb201.json"))


def test_client_refuses_a_contract_of_an_unknown_version(nb201_onnx, tmp_path):
    c = json.loads((SPECS / "nb201.json").read_text())
    c["contract_version"] = 2
    path = tmp_path / "nb201.json"
    path.write_text(json.dumps(c))
    with pytest.raises(client.ContractError, match=r"contract_version 2 is not one this client implements \(\[1\]\)"):
        client.Scorer(str(nb201_onnx), str(path))
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(client.ContractError, match="is not an archmodel ONNX contract"):
        client.read_contract(str(path))


def test_client_command_line_exit_status_and_message(nb201_onnx, tmp_path):
    """The command reads the contract beside itself by the model's space; a refused model or
    string exits with status 2 and one 'error:' line on stderr, nothing on stdout."""
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(CLIENT, alone / "client.py")
    shutil.copy(SPECS / "nb201.json", alone / "nb201.json")
    archs = tmp_path / "a.txt"
    archs.write_text(NB201_OK + "\n\n" + NB201_OK.replace("none~2", "none~1") + "\n")

    def run(model):
        return subprocess.run([sys.executable, str(alone / "client.py"), str(model), str(archs)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)

    r = run(nb201_onnx)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("error: architecture 1 (0-based)") and "lists the edge 1 -> 3 twice" in r.stderr
    archs.write_text(NB201_OK + "\n")
    r = run(_with_metadata(nb201_onnx, tmp_path / "v7.onnx", contract_version="7"))
    assert r.returncode == 2 and r.stdout == "" and "'contract_version' is '7'" in r.stderr
    r = run(nb201_onnx)
    assert r.returncode == 0, r.stderr
    want = client.Scorer(str(nb201_onnx), str(SPECS / "nb201.json")).score([NB201_OK])
    assert json.loads(r.stdout) == [float(want[0])]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_client_pads_nb101_modules_with_fewer_than_7_nodes(encoding):
    from archmodel.export.contract import encode

    sp = get_space("nb101")
    strings = []
    for a in sp.sample(500, 23):
        m, ops = sp.matrix_ops(a)  # NB101's own pruned module: 2..7 nodes
        strings.append(json.dumps({"matrix": m.tolist(), "ops": ops}))
    sizes = {len(json.loads(s)["ops"]) for s in strings}
    assert min(sizes) < 7  # some modules really are smaller
    built = client.build_inputs(_contract("nb101"), strings, encoding)
    want = encode(sp, [sp.parse(s) for s in strings], encoding)
    for k in want:
        np.testing.assert_array_equal(built[k], want[k])


@pytest.mark.parametrize("sha", ["0" * 64, "UPPER", None])
def test_archmodel_refuses_a_model_exported_with_another_contract_text(nb201_onnx, tmp_path, sha):
    """``ONNXPredictor`` (``archmodel score --onnx``) makes the client's contract_sha256 check."""
    from archmodel.backends.onnxruntime import ONNXPredictor
    from archmodel.errors import FormatError

    import onnx

    good = {m.key: m.value for m in onnx.load(str(nb201_onnx)).metadata_props}["contract_sha256"]
    value = good.upper() if sha == "UPPER" else sha
    path = _with_metadata(nb201_onnx, tmp_path / "m.onnx", contract_sha256=value)
    with pytest.raises(FormatError, match=r"metadata 'contract_sha256' is .* but this archmodel's contract "
                                          r"for 'nb201' hashes to '[0-9a-f]{64}': the model was exported with "
                                          r"another contract file"):
        ONNXPredictor(path)
    assert ONNXPredictor(nb201_onnx).predict([NB201_OK]).shape == (1,)


@pytest.mark.parametrize("space_name, text, message", [
    ("darts", "DUP", "field 'normal' is given twice"),
    ("darts", "EXTRA", r"unknown field 'extra'; allowed fields: \['normal', 'reduce', 'normal_concat', 'reduce_concat'\]"),
    ("nb101", '{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"], "ops": ["input", "output"]}',
     "JSON key 'ops' is given twice"),
    ("nb201", NB201_OK + "\x0b", "node group 3 must look like"),
    ("nb201", NB201_OK.replace("~0", "~\u0660", 1), "must look like 'op~j'"),
])
def test_archmodel_refuses_what_python_would_read_but_the_contract_refuses(space_name, text, message):
    sp = get_space(space_name)
    if text in ("DUP", "EXTRA"):
        g = sp.format(sp.sample(1, 0)[0], "genotype")
        normal = g[g.index("normal=") + 7:g.index(", normal_concat")]
        text = g[:-1] + (f", normal={normal})" if text == "DUP" else ", extra=[1])")
    with pytest.raises(ArchModelError, match=message):
        sp.parse(text, _contract(space_name)["build"]["string_format"])
    with pytest.raises(client.ContractError):
        client.build_inputs(_contract(space_name), [text], "graph")
