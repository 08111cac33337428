"""Exported graphs stay correct on every supported onnxruntime version (issue 16 §1).

onnxruntime 1.15-1.18 returned wrong scores, without an error, from the second ``run`` of a
session on graphs with a node output that nothing consumes (the unused outputs of ``Unique``
and ``Split``), when memory patterns are on (the default). The default suite checks the
structural invariant of the fix on every model kind ``scripts/onnx_compat.py`` exports: every
node output is consumed by another node or is the graph output. The slow test runs that script
(scratch venvs, one per onnxruntime version, pip needs the package index) on the oldest and the
newest supported minor versions: repeated runs of one ``InferenceSession`` with varying batch
sizes against the NumPy reference.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, require_module

onnx = require_module("onnx", "onnx")

from archmodel.errors import ParameterError  # noqa: E402
from archmodel.export import to_onnx  # noqa: E402

SCRIPT = REPO / "scripts" / "onnx_compat.py"


def _script():
    spec = importlib.util.spec_from_file_location("onnx_compat", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _dangling(model) -> list[tuple[str, str]]:
    g = model.graph
    used = {i for n in g.node for i in n.input if i} | {o.name for o in g.output}
    return [(n.name, o) for n in g.node for o in n.output if o and o not in used]


@pytest.mark.parametrize("space", ["nb201", "nb101", "darts"])
def test_every_exported_kind_consumes_every_node_output(space, tmp_path):
    from archmodel.predictors import baselines, gates
    from archmodel.spaces import get_space

    comp = _script()
    specs = comp.model_specs([space])
    assert {s["kind"] for s in specs} >= {"gates", "gates-f64", "mlp", "lstm", "gcn"}
    for s in specs:
        cls = getattr(gates if s["cls"] == "GATESPredictor" else baselines, s["cls"])
        p = cls(backend="numpy", **s["kw"]).initialize(get_space(space), 0)
        path = tmp_path / f"{s['kind']}.onnx"
        to_onnx(p, path, verify=False, compute_dtype=s["dtype"], converter_options=s["conv"])
        model = onnx.load(str(path))
        assert _dangling(model) == [], f"{space}.{s['kind']}: outputs nothing consumes"
        if s["kind"] == "gates" and space == "nb201":  # the table graph keeps its Unique node
            uniq = [n for n in model.graph.node if n.op_type == "Unique"]
            assert uniq and all(list(n.output)[1] == "" and list(n.output)[3] == "" for n in uniq)


def test_graph_builder_refuses_an_unused_output():
    from archmodel.export._graph import GraphBuilder

    g = GraphBuilder("t")
    x = g.input("x", "float32", ["batch", 4])
    a, _b = g.op("Split", [x, g.const([2, 2], "int64", "split")], axis=1, n_outputs=2)
    g.output(g.op("ReduceSum", [g.op("Relu", [a]), g.const([1], "int64", "axis1")], keepdims=0))
    with pytest.raises(ParameterError, match="never used"):
        g.make_graph()


@pytest.mark.slow
def test_oldest_and_newest_supported_onnxruntime(tmp_path):
    comp = _script()
    available = comp.available_versions()
    versions = comp.resolve_versions(None, available)
    pick = ",".join(sorted({versions[0], versions[-1]}))
    r = subprocess.run([sys.executable, str(SCRIPT), "--versions", pick, "--runs", "20",
                        "--json", str(tmp_path / "compat.json")],
                       capture_output=True, text=True, timeout=3000)
    print(r.stdout[-3000:], r.stderr[-2000:])
    assert r.returncode == 0, f"onnx_compat.py exit {r.returncode}"
    assert "summary (wrong runs per version)" in r.stdout
