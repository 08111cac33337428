"""ONNX converter for :class:`~archmodel.predictors.gates.GATESPredictor`.

The array-level model (:class:`archmodel.models.gates.GATESModel`) compresses a batch into
distinct node states before message passing; the ONNX graph computes the same function
*densely*, one cell of the batch at a time, with batched matrix products only (no loops, no
scatter), so any ONNX runtime can run it. Per cell slot ``c`` (its own parameters)::

    node_emb = [input_emb; 0]                                 # [N, node_emb_dim]
    X        = node_emb @ W_x + b_x                           # [N, hidden]  (batch-independent)
    for layer l:
        gate = sigmoid(op_emb @ W_o,l + b_o,l)                # [K, H_l]
        S    = X @ W_l                                        # [N, H_l] (l = 0) or [B, N, H_l]
        edge kind:  gate[none_op] = 0
                    SRC[b, e, j] = (src[b, e] == j)           # one-hot [B, E, N]
                    DST[b, i, e] = (dst[b, e] == i)           # one-hot [B, N, E]
                    Y = S + DST @ (gate[op] * (SRC @ S))      # messages scattered into dst
        node kind:  Y = S + gate[node_ops] * (A @ S)          # A = adj [B, N, N]
        X = relu(Y) if l is not the last layer else Y
    readout  = X[:, output_node]  |  mean of X[:, n_inputs:]  # [B, H_last]

then the readouts of the cells are concatenated and the MLP head (ReLU between layers, no
dropout) maps them to one score per architecture. ``none`` edges (and the padding rows
``(0, N-1, none)``) get gate 0, i.e. contribute exactly nothing, as the reference drops them.
Operation-on-node models gate every operation (the reference has no ``none`` there).

Inputs (see ``specs/onnx/<space>.json``): ``edges`` int64 ``[batch, C, E, 3]``, or ``adj``
float32 ``[batch, C, N, N]`` and ``node_ops`` int64 ``[batch, C, N]``. Output: ``score``
float32 ``[batch]``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from archmodel.export._graph import BATCH_DIM, GraphBuilder

#: the contract encoding this converter consumes
ENCODING = "graph"


def convert_gates(predictor: Any, g: GraphBuilder) -> None:
    """Build the GATES scoring graph of a fitted ``GATESPredictor`` into ``g``.

    Parameters
    ----------
    predictor : GATESPredictor
        Fitted (has ``model_``, ``params_``, ``space_``).
    g : GraphBuilder
    """
    from archmodel.encoding import vocabulary
    from archmodel.spaces import get_space

    model = predictor.model_
    params = predictor.params_
    model.check_params(params)
    space = get_space(predictor.space_)
    n, n_in, n_cells, k_ops = model.n_nodes, model.n_inputs, model.n_cells, model.n_ops
    if len(vocabulary(space)) != k_ops:
        from archmodel.errors import ParameterError

        raise ParameterError(
            f"GATESPredictor has n_ops={k_ops} but search space {space.name!r} has "
            f"{len(vocabulary(space))} operations; the model does not belong to this space")
    n_layers = len(model.gates_dims)
    if model.kind == "edge":
        node_ids = g.const(np.arange(n), "int64", "node_ids")                          # [N]
        node_ids_col = g.const(np.arange(n).reshape(n, 1), "int64", "node_ids_col")   # [N, 1]
        probe = space.to_arrays(space.sample(1, 0))
        n_edges = int(probe.edges.shape[2])
        edges = g.input("edges", "int64", [BATCH_DIM, n_cells, n_edges, 3])
    else:
        adj = g.input("adj", "float32", [BATCH_DIM, n_cells, n, n])
        node_ops = g.input("node_ops", "int64", [BATCH_DIM, n_cells, n])

    readouts = []
    for c in range(n_cells):
        p = lambda k: params[f"encoder.cell{c}.{k}"]  # noqa: E731
        pre = f"cell{c}"
        cidx = g.const(np.array(c, np.int64), "int64", f"idx{c}")
        # --- structure of this cell slot, shared by every layer
        if model.kind == "edge":
            ec = g.op("Gather", [edges, cidx], axis=1, name=f"{pre}.edges")          # [B, E, 3]
            src = g.op("Gather", [ec, g.const(np.array(0, np.int64), "int64", "idx0")], axis=2,
                       name=f"{pre}.src")                                             # [B, E]
            dst = g.op("Gather", [ec, g.const(np.array(1, np.int64), "int64", "idx1")], axis=2,
                       name=f"{pre}.dst")
            ops = g.op("Gather", [ec, g.const(np.array(2, np.int64), "int64", "idx2")], axis=2,
                       name=f"{pre}.op")
            src_u = g.op("Unsqueeze", [src, g.const([2], "int64", "axis2")], name=f"{pre}.src_u")   # [B, E, 1]
            src_oh = g.op("Cast", [g.op("Equal", [src_u, node_ids], name=f"{pre}.src_eq")],
                          to=1, name=f"{pre}.src_onehot")                              # [B, E, N]
            dst_u = g.op("Unsqueeze", [dst, g.const([1], "int64", "axis1")], name=f"{pre}.dst_u")   # [B, 1, E]
            dst_oh = g.op("Cast", [g.op("Equal", [dst_u, node_ids_col], name=f"{pre}.dst_eq")],
                          to=1, name=f"{pre}.dst_onehot")                              # [B, N, E]
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
                keep = np.ones((k_ops, 1), np.float32)
                keep[model.none_op] = 0.0
                gate = g.op("Mul", [gate, g.const(keep, "float32", "none_mask")], name=f"{lp}.gate_masked")
            s = g.op("MatMul", [x, g.weight(f"{lp}.weight", p(f"gates{l}.weight"))], name=f"{lp}.s")
            gop = g.op("Gather", [gate, ops], axis=0, name=f"{lp}.gate_of_op")         # [B, E|N, H]
            if model.kind == "edge":
                s_src = g.op("MatMul", [src_oh, s], name=f"{lp}.s_src")               # [B, E, H]
                msg = g.op("Mul", [gop, s_src], name=f"{lp}.msg")
                agg = g.op("MatMul", [dst_oh, msg], name=f"{lp}.agg")                 # [B, N, H]
            else:
                a_s = g.op("MatMul", [a, s], name=f"{lp}.a_s")                        # [B, N, H]
                agg = g.op("Mul", [gop, a_s], name=f"{lp}.agg")
            y = g.op("Add", [s, agg], name=f"{lp}.y")
            x = g.op("Relu", [y], name=f"{lp}.relu") if l < n_layers - 1 else y
        if model.readout == "output":
            r = g.op("Gather", [x, g.const(np.array(model.output_node, np.int64), "int64", "out_node")],
                     axis=1, name=f"{pre}.readout")                                   # [B, H]
        else:
            nodes = np.asarray(model.readout_nodes, np.int64)
            sel = g.op("Gather", [x, g.const(nodes, "int64", "readout_nodes")], axis=1, name=f"{pre}.readout_sel")
            tot = g.op("ReduceSum", [sel, g.const([1], "int64", "axis1")], keepdims=0, name=f"{pre}.readout_sum")
            r = g.op("Div", [tot, g.const(np.array(len(nodes), np.float32), "float32", "n_readout")],
                     name=f"{pre}.readout")
        readouts.append(r)
    feat = readouts[0] if n_cells == 1 else g.op("Concat", readouts, axis=1, name="features")
    g.output(g.mlp_head(feat, params, len(model.mlp_hidden)))


def _node_embedding(g: GraphBuilder, c: int, input_emb: np.ndarray, n: int) -> str:
    """``[input_emb; zeros]`` ``[N, node_emb_dim]``: the learned input-node embeddings plus the
    (constant, zero) embedding every other node starts from."""
    n_in, d = input_emb.shape
    emb = g.weight(f"encoder.cell{c}.input_emb", input_emb)
    zeros = g.const(np.zeros((n - n_in, d), np.float32), "float32", f"zero_emb{c}")
    return g.op("Concat", [emb, zeros], axis=0, name=f"encoder.cell{c}.node_emb")
