"""ONNX converter for :class:`~archmodel.predictors.gates.GATESPredictor`.

Two graphs compute the same function from the same inputs; :func:`convert_gates` picks the
table graph where it applies (``variant='auto'``) and the dense graph elsewhere. The model's
``graph_variant`` metadata records which one was built.

Dense graph (every space)
-------------------------
The array-level model (:class:`archmodel.models.gates.GATESModel`) compresses a batch into
distinct node states before message passing; the dense graph computes the same function one
cell of the batch at a time, with batched matrix products only (no loops, no scatter), so any
ONNX runtime can run it. Per cell slot ``c`` (its own parameters)::

    node_emb = [input_emb; 0]                                 # [N, node_emb_dim]
    X        = node_emb @ W_x + b_x                           # [N, hidden]  (batch-independent)
    for layer l:
        gate = sigmoid(op_emb @ W_o,l + b_o,l)                # [K, H_l]
        S    = X @ W_l                                        # [N, H_l] (l = 0) or [B, N, H_l]
        R    = S (residual='all') | S * [node is an input] (residual='inputs')
        edge kind:  gate[none_op] = 0
                    SRC[b, e, j] = (src[b, e] == j)           # one-hot [B, E, N]
                    DST[b, i, e] = (dst[b, e] == i)           # one-hot [B, N, E]
                    Y = R + DST @ (gate[op] * (SRC @ S))      # messages scattered into dst
        node kind:  Y = R + gate[node_ops] * (A @ S)          # A = adj [B, N, N]
        X = relu(Y) if l is not the last layer else Y
    readout  = X[:, output_node]  |  mean of X[:, n_inputs:]  # [B, H_last]

then the readouts of the cells are concatenated and the MLP head (ReLU between layers, no
dropout) maps them to one score per architecture. ``none`` edges (and the padding rows
``(0, N-1, none)``) get gate 0, i.e. contribute exactly nothing, as the reference drops them.
Operation-on-node models gate every operation (the reference has no ``none`` there).

Fixed-edge table graph (NB201, TransNAS-Bench-101 micro)
--------------------------------------------------------
In a space whose cells all have the same edges (:class:`~archmodel.spaces.fixed_edges.
FixedEdgeSpace`; the contract fixes ``[src, dst]`` of every row, only the op column varies), the
state of an intermediate node depends only on the operations of the edges into it and into its
ancestors (:func:`fixed_edge_plan`). NB201: node 0 (the input) is one row, node 1 has 5
possible states (op 0->1), node 2 has 125 (ops 0->1, 0->2, 1->2). The graph computes, per
layer, these tables of *every possible* intermediate state (batch-independent: the same
arithmetic as the reference, ``[s_i +] sum of gate[op] * s_src`` in source order), and per
cell only the output node: its messages ``gate[op_e] * s_src`` are gathered from per-edge
message tables (NB201: 5, 25 and 625 rows) at rows computed from the ``edges`` input
(``sum_k op[e_k] * K**k``). With ``residual='inputs'`` the output node's state is read by
nothing but the readout, so only its last layer is computed: per cell, the encoder costs three
row gathers and two additions, and the MLP head dominates. ``readout='mean'`` also gathers the
intermediate nodes' last-layer rows. Tables larger than :data:`MAX_TABLE_ROWS` rows, other
spaces, several cells or inputs fall back to the dense graph.

Equivalent cells are scored once (``dedupe=True``, the default): an edge into a node whose
state cannot reach the readout (every path from it to the readout has a ``none`` edge) is
given the ``none`` operation (:func:`_canonical_ops`; this changes no score), the canonical
cells of the batch are made unique (``Unique``), the encoder and the head run on the distinct
ones, and the scores are gathered back (NB201, readout 'output': 15,625 cells, 12,205
distinct canonical cells). Graphs computing in float64 (``compute_dtype='float64'``) also merge
cells that differ only by exchanging two symmetric nodes (:func:`symmetric_node_pairs`; NB201:
nodes 1 and 2 when the edge 1 -> 2 is ``none``): such cells compute the same terms summed in
another order, which changes the double result by a few units in its last place and the float32
score not at all (tested on every NB201 cell); NB201 then scores 11,155 distinct cells. In
float32 the order would show in the last bit, so float32 graphs keep every score bit-for-bit
equal to the graph without deduplication.

Inputs (see ``specs/onnx/<space>.json``): ``edges`` int64 ``[batch, C, E, 3]``, or ``adj``
float32 ``[batch, C, N, N]`` and ``node_ops`` int64 ``[batch, C, N]``. Output: ``score``
float32 ``[batch]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from archmodel.export._graph import BATCH_DIM, GraphBuilder

#: the contract encoding this converter consumes
ENCODING = "graph"


def convert_gates(predictor: Any, g: GraphBuilder, *, variant: str = "auto", dedupe: bool = True) -> None:
    """Build the GATES scoring graph of a fitted ``GATESPredictor`` into ``g``.

    Parameters
    ----------
    predictor : GATESPredictor
        Fitted (has ``model_``, ``params_``, ``space_``).
    g : GraphBuilder
    variant : {'auto', 'tables', 'dense'}
        ``'tables'``: the fixed-edge table graph (:func:`fixed_edge_plan`; raises
        ParameterError where it does not apply); ``'dense'``: the dense graph, which works for
        every space; ``'auto'`` (default): tables where they apply, else dense. Both take the
        same inputs and compute the same function. ``g.variant`` records the choice
        (``'fixed_edge_tables'`` or ``'dense'``).
    dedupe : bool
        (table graph) Score each group of equivalent cells of a batch once
        (:func:`_canonical_ops`): the encoder and the head run on the distinct canonical cells,
        and the scores are gathered back.
    """
    from archmodel.errors import check_choice
    from archmodel.spaces import get_space

    check_choice("convert_gates", "variant", variant, ("auto", "tables", "dense"))
    model = predictor.model_
    model.check_params(predictor.params_)
    if model.readout not in ("output", "mean"):
        from archmodel.errors import ParameterError

        raise ParameterError(f"ONNX export supports GATES readout 'output' or 'mean'; this model "
                             f"has readout={model.readout!r}")
    _check_vocabulary(model, get_space(predictor.space_))
    plan = None
    if variant != "dense":
        plan = fixed_edge_plan(model, get_space(predictor.space_))
        if plan is None and variant == "tables":
            from archmodel.errors import ParameterError

            raise ParameterError(
                f"the fixed-edge table graph does not apply to this GATES model on "
                f"{predictor.space_!r} (it needs a fixed-edge space, one cell, one input node, the "
                f"last node as output and at most {MAX_TABLE_ROWS} rows per table); use variant='dense'")
    if plan is not None:
        _convert_tables(predictor, g, plan, dedupe=bool(dedupe))
        g.variant = "fixed_edge_tables"
    else:
        _convert_dense(predictor, g)
        g.variant = "dense"


def _check_vocabulary(model: Any, space: Any) -> None:
    from archmodel.encoding import vocabulary

    if len(vocabulary(space)) != model.n_ops:
        from archmodel.errors import ParameterError

        raise ParameterError(
            f"{type(model).__name__} has n_ops={model.n_ops} but search space {space.name!r} has "
            f"{len(vocabulary(space))} operations; the model does not belong to this space")


def _residual(model: Any) -> str:
    """``'inputs'`` (only input nodes add their own state) or ``'all'``."""
    return getattr(model, "residual", "all")


def _convert_dense(predictor: Any, g: GraphBuilder) -> None:
    """The dense graph: every node of every cell (see the module docstring)."""
    from archmodel.spaces import get_space

    model = predictor.model_
    params = predictor.params_
    space = get_space(predictor.space_)
    n, n_in, n_cells, k_ops = model.n_nodes, model.n_inputs, model.n_cells, model.n_ops
    residual = _residual(model)
    if residual != "all":
        in_mask = g.fconst((np.arange(n) < n_in).astype(np.float32).reshape(n, 1), "input_mask")
    n_layers = len(model.gates_dims)
    if model.kind == "edge":
        probe = space.to_arrays(space.sample(1, 0))
        n_edges = int(probe.edges.shape[2])
        edges = g.input("edges", "int64", [BATCH_DIM, n_cells, n_edges, 3])
    else:
        adj = g.float_input("adj", [BATCH_DIM, n_cells, n, n])
        node_ops = g.input("node_ops", "int64", [BATCH_DIM, n_cells, n])

    readouts = []
    for c in range(n_cells):
        p = lambda k: params[f"encoder.cell{c}.{k}"]  # noqa: E731
        pre = f"cell{c}"
        cidx = g.const(np.array(c, np.int64), "int64", f"idx{c}")
        # --- structure of this cell slot, shared by every layer
        if model.kind == "edge":
            src, dst, ops = edge_columns(g, edges, c)                                  # [B, E] each
            src_oh = gather_onehot(g, src, n, f"{pre}.src")                           # [B, E, N]
            dst_oh = scatter_onehot(g, dst, n, f"{pre}.dst")                          # [B, N, E]
        else:
            a = g.op("Gather", [adj, cidx], axis=1, name=f"{pre}.adj")                # [B, N, N]
            ops = g.op("Gather", [node_ops, cidx], axis=1, name=f"{pre}.node_ops")    # [B, N]
        # --- initial node states (batch-independent)
        x = g.linear(_node_embedding(g, c, p("input_emb"), n), p("x_hidden.weight"),
                     p("x_hidden.bias"), f"encoder.cell{c}.x_hidden")            # [N, hidden]
        op_emb = g.weight(f"encoder.cell{c}.op_emb", p("op_emb"))
        for l in range(n_layers):
            lp = f"encoder.cell{c}.gates{l}"
            z = g.op("Add", [g.op("MatMul", [op_emb, g.weight(f"{lp}.op_attn.weight", p(f"gates{l}.op_attn.weight"))],
                                  name=f"{lp}.op_attn.matmul"),
                             g.weight(f"{lp}.op_attn.bias", p(f"gates{l}.op_attn.bias"))], name=f"{lp}.op_attn.add")
            gate = g.op("Sigmoid", [z], name=f"{lp}.gate")                             # [K, H]
            if model.kind == "edge" and model.none_op is not None:
                gate = g.op("Mul", [gate, g.fconst(live_by_op(model), "none_mask")], name=f"{lp}.gate_masked")
            s = g.op("MatMul", [x, g.weight(f"{lp}.weight", p(f"gates{l}.weight"))], name=f"{lp}.s")
            gop = g.op("Gather", [gate, ops], axis=0, name=f"{lp}.gate_of_op")         # [B, E|N, H]
            if model.kind == "edge":
                s_src = g.op("MatMul", [src_oh, s], name=f"{lp}.s_src")               # [B, E, H]
                msg = g.op("Mul", [gop, s_src], name=f"{lp}.msg")
                agg = g.op("MatMul", [dst_oh, msg], name=f"{lp}.agg")                 # [B, N, H]
            else:
                a_s = g.op("MatMul", [a, s], name=f"{lp}.a_s")                        # [B, N, H]
                agg = g.op("Mul", [gop, a_s], name=f"{lp}.agg")
            if residual == "all":
                y = g.op("Add", [s, agg], name=f"{lp}.y")
            else:  # only the input nodes keep their own state: 1 * s + 0 there, 0 * s + agg elsewhere
                y = g.op("Add", [g.op("Mul", [s, in_mask], name=f"{lp}.s_inputs"), agg], name=f"{lp}.y")
            x = g.op("Relu", [y], name=f"{lp}.relu") if l < n_layers - 1 else y
        readouts.append(readout(g, model, x, pre))
    feat = readouts[0] if n_cells == 1 else g.op("Concat", readouts, axis=1, name="features")
    g.output(g.mlp_head(feat, params, len(model.mlp_hidden)))


def edge_columns(g: GraphBuilder, edges: str, c: int) -> tuple[str, str, str]:
    """Cell slot ``c`` of the ``edges`` input ``[B, C, E, 3]``: ``(src, dst, op)``, int64 ``[B, E]``."""
    ec = g.op("Gather", [edges, g.const(np.array(c, np.int64), "int64", f"idx{c}")], axis=1,
              name=f"cell{c}.edges")                                                    # [B, E, 3]
    return tuple(g.op("Gather", [ec, g.const(np.array(k, np.int64), "int64", f"idx{k}")], axis=2,
                      name=f"cell{c}.{col}") for k, col in enumerate(("src", "dst", "op")))  # type: ignore[return-value]


def gather_onehot(g: GraphBuilder, index: str, n: int, tag: str) -> str:
    """``index`` int64 ``[B, E]`` as ``[B, E, N]`` one-hot rows (``@ S`` gathers each edge's node
    row), in the compute precision."""
    u = g.op("Unsqueeze", [index, g.const([2], "int64", "axis2")], name=f"{tag}_u")          # [B, E, 1]
    eq = g.op("Equal", [u, g.const(np.arange(n), "int64", "node_ids")], name=f"{tag}_eq")
    return g.op("Cast", [eq], to=g.float_elem, name=f"{tag}_onehot")


def scatter_onehot(g: GraphBuilder, index: str, n: int, tag: str) -> str:
    """``index`` int64 ``[B, E]`` as ``[B, N, E]`` (``@ M`` sums each node's edge rows), in the
    compute precision."""
    u = g.op("Unsqueeze", [index, g.const([1], "int64", "axis1")], name=f"{tag}_u")          # [B, 1, E]
    eq = g.op("Equal", [u, g.const(np.arange(n).reshape(n, 1), "int64", "node_ids_col")], name=f"{tag}_eq")
    return g.op("Cast", [eq], to=g.float_elem, name=f"{tag}_onehot")


def live_by_op(model: Any) -> np.ndarray:
    """float32 ``[K, 1]``: 0 for the ``none`` operation (it contributes nothing), else 1."""
    keep = np.ones((model.n_ops, 1), np.float32)
    if model.none_op is not None:
        keep[model.none_op] = 0.0
    return keep


def readout(g: GraphBuilder, model: Any, x: str, pre: str) -> str:
    """The readout of node states ``x`` ``[B, N, H]``: the output node's row, or the mean over
    ``model.readout_nodes`` -> ``[B, H]``."""
    if model.readout == "output":
        return g.op("Gather", [x, g.const(np.array(model.output_node, np.int64), "int64", "out_node")],
                    axis=1, name=f"{pre}.readout")
    nodes = np.asarray(model.readout_nodes, np.int64)
    sel = g.op("Gather", [x, g.const(nodes, "int64", "readout_nodes")], axis=1, name=f"{pre}.readout_sel")
    tot = g.op("ReduceSum", [sel, g.const([1], "int64", "axis1")], keepdims=0, name=f"{pre}.readout_sum")
    return g.op("Div", [tot, g.fconst(np.array(len(nodes), np.float32), "n_readout")], name=f"{pre}.readout")


def _node_embedding(g: GraphBuilder, c: int, input_emb: np.ndarray, n: int) -> str:
    """``[input_emb; zeros]`` ``[N, node_emb_dim]``: the learned input-node embeddings plus the
    (constant, zero) embedding every other node starts from."""
    n_in, d = input_emb.shape
    emb = g.weight(f"encoder.cell{c}.input_emb", input_emb)
    zeros = g.fconst(np.zeros((n - n_in, d), np.float32), f"zero_emb{c}")
    return g.op("Concat", [emb, zeros], axis=0, name=f"encoder.cell{c}.node_emb")


# ============================================================================ fixed-edge tables
#: the largest table (rows) the fixed-edge graph builds for one node or one message edge
MAX_TABLE_ROWS = 4096


@dataclass(frozen=True)
class FixedEdgePlan:
    """Structure of the fixed-edge table graph of one search space.

    Attributes
    ----------
    n_nodes, n_ops : int
    edges : tuple of (src, dst)
        The fixed edge list (the contract's ``edge_order``; row ``e`` of ``edges``).
    in_edges : tuple of tuple of int
        Per node, its incoming edges, by source node (the order the messages are summed in).
    ancestors : tuple of tuple of int
        Per node, the sorted edges whose operations determine its state (its incoming edges
        and, recursively, its sources'); node ``i``'s table has ``n_ops ** len(ancestors[i])``
        rows, row ``sum_k op[ancestors[i][k]] * n_ops ** k``.
    """

    n_nodes: int
    n_ops: int
    edges: tuple[tuple[int, int], ...]
    in_edges: tuple[tuple[int, ...], ...]
    ancestors: tuple[tuple[int, ...], ...]

    def table_rows(self, node: int) -> int:
        """Rows of the state table of ``node``."""
        return self.n_ops ** len(self.ancestors[node])


def fixed_edge_plan(model: Any, space: Any, max_rows: int = MAX_TABLE_ROWS) -> FixedEdgePlan | None:
    """The table plan of a GATES model on a fixed-edge space, or None where it does not apply.

    It applies to operation-on-edge models on a
    :class:`~archmodel.spaces.fixed_edges.FixedEdgeSpace` (NB201, TransNAS-Bench-101 micro)
    with one cell, one input node (node 0) and the last node as output, when no intermediate
    node's table and no message table of the output node exceeds ``max_rows`` rows.
    """
    from archmodel.spaces.fixed_edges import FixedEdgeSpace

    if (not isinstance(space, FixedEdgeSpace) or model.kind != "edge" or model.n_cells != 1
            or model.n_inputs != 1):
        return None
    n, k = model.n_nodes, model.n_ops
    edges = tuple((int(s), int(d)) for s, d in space.edges)
    if space.n_nodes != n or model.output_node != n - 1:
        return None
    if any(not 0 <= s < d < n for s, d in edges):
        return None
    probe = space.to_arrays(space.sample(1, 0)).edges
    if probe.shape[1:] != (1, len(edges), 3) or [tuple(r) for r in probe[0, 0, :, :2].tolist()] != list(edges):
        return None
    in_edges = tuple(tuple(sorted((e for e, (_, d) in enumerate(edges) if d == i),
                                  key=lambda e: (edges[e][0], e))) for i in range(n))
    if not in_edges[n - 1]:
        return None
    anc: list[tuple[int, ...]] = [()] * n
    for i in range(1, n):
        a = set(in_edges[i])
        for e in in_edges[i]:
            a |= set(anc[edges[e][0]])
        anc[i] = tuple(sorted(a))
    if any(k ** len(anc[i]) > max_rows for i in range(1, n - 1)):
        return None
    if any(k ** (1 + len(anc[edges[e][0]])) > max_rows for e in in_edges[n - 1]):
        return None
    return FixedEdgePlan(n, k, edges, in_edges, tuple(anc))


def _digits(n_digits: int, k: int) -> np.ndarray:
    """int64 [k ** n_digits, n_digits]: the base-``k`` digits of every code, least significant first."""
    codes = np.arange(k ** n_digits, dtype=np.int64)
    return (codes[:, None] // (k ** np.arange(n_digits, dtype=np.int64))[None, :]) % k


def _code(digits: np.ndarray, positions: list[int], k: int) -> np.ndarray:
    """int64 [R]: the code of the digits at ``positions`` (in that order) of each row."""
    if not positions:
        return np.zeros(digits.shape[0], np.int64)
    return (digits[:, positions] * (k ** np.arange(len(positions), dtype=np.int64))[None, :]).sum(axis=1)


def _canonical_ops(g: GraphBuilder, ops: str, plan: FixedEdgePlan, none_op: int,
                   readout_nodes: list[int]) -> str:
    """``ops`` [B, E] with the operation of every edge that cannot change the readout set to
    ``none_op``, so that cells with equal results get equal rows.

    A node's state *matters* if the node is read out, or if a non-``none`` edge leads from it
    to a node whose state matters. The operation of an edge into a node whose state does not
    matter changes only that node's state, which reaches the readout through nothing but
    messages gated by ``gate[none] = 0`` (exact zeros, at every layer); replacing it by
    ``none`` changes no score (at most the sign of an exact zero). NB201, readout 'output':
    15,625 cells -> 12,205 canonical cells.
    """
    e_count = len(plan.edges)
    none = g.const(np.array(none_op, np.int64), "int64", "none_op")
    n = plan.n_nodes
    matters: list[Any] = [None] * n   # True, or a bool [B] tensor
    for j in range(n - 1, -1, -1):
        if j in readout_nodes:
            matters[j] = True
            continue
        terms = []
        for e in range(e_count):
            src, dst = plan.edges[e]
            if src != j:
                continue
            col = g.op("Gather", [ops, g.const(np.array(e, np.int64), "int64", f"e{e}")], axis=1,
                       name=f"canon.op{e}")                                              # [B]
            live = g.op("Not", [g.op("Equal", [col, none], name=f"canon.is_none{e}")], name=f"canon.live{e}")
            terms.append(live if matters[dst] is True else g.op("And", [live, matters[dst]], name=f"canon.path{e}"))
        out = terms[0] if terms else None
        for i, t in enumerate(terms[1:]):
            out = g.op("Or", [out, t], name=f"canon.matters{j}_{i}")
        matters[j] = out  # None: nothing leaves node j (its state never matters)
    cols = []
    for e, (src, dst) in enumerate(plan.edges):
        col = g.op("Gather", [ops, g.const(np.array([e], np.int64), "int64", f"e{e}_1d")], axis=1,
                   name=f"canon.col{e}")                                                 # [B, 1]
        if matters[dst] is True:
            cols.append(col)
        elif matters[dst] is None:
            cols.append(g.op("Add", [g.op("Mul", [col, g.const(np.array(0, np.int64), "int64", "zero_i64")],
                                          name=f"canon.dead{e}"), none], name=f"canon.op{e}_none"))
        else:
            keep = g.op("Unsqueeze", [matters[dst], g.const([1], "int64", "axis1")], name=f"canon.keep{e}")
            cols.append(g.op("Where", [keep, col, none], name=f"canon.op{e}_kept"))
    return g.op("Concat", cols, axis=1, name="canon.ops")                                # [B, E]


def symmetric_node_pairs(plan: FixedEdgePlan, readout_nodes: list[int]) -> list[tuple[int, list[tuple[int, int]]]]:
    """Intermediate nodes ``i < j`` that play the same role when the edge ``i -> j`` is ``none``.

    Node ``j`` then receives messages from the same sources as ``i`` (its edge from ``i``
    carries exact zeros), and both send to the same nodes, so exchanging the operations of
    their matching edges gives a cell computing the same function (only the order of two
    terms in a sum changes). Neither may be read out directly. NB201: nodes 1 and 2 (edge
    ``1 -> 2``), matching edges ``(0->1, 0->2)`` and ``(1->3, 2->3)``.

    Returns
    -------
    list of (edge i->j, [(edge of i, matching edge of j), ...])
    """
    n = plan.n_nodes
    out_edges = [[e for e, (src, _) in enumerate(plan.edges) if src == v] for v in range(n)]
    pairs = []
    for e_ij, (i, j) in enumerate(plan.edges):
        if i == 0 or j == n - 1 or i in readout_nodes or j in readout_nodes:
            continue
        into_i = {plan.edges[e][0]: e for e in plan.in_edges[i]}
        into_j = {plan.edges[e][0]: e for e in plan.in_edges[j] if e != e_ij}
        from_i = {plan.edges[e][1]: e for e in out_edges[i] if e != e_ij}
        from_j = {plan.edges[e][1]: e for e in out_edges[j]}
        if set(into_i) != set(into_j) or set(from_i) != set(from_j):
            continue
        match = [(into_i[v], into_j[v]) for v in sorted(into_i)] + [(from_i[v], from_j[v]) for v in sorted(from_i)]
        pairs.append((e_ij, match))
    return pairs


def _swap_symmetric(g: GraphBuilder, ops: str, plan: FixedEdgePlan, none_op: int, k: int,
                    readout_nodes: list[int]) -> str:
    """``ops`` [B, E] with each :func:`symmetric_node_pairs` pair put in one order (the node
    whose matching edges have the smaller code first) where the edge between them is ``none``,
    so that the two orders of an equivalent cell get one row."""
    none = g.const(np.array(none_op, np.int64), "int64", "none_op")
    for t, (e_ij, match) in enumerate(symmetric_node_pairs(plan, readout_nodes)):
        cols = [g.op("Gather", [ops, g.const(np.array([e], np.int64), "int64", f"e{e}_1d")], axis=1,
                     name=f"sym{t}.col{e}") for e in range(len(plan.edges))]             # [B, 1] each
        radix = k ** np.arange(len(match), dtype=np.int64)

        def code(side: int) -> str:
            sel = g.const(np.array([m[side] for m in match], np.int64), "int64", f"sym{t}_side{side}")
            terms = g.op("Mul", [g.op("Gather", [ops, sel], axis=1, name=f"sym{t}.ops{side}"),
                                 g.const(radix, "int64", f"sym{t}_radix")], name=f"sym{t}.terms{side}")
            return g.op("ReduceSum", [terms, g.const([1], "int64", "axis1")], keepdims=1, name=f"sym{t}.code{side}")

        swap = g.op("And", [g.op("Equal", [cols[e_ij], none], name=f"sym{t}.cut"),
                            g.op("Greater", [code(0), code(1)], name=f"sym{t}.greater")], name=f"sym{t}.swap")
        for a, b in match:
            cols[a], cols[b] = (g.op("Where", [swap, cols[b], cols[a]], name=f"sym{t}.e{a}"),
                                g.op("Where", [swap, cols[a], cols[b]], name=f"sym{t}.e{b}"))
        ops = g.op("Concat", cols, axis=1, name=f"sym{t}.ops")
    return ops


def _convert_tables(predictor: Any, g: GraphBuilder, plan: FixedEdgePlan, *, dedupe: bool = True) -> None:
    """The fixed-edge table graph (see the module docstring)."""
    model, params = predictor.model_, predictor.params_
    n, k = plan.n_nodes, plan.n_ops
    out_node = n - 1
    n_layers = len(model.gates_dims)
    residual = _residual(model)
    p = lambda name: params[f"encoder.cell0.{name}"]  # noqa: E731
    edges = g.input("edges", "int64", [BATCH_DIM, 1, len(plan.edges), 3])
    ec = g.op("Gather", [edges, g.const(np.array(0, np.int64), "int64", "idx0")], axis=1, name="cell0.edges")
    ops = g.op("Gather", [ec, g.const(np.array(2, np.int64), "int64", "idx2")], axis=2, name="cell0.op")  # [B, E]
    inverse = None
    e_count = len(plan.edges)
    if dedupe and model.none_op is not None and e_count * np.log2(k) < 62:
        # equivalent cells -> one canonical cell; each distinct canonical cell is scored once
        canon = _canonical_ops(g, ops, plan, model.none_op, list(model.readout_nodes))
        if model.readout == "output" and g.compute_dtype == "float64":
            # equivalent up to the order of two terms of a sum: merged only in double precision,
            # where that order cannot change the float32 score (see the module docstring)
            canon = _swap_symmetric(g, canon, plan, model.none_op, k, list(model.readout_nodes))
        radix_all = g.const(k ** np.arange(e_count, dtype=np.int64), "int64", f"radix{e_count}")
        key = g.op("ReduceSum", [g.op("Mul", [canon, radix_all], name="canon.key_terms"),
                                 g.const([1], "int64", "axis1")], keepdims=0, name="canon.key")  # [B]
        # the distinct keys and, per cell, the index of its key; the distinct cells' operations
        # are decoded from the keys (digit e of key = op of edge e). Unique's optional outputs
        # 'indices' and 'counts' are left out: an output nothing consumes made onnxruntime
        # 1.15-1.18 hand its buffer to a live tensor (wrong scores from the second run of a
        # session on; see GraphBuilder.op)
        uniq, _, inverse, _ = g.op("Unique", [key], sorted=1, n_outputs=4, omit=(1, 3), name="canon.unique")
        ops = g.op("Mod", [g.op("Div", [g.op("Unsqueeze", [uniq, g.const([1], "int64", "axis1")],
                                             name="canon.distinct_keys"), radix_all], name="canon.shifted"),
                           g.const(np.array(k, np.int64), "int64", "n_ops")], name="canon.distinct_ops")  # [U, E]
    codes: dict[tuple[int, ...], str] = {}

    def cell_code(lst: tuple[int, ...]) -> str:
        """[B] int64: sum_k op[b, lst[k]] * K**k, the row of each cell in a table over ``lst``."""
        if lst not in codes:
            tag = "_".join(map(str, lst))
            sel = g.op("Gather", [ops, g.const(np.array(lst, np.int64), "int64", f"code_edges_{tag}")],
                       axis=1, name=f"cell0.code_ops_{tag}")
            radix = g.const(k ** np.arange(len(lst), dtype=np.int64), "int64", f"radix{len(lst)}")
            codes[lst] = g.op("ReduceSum", [g.op("Mul", [sel, radix], name=f"cell0.code_terms_{tag}"),
                                            g.const([1], "int64", "axis1")], keepdims=0,
                              name=f"cell0.code_{tag}")
        return codes[lst]

    def rows_of(table: str, n_rows: int, index: np.ndarray, hint: str) -> str:
        """``table[index]``; a one-row table is used as is (it broadcasts). ``hint`` names
        the node; the (structural) index constant is named ``rows.*``, not after a parameter."""
        if n_rows == 1 or np.array_equal(index, np.arange(n_rows)):
            return table
        tag = hint.replace("encoder.cell0.", "")
        return g.op("Gather", [table, g.const(index, "int64", f"rows.{tag}")], axis=0, name=f"{hint}.rows")

    # the reference's two initial rows: the input node and every other node (zero embedding)
    th = g.linear(_node_embedding(g, 0, p("input_emb"), 2), p("x_hidden.weight"), p("x_hidden.bias"),
                  "encoder.cell0.x_hidden")                                             # [2, hidden]
    op_emb = g.weight("encoder.cell0.op_emb", p("op_emb"))
    digits = {i: _digits(len(plan.ancestors[i]), k) for i in range(n - 1)}
    x_tab: dict[int, tuple[str, int]] = {}   # node -> (state table, rows), nodes 0..n-2
    x_out = None                             # [B, H] output-node states
    for l in range(n_layers):
        lp = f"encoder.cell0.gates{l}"
        relu = l < n_layers - 1
        z = g.op("Add", [g.op("MatMul", [op_emb, g.weight(f"{lp}.op_attn.weight", p(f"gates{l}.op_attn.weight"))],
                              name=f"{lp}.op_attn.matmul"),
                         g.weight(f"{lp}.op_attn.bias", p(f"gates{l}.op_attn.bias"))], name=f"{lp}.op_attn.add")
        gate = g.op("Sigmoid", [z], name=f"{lp}.gate")                                   # [K, H]
        if model.none_op is not None:
            keep = np.ones((k, 1), np.float32)
            keep[model.none_op] = 0.0
            gate = g.op("Mul", [gate, g.fconst(keep, "none_mask")], name=f"{lp}.gate_masked")
        w = g.weight(f"{lp}.weight", p(f"gates{l}.weight"))
        s_tab: dict[int, tuple[str, int]] = {}
        s_out = None
        if l == 0:
            st = g.op("MatMul", [th, w], name=f"{lp}.s_init")                              # [2, H]
            s_tab[0] = (g.op("Gather", [st, g.const([0], "int64", "row0")], axis=0, name=f"{lp}.s_input"), 1)
            s_rest = g.op("Gather", [st, g.const([1], "int64", "row1")], axis=0, name=f"{lp}.s_rest")
            for i in range(1, n - 1):
                s_tab[i] = (s_rest, 1)
            s_out = s_rest                                                               # [1, H]
        else:
            for i in range(n - 1):
                tab, rows = x_tab[i]
                s_tab[i] = (g.op("MatMul", [tab, w], name=f"{lp}.s_node{i}"), rows)
            if residual == "all":
                s_out = g.op("MatMul", [x_out, w], name=f"{lp}.s_out")                  # [B, H]
        # node tables: z_i = [s_i] + sum over incoming edges of gate[op] * s_src, sources in
        # order; s_i for the input node always, for the others only with residual='all'
        new_tab: dict[int, tuple[str, int]] = {}
        for i in range(n - 1):
            anc = plan.ancestors[i]
            rows = plan.table_rows(i)
            zi = None
            if i == 0 or residual == "all":
                zi = rows_of(s_tab[i][0], s_tab[i][1], _code(digits[i], list(range(len(anc))), k),
                             f"{lp}.node{i}.s")
            for e in plan.in_edges[i]:
                j = plan.edges[e][0]
                gsel = g.op("Gather", [gate, g.const(digits[i][:, anc.index(e)], "int64", f"node{i}_edge{e}_op")],
                            axis=0, name=f"{lp}.node{i}.gate{e}")
                src_rows = _code(digits[i], [anc.index(a) for a in plan.ancestors[j]], k)
                sj = rows_of(s_tab[j][0], s_tab[j][1], src_rows, f"{lp}.node{i}.src{e}")
                msg = g.op("Mul", [gsel, sj], name=f"{lp}.node{i}.msg{e}")
                zi = msg if zi is None else g.op("Add", [zi, msg], name=f"{lp}.node{i}.z{e}")
            if zi is None:  # a node nothing flows into (not in the shipped spaces)
                zi = g.fconst(np.zeros((1, model.gates_dims[l]), np.float32), f"zeros{l}")
            new_tab[i] = (g.op("Relu", [zi], name=f"{lp}.node{i}.relu") if relu else zi, rows)
        # the output node, per cell: its messages are gathered from per-edge message tables.
        # With residual='inputs' its state at layer l is used by nothing but the readout, so
        # only the last layer is computed.
        if residual == "all" or l == n_layers - 1:
            zo = s_out if residual == "all" else None
            for e in plan.in_edges[out_node]:
                j = plan.edges[e][0]
                lst = (e,) + plan.ancestors[j]
                dig = _digits(len(lst), k)
                gsel = g.op("Gather", [gate, g.const(dig[:, 0], "int64", f"out_edge{e}_op")], axis=0,
                            name=f"{lp}.out.gate{e}")
                sj = rows_of(s_tab[j][0], s_tab[j][1], _code(dig, list(range(1, len(lst))), k), f"{lp}.out.src{e}")
                table = g.op("Mul", [gsel, sj], name=f"{lp}.out.msg_table{e}")          # [K^|lst|, H]
                msg = g.op("Gather", [table, cell_code(lst)], axis=0, name=f"{lp}.out.msg{e}")  # [B, H]
                zo = msg if zo is None else g.op("Add", [zo, msg], name=f"{lp}.out.z{e}")
            x_out = g.op("Relu", [zo], name=f"{lp}.out.relu") if relu else zo
        x_tab = new_tab
    if model.readout == "output":
        feat = x_out
    else:  # mean over the non-input nodes, summed in node order as the reference does
        tot = None
        for i in list(range(1, n - 1)) + [out_node]:
            if i == out_node:
                xi = x_out
            else:
                tab, rows = x_tab[i]
                xi = tab if rows == 1 else g.op("Gather", [tab, cell_code(plan.ancestors[i])], axis=0,
                                                 name=f"cell0.readout_node{i}")
            tot = xi if tot is None else g.op("Add", [tot, xi], name=f"cell0.readout_sum{i}")
        feat = g.op("Div", [tot, g.fconst(np.array(n - 1, np.float32), "n_readout")],
                    name="cell0.readout")
    score = g.mlp_head(feat, params, len(model.mlp_hidden))
    if inverse is not None:  # back to one score per cell of the batch
        score = g.op("Gather", [score, inverse], axis=0, name="canon.scores")
    g.output(score)
