"""The fixed-edge table graph of exported GATES models (NB201, TransNAS-Bench-101 micro):
its plan, when it is chosen, that it computes the dense graph's function (every readout and
residual setting), that per cell only the head does matrix products, and that the inputs it
relies on are validated.

Parity on 10,000 architectures of both graphs is in test_export_parity.py, Kendall's tau on
all NB201 cells in test_export_kendall.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_correctly_rounded, require_module, score_error_bound

onnx = require_module("onnx", "onnx")
ort = require_module("onnxruntime", "onnx")

from archmodel.errors import ParameterError  # noqa: E402
from archmodel.spaces import get_space, list_spaces  # noqa: E402

SMALL = dict(op_emb_dim=8, node_emb_dim=8, hidden_dim=16, gates_dims=(24, 24, 24), mlp_hidden=(32, 32))


def fresh_gates(space_name: str, seed: int = 0, **kw):
    from archmodel.predictors.gates import GATESPredictor

    sp = get_space(space_name)
    p = GATESPredictor(backend="numpy", **{**SMALL, **kw})
    p.initialize(sp, seed)
    return p


def rel_err(ref, got) -> float:
    ref = np.asarray(ref, np.float64)
    return float(np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max())


def session(model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def run(model, batch):
    return session(model).run(["score"], batch)[0]


def variant_of(model) -> str:
    return {m.key: m.value for m in model.metadata_props}["graph_variant"]


def test_nb201_plan():
    """Node 1's state depends on op(0->1) (5 states), node 2's on ops (0->1, 0->2, 1->2)
    (125); the output node's messages come from tables of 5, 25 and 625 rows."""
    from archmodel.export.gates import fixed_edge_plan

    p = fresh_gates("nb201")
    plan = fixed_edge_plan(p.model_, get_space("nb201"))
    assert plan.edges == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    assert plan.ancestors[:3] == ((), (0,), (0, 1, 2))
    assert [plan.table_rows(i) for i in range(3)] == [1, 5, 125]
    assert plan.in_edges[3] == (3, 4, 5)  # sources 0, 1, 2 in that order
    assert [plan.n_ops ** (1 + len(plan.ancestors[plan.edges[e][0]])) for e in plan.in_edges[3]] == [5, 25, 625]
    assert fixed_edge_plan(p.model_, get_space("nb201"), max_rows=624) is None  # 625-row table
    assert fixed_edge_plan(p.model_, get_space("nb201"), max_rows=625) is not None
    tnb = fresh_gates("tnb101-micro")
    assert fixed_edge_plan(tnb.model_, get_space("tnb101-micro")).table_rows(2) == 64
    for other in ("darts", "nb101", "enas", "nasbench-graph"):
        q = fresh_gates(other)
        assert fixed_edge_plan(q.model_, get_space(other)) is None


@pytest.mark.parametrize("space_name", list_spaces())
def test_the_converter_picks_tables_exactly_where_they_apply(tmp_path, space_name):
    from archmodel.export import to_onnx

    model = to_onnx(fresh_gates(space_name), None)
    want = "fixed_edge_tables" if space_name in ("nb201", "tnb101-micro") else "dense"
    assert variant_of(model) == want
    assert variant_of(to_onnx(fresh_gates(space_name), None, converter_options={"variant": "dense"})) == "dense"


def test_tables_where_they_do_not_apply_is_an_error(tmp_path):
    from archmodel.export import to_onnx

    with pytest.raises(ParameterError, match="does not apply to this GATES model on 'darts'.*variant='dense'"):
        to_onnx(fresh_gates("darts"), tmp_path / "m.onnx", converter_options={"variant": "tables"})
    with pytest.raises(ParameterError, match="'variant' parameter of convert_gates must be one of"):
        to_onnx(fresh_gates("nb201"), tmp_path / "m.onnx", converter_options={"variant": "sparse"})
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("space_name", ["nb201", "tnb101-micro"])
@pytest.mark.parametrize("readout", ["output", "mean"])
@pytest.mark.parametrize("residual", ["inputs", "all"])
def test_tables_compute_the_dense_function(space_name, readout, residual):
    from onnx.reference import ReferenceEvaluator

    from archmodel.export import to_onnx

    p = fresh_gates(space_name, seed=3, readout=readout, residual=residual)
    tables = to_onnx(p, None, converter_options={"variant": "tables"})
    dense = to_onnx(p, None, converter_options={"variant": "dense"})
    assert (variant_of(tables), variant_of(dense)) == ("fixed_edge_tables", "dense")
    archs = get_space(space_name).sample(2000, 4)
    batch = p.encode(archs)
    ref = p.predict_arrays(batch)
    got_t, got_d = run(tables, batch), run(dense, batch)
    assert rel_err(ref, got_t) < 1e-5 and rel_err(ref, got_d) < 1e-5
    assert rel_err(got_d, got_t) < 1e-5
    sub = {k: v[:200] for k, v in batch.items()}
    (ev,) = ReferenceEvaluator(tables).run(None, sub)
    assert rel_err(ref[:200], ev) < 1e-5


def _batch_matmuls(model) -> int:
    """Number of MatMul nodes whose output has the dynamic batch dimension (work per cell)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    return sum(1 for n in inferred.graph.node if n.op_type == "MatMul"
               and "batch" in dims.get(n.output[0], []))


@pytest.mark.parametrize("residual, per_cell_encoder_matmuls", [("inputs", 0), ("all", 2)])
def test_per_cell_only_the_head_does_matrix_products(residual, per_cell_encoder_matmuls):
    """Table graph: with residual='inputs' the encoder costs row gathers per cell; with 'all'
    the output node's state is carried through layers 1..L-1 (one product each). The dense
    graph multiplies per cell in every layer."""
    from archmodel.export import to_onnx

    p = fresh_gates("nb201", residual=residual)
    head = len(p.model_.mlp_hidden) + 1
    tables = to_onnx(p, None, converter_options={"variant": "tables", "dedupe": False})
    dense = to_onnx(p, None, converter_options={"variant": "dense"})
    assert _batch_matmuls(tables) == head + per_cell_encoder_matmuls
    assert _batch_matmuls(dense) >= head + 3 * (len(p.model_.gates_dims) - 1)
    deduped = to_onnx(p, None)  # the default: the same products, on the distinct cells only
    assert [n.op_type for n in deduped.graph.node].count("Unique") == 1
    assert ([n.op_type for n in deduped.graph.node].count("MatMul")
            == [n.op_type for n in tables.graph.node].count("MatMul"))


def test_fixed_edge_rows_are_validated(tmp_path):
    """The table graph reads the op column only: rows whose [src, dst] differ from the
    contract's edge_order are refused (for either graph)."""
    from archmodel.export import load_onnx_predictor, to_onnx

    p = fresh_gates("nb201")
    to_onnx(p, tmp_path / "m.onnx")
    o = load_onnx_predictor(tmp_path / "m.onnx")
    batch = p.encode(get_space("nb201").sample(5, 0))
    bad = batch["edges"].copy()
    bad[3, 0, [3, 4]] = bad[3, 0, [4, 3]]  # rows 0->3 and 1->3 swapped: same cell, wrong order
    with pytest.raises(ParameterError, match=r"every row e of input 'edges' must have \[src, dst\] = edge_order\[e\]"):
        o.predict_arrays({"edges": bad})
    assert o.predict_arrays(batch).shape == (5,)


def _canonical_rows(space_name: str, readout: str, edges: np.ndarray) -> np.ndarray:
    """Run the converter's canonicalisation subgraph alone: canonical ops [B, E]."""
    from onnx import helper

    from archmodel.export._graph import GraphBuilder
    from archmodel.export.gates import _canonical_ops, fixed_edge_plan

    p = fresh_gates(space_name, readout=readout)
    plan = fixed_edge_plan(p.model_, get_space(space_name))
    g = GraphBuilder(opset=17)
    x = g.input("edges", "int64", ["batch", 1, len(plan.edges), 3])
    ops = g.op("Gather", [g.op("Gather", [x, g.const(np.array(0, np.int64), "int64", "i0")], axis=1),
                          g.const(np.array(2, np.int64), "int64", "i2")], axis=2)
    canon = _canonical_ops(g, ops, plan, p.model_.none_op, list(p.model_.readout_nodes))
    out = helper.make_tensor_value_info(canon, onnx.TensorProto.INT64, ["batch", len(plan.edges)])
    model = helper.make_model(helper.make_graph(g.nodes, "canon", g.inputs, [out], g.initializers),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"edges": edges})[0]


def _canonical_by_hand(seq: tuple, edges: list, readout_nodes: list, n: int) -> tuple:
    """The same rule written out independently: an edge keeps its op iff its destination's
    state matters (read out, or a non-none edge leads from it to a node whose state matters)."""
    def matters(v: int) -> bool:
        return v in readout_nodes or any(s == v and seq[e] != 0 and matters(d) for e, (s, d) in enumerate(edges))

    return tuple(op if matters(d) else 0 for op, (_, d) in zip(seq, edges))


@pytest.mark.parametrize("readout, n_canonical", [("output", 12_205), ("mean", 15_625)])
def test_canonical_cells_are_equivalent_cells(readout, n_canonical):
    """On all 15,625 NB201 cells: the canonical rows follow the rule; cells that share one have
    the same NumPy reference score (up to float32 rounding), for both residual settings."""
    sp = get_space("nb201")
    archs = list(sp.enumerate())
    edges = sp.to_arrays(archs).edges.astype(np.int64)
    canon = _canonical_rows("nb201", readout, edges)
    p = fresh_gates("nb201", readout=readout)
    want = [_canonical_by_hand(a.seq, list(sp.edges), list(p.model_.readout_nodes), 4) for a in archs]
    np.testing.assert_array_equal(canon, np.array(want))
    keys, inverse = np.unique(canon, axis=0, return_inverse=True)
    assert len(keys) == n_canonical
    for residual in ("inputs", "all"):
        q = fresh_gates("nb201", seed=6, readout=readout, residual=residual)
        ref = q.predict_arrays(q.encode(archs)).astype(np.float64)
        lo = np.full(len(keys), np.inf)
        hi = np.full(len(keys), -np.inf)
        np.minimum.at(lo, inverse.ravel(), ref)
        np.maximum.at(hi, inverse.ravel(), ref)
        assert float((hi - lo).max()) <= 1e-6 * float(np.abs(ref).max())


@pytest.mark.parametrize("readout", ["output", "mean"])
@pytest.mark.parametrize("residual", ["inputs", "all"])
def test_every_cell_scores_like_the_reference_in_batches_of_any_size(readout, residual):
    """The default graph, one session run repeatedly on all 15,625 NB201 cells and on
    batches of other sizes: every score within the float32 bound of the NumPy reference
    (whatever the graph does inside, e.g. scoring equivalent cells once)."""
    from archmodel.export import to_onnx

    p = fresh_gates("nb201", seed=2, readout=readout, residual=residual)
    sp = get_space("nb201")
    batch = p.encode(list(sp.enumerate()))
    ref = p.predict_arrays(batch).astype(np.float64)
    bound = score_error_bound(ref)
    sess = session(to_onnx(p, None))
    worst = {}
    for part in (slice(None), slice(None, None, 97), slice(5, 6), slice(1000, 1050), slice(None, None, 3),
                 slice(None)):
        got = sess.run(["score"], {"edges": batch["edges"][part]})[0]
        assert got.shape == ref[part].shape
        worst[len(got)] = float(np.abs(got - ref[part]).max())
    print(f"{readout}/{residual}: max |onnx - numpy| by batch size {worst}, bound {bound:.3g}")
    assert max(worst.values()) <= bound


def test_symmetric_nodes_of_nb201():
    from archmodel.export.gates import fixed_edge_plan, symmetric_node_pairs

    p = fresh_gates("nb201")
    plan = fixed_edge_plan(p.model_, get_space("nb201"))
    # edge 2 = 1->2; nodes 1 and 2: (0->1, 0->2) and (1->3, 2->3)
    assert symmetric_node_pairs(plan, [3]) == [(2, [(0, 1), (4, 5)])]
    assert symmetric_node_pairs(plan, [1, 2, 3]) == []  # read-out nodes are not exchangeable


@pytest.mark.parametrize("residual", ["inputs", "all"])
def test_float64_graph_is_the_correctly_rounded_reference_on_every_cell(residual):
    """In double arithmetic every float32 score of all 15,625 NB201 cells is the float64 NumPy
    reference rounded to float32 (up to double rounding next to a float32 boundary), so two
    cells that differ only by exchanging the symmetric nodes 1 and 2 score the same up to
    that rounding."""
    from archmodel.export import to_onnx

    p = fresh_gates("nb201", seed=4, residual=residual)
    sp = get_space("nb201")
    archs = list(sp.enumerate())
    batch = p.encode(archs)
    ref64 = np.asarray(p.astype("float64").predict_arrays(batch), np.float64)
    got = run(to_onnx(p, None, compute_dtype="float64"), batch)
    n_apart = assert_correctly_rounded(got, ref64)
    print(f"{residual}: {n_apart} of {len(got)} scores one float32 step from the rounded reference")
    # an exchanged pair: the same exact score, so the same double score up to rounding and
    # float32 scores at most one step apart
    seqs = [a.seq for a in archs]
    i = seqs.index(sp.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|").seq)
    j = seqs.index(sp.parse("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|").seq)
    assert i != j
    assert abs(ref64[i] - ref64[j]) <= 2.0 ** -30 * float(np.abs(ref64).max())
    assert abs(float(got[i]) - float(got[j])) <= float(np.spacing(np.abs(got[[i, j]])).max())
