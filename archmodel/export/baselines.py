"""ONNX converters for the baseline predictors (:mod:`archmodel.predictors.baselines`).

Each graph computes exactly the math of the array model in :mod:`archmodel.models.baselines`
(evaluation mode: no dropout) followed by the shared MLP head
(:meth:`archmodel.export._graph.GraphBuilder.mlp_head`). Only batched operators with a fixed
structure are used (no loops, no scatter), so any ONNX runtime can run the graphs.

:func:`convert_mlp` (``MLPPredictor``, encoding ``onehot``)
    input ``onehot`` float32 ``[batch, D]`` (``D = sum(decision_sizes)``) -> head.

:func:`convert_lstm` (``LSTMPredictor``, encoding ``sequence``)
    input ``seq`` int64 ``[batch, T]``. The LSTM is unrolled over the ``T`` decisions with
    explicit ``MatMul``/``Sigmoid``/``Tanh`` nodes (not the ONNX ``LSTM`` operator, whose gate
    layout differs from archmodel's)::

        table = embedding @ w_ih                      # [n_tokens, 4H], one row per token
        xw    = table[seq + offsets]                  # [batch, T, 4H]
        z_t   = xw[:, t] + h_{t-1} @ w_hh + bias      # (t = 0: xw[:, 0] + bias; zero state)
        i, f, g, o = split(z_t, 4)                    # archmodel's gate order (i, f, g, o)
        c_t   = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t   = sigmoid(o) * tanh(c_t)

    ``h_T`` feeds the head. The rows of ``table`` are exactly ``x_t @ w_ih`` of the reference
    (the embedding lookup commutes with the product).

:func:`convert_gcn` (``GCNPredictor``, encoding ``graph``, the same inputs as GATES)
    The GCN graph of each cell (:func:`archmodel.models.baselines.gcn_graphs`) is built inside
    the ONNX graph. Operation-on-edge cells become a line graph of ``M = n_inputs + E + 1``
    nodes; with per-node "start" and "end" numbers (input ``k``: end ``k``, no start; edge node
    ``e``: start ``src[e]``, end ``dst[e]``; output: start ``N - 1``, no end) and ``live``
    (edge nodes: ``op != none``), ``A[v, u] = live[u] * live[v] * (end[u] == start[v])``, which
    is the reference's adjacency entry by entry. Operation-on-node cells use ``adj != 0``.
    Then ``A_hat = D^-1/2 max(A, A^T, I) D^-1/2`` is computed in float64 and cast to float32,
    as the reference does, and ``H_{l+1} = act(A_hat (H_l W_l) + b_l)`` with ``H_0 W_0`` a row
    lookup of ``W_0``; readout = mean over the ``M`` nodes or the output node's state.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from archmodel.errors import ParameterError
from archmodel.export._graph import BATCH_DIM, GraphBuilder

__all__ = ["convert_mlp", "convert_lstm", "convert_gcn"]


def _check_space(predictor: Any) -> Any:
    from archmodel.spaces import get_space

    return get_space(predictor.space_)


# ============================================================================ MLP
def convert_mlp(predictor: Any, g: GraphBuilder) -> None:
    """Build the scoring graph of a fitted ``MLPPredictor`` into ``g`` (input ``onehot``).

    Parameters
    ----------
    predictor : MLPPredictor
        Fitted (has ``model_``, ``params_``, ``space_``).
    g : GraphBuilder
    """
    model, params = predictor.model_, predictor.params_
    model.check_params(params)
    space = _check_space(predictor)
    d = int(sum(space.decision_sizes))
    if d != model.in_features:
        raise ParameterError(
            f"MLPPredictor has in_features={model.in_features} but search space {space.name!r} "
            f"has {d} one-hot features; the model does not belong to this space")
    x = g.float_input("onehot", [BATCH_DIM, d])
    g.output(g.mlp_head(x, params, len(model.mlp_hidden)))


# ============================================================================ LSTM
def convert_lstm(predictor: Any, g: GraphBuilder) -> None:
    """Build the scoring graph of a fitted ``LSTMPredictor`` into ``g`` (input ``seq``).

    Parameters
    ----------
    predictor : LSTMPredictor
    g : GraphBuilder
    """
    model, params = predictor.model_, predictor.params_
    model.check_params(params)
    space = _check_space(predictor)
    if list(space.decision_sizes) != list(model.decision_sizes):
        raise ParameterError(
            f"LSTMPredictor has decision_sizes={model.decision_sizes} but search space "
            f"{space.name!r} has {list(space.decision_sizes)}; the model does not belong to this space")
    t_len = len(model.decision_sizes)
    hd = model.hidden_dim
    seq = g.input("seq", "int64", [BATCH_DIM, t_len])
    tokens = g.op("Add", [seq, g.const(model.offsets, "int64", "token_offsets")], name="lstm.tokens")
    emb = g.weight("encoder.embedding.weight", params["encoder.embedding.weight"])
    w_ih = g.weight("encoder.lstm.w_ih", params["encoder.lstm.w_ih"])
    w_hh = g.weight("encoder.lstm.w_hh", params["encoder.lstm.w_hh"])
    bias = g.weight("encoder.lstm.bias", params["encoder.lstm.bias"])
    table = g.op("MatMul", [emb, w_ih], name="lstm.token_table")                  # [n_tokens, 4H]
    xw = g.op("Gather", [table, tokens], axis=0, name="lstm.xw")                   # [B, T, 4H]
    split = g.const([hd] * 4, "int64", "lstm.split")
    h = c = None
    for t in range(t_len):
        x_t = g.op("Gather", [xw, g.const(np.array(t, np.int64), "int64", f"t{t}")], axis=1,
                   name=f"lstm.x{t}")                                               # [B, 4H]
        if h is None:  # zero initial state: h_{-1} @ w_hh = 0
            z = g.op("Add", [x_t, bias], name=f"lstm.z{t}")
        else:
            hw = g.op("MatMul", [h, w_hh], name=f"lstm.hw{t}")
            z = g.op("Add", [g.op("Add", [x_t, hw], name=f"lstm.xh{t}"), bias], name=f"lstm.z{t}")
        if c is None:  # t = 0: the forget gate multiplies c_{-1} = 0; slice only i, g, o (a
            # Split would leave its forget output unused, which onnxruntime before 1.19 could
            # mishandle: see GraphBuilder.op)
            zi, zg, zo = (g.op("Slice", [z, g.const([j * hd], "int64", f"lstm.start{j}"),
                                         g.const([(j + 1) * hd], "int64", f"lstm.end{j}"),
                                         g.const([1], "int64", "axis1")], name=f"lstm.{nm}{t}_pre")
                          for j, nm in ((0, "i"), (2, "g"), (3, "o")))
        else:
            zi, zf, zg, zo = g.op("Split", [z, split], axis=1, n_outputs=4, name=f"lstm.gates{t}")
        i = g.op("Sigmoid", [zi], name=f"lstm.i{t}")
        gg = g.op("Tanh", [zg], name=f"lstm.g{t}")
        o = g.op("Sigmoid", [zo], name=f"lstm.o{t}")
        ig = g.op("Mul", [i, gg], name=f"lstm.ig{t}")
        if c is None:  # c_{-1} = 0
            c = ig
        else:
            f = g.op("Sigmoid", [zf], name=f"lstm.f{t}")
            c = g.op("Add", [g.op("Mul", [f, c], name=f"lstm.fc{t}"), ig], name=f"lstm.c{t}")
        h = g.op("Mul", [o, g.op("Tanh", [c], name=f"lstm.tanh_c{t}")], name=f"lstm.h{t}")
    g.output(g.mlp_head(h, params, len(model.mlp_hidden)))


# ============================================================================ GCN
def convert_gcn(predictor: Any, g: GraphBuilder) -> None:
    """Build the scoring graph of a fitted ``GCNPredictor`` into ``g`` (GATES' inputs).

    Parameters
    ----------
    predictor : GCNPredictor
    g : GraphBuilder
    """
    from archmodel.encoding import vocabulary

    model, params = predictor.model_, predictor.params_
    model.check_params(params)
    space = _check_space(predictor)
    probe = space.to_arrays(space.sample(1, 0))
    if (len(vocabulary(space)) != model.n_ops or probe.kind != model.kind
            or probe.n_nodes != model.n_nodes or probe.n_cells != model.n_cells
            or probe.n_inputs != model.n_inputs
            or (model.kind == "edge" and int(probe.edges.shape[2]) != model.n_edges)):
        raise ParameterError(
            f"GCNPredictor's model {model.get_config()} does not match search space {space.name!r}")
    n, n_in, k_ops, n_cells = model.n_nodes, model.n_inputs, model.n_ops, model.n_cells
    m = model.n_graph_nodes
    n_layers = len(model.gcn_dims)
    if model.kind == "edge":
        e = model.n_edges
        edges = g.input("edges", "int64", [BATCH_DIM, n_cells, e, 3])
        pads = g.const([0, n_in, 0, 1], "int64", "line_graph_pads")
        # constants added to the padded per-edge values: inputs, edge nodes, output
        c_start = np.concatenate([np.full(n_in, -1), np.zeros(e), [n - 1]]).astype(np.int64)
        c_end = np.concatenate([np.arange(n_in), np.zeros(e), [-2]]).astype(np.int64)
        c_feat = np.concatenate([k_ops + np.arange(n_in), np.zeros(e), [k_ops + n_in]]).astype(np.int64)
    else:
        adj_in = g.float_input("adj", [BATCH_DIM, n_cells, n, n])
        ops_in = g.input("node_ops", "int64", [BATCH_DIM, n_cells, n])
    eye = g.fconst(np.eye(m, dtype=np.float32), "eye")
    readouts = []
    for c in range(n_cells):
        pre = f"cell{c}"
        cidx = g.const(np.array(c, np.int64), "int64", f"idx{c}")
        if model.kind == "edge":
            ec = g.op("Gather", [edges, cidx], axis=1, name=f"{pre}.edges")              # [B, E, 3]
            cols = [g.op("Gather", [ec, g.const(np.array(j, np.int64), "int64", f"idx{j}")], axis=2,
                         name=f"{pre}.{nm}") for j, nm in enumerate(("src", "dst", "op"))]
            src, dst, op = cols
            zero_i = g.const(np.array(0, np.int64), "int64", "zero_i64")

            def pad_add(x: str, const: np.ndarray, nm: str) -> str:
                xp = g.op("Pad", [x, pads, zero_i], mode="constant", name=f"{pre}.{nm}_pad")
                return g.op("Add", [xp, g.const(const, "int64", f"line_{nm}")], name=f"{pre}.{nm}")

            start = pad_add(src, c_start, "start")                                        # [B, M]
            end = pad_add(dst, c_end, "end")
            feat = pad_add(op, c_feat, "feat")
            eq = g.op("Equal", [g.op("Unsqueeze", [start, g.const([2], "int64", "axis2")], name=f"{pre}.start_u"),
                                g.op("Unsqueeze", [end, g.const([1], "int64", "axis1")], name=f"{pre}.end_u")],
                      name=f"{pre}.link")                                                 # [B, v, u]
            a = g.op("Cast", [eq], to=g.float_elem, name=f"{pre}.a_raw")
            if model.none_op is not None:
                none_op = g.const(np.array(model.none_op, np.int64), "int64", "none_op")
                is_none = g.op("Equal", [op, none_op], name=f"{pre}.is_none")
                live = g.op("Cast", [g.op("Not", [is_none], name=f"{pre}.not_none")], to=g.float_elem,
                            name=f"{pre}.live_e")                                         # [B, E]
                live = g.op("Pad", [live, pads, g.fconst(np.array(1.0, np.float32), "one")],
                            mode="constant", name=f"{pre}.live")                          # [B, M]
                a = g.op("Mul", [a, g.op("Unsqueeze", [live, g.const([2], "int64", "axis2")], name=f"{pre}.live_v")],
                         name=f"{pre}.a_live_v")
                a = g.op("Mul", [a, g.op("Unsqueeze", [live, g.const([1], "int64", "axis1")], name=f"{pre}.live_u")],
                         name=f"{pre}.a")
        else:
            ac = g.op("Gather", [adj_in, cidx], axis=1, name=f"{pre}.adj")               # [B, N, N]
            nz = g.op("Not", [g.op("Equal", [ac, g.fconst(np.array(0.0, np.float32), "zero")],
                                   name=f"{pre}.adj_zero")], name=f"{pre}.adj_nz")
            a = g.op("Cast", [nz], to=g.float_elem, name=f"{pre}.a")
            feat = g.op("Gather", [ops_in, cidx], axis=1, name=f"{pre}.feat")             # [B, N]
        # A_hat = D^-1/2 max(A, A^T, I) D^-1/2, in float64 as the reference computes it
        sym = g.op("Max", [a, g.op("Transpose", [a], perm=[0, 2, 1], name=f"{pre}.a_t"), eye],
                   name=f"{pre}.a_tilde")
        sym64 = g.op("Cast", [sym], to=11, name=f"{pre}.a_tilde64")
        deg = g.op("ReduceSum", [sym64, g.const([2], "int64", "axis2")], keepdims=1, name=f"{pre}.deg")
        dinv = g.op("Div", [g.const(np.array(1.0), "float64", "one_f64"),
                            g.op("Sqrt", [deg], name=f"{pre}.sqrt_deg")], name=f"{pre}.dinv")  # [B, M, 1]
        a_hat = g.op("Mul", [g.op("Mul", [sym64, dinv], name=f"{pre}.a_d_rows"),
                             g.op("Transpose", [dinv], perm=[0, 2, 1], name=f"{pre}.dinv_t")],
                     name=f"{pre}.a_hat64")
        a_hat = g.op("Cast", [a_hat], to=g.float_elem, name=f"{pre}.a_hat")                        # [B, M, M]
        y = None
        for l in range(n_layers):
            lp = f"encoder.cell{c}.gcn{l}"
            w = g.weight(f"{lp}.weight", params[f"{lp}.weight"])
            if l == 0:
                s = g.op("Gather", [w, feat], axis=0, name=f"{lp}.lookup")             # one-hot @ W0
            else:
                s = g.op("MatMul", [y, w], name=f"{lp}.s")
            y = g.op("Add", [g.op("MatMul", [a_hat, s], name=f"{lp}.prop"),
                             g.weight(f"{lp}.bias", params[f"{lp}.bias"])], name=f"{lp}.y")
            if l < n_layers - 1:
                y = g.op("Relu", [y], name=f"{lp}.relu")
        if model.readout == "mean":
            tot = g.op("ReduceSum", [y, g.const([1], "int64", "axis1")], keepdims=0, name=f"{pre}.readout_sum")
            r = g.op("Div", [tot, g.fconst(np.array(m, np.float32), "n_graph_nodes")],
                     name=f"{pre}.readout")
        else:
            r = g.op("Gather", [y, g.const(np.array(m - 1, np.int64), "int64", "out_node")], axis=1,
                     name=f"{pre}.readout")
        readouts.append(r)
    feat_all = readouts[0] if n_cells == 1 else g.op("Concat", readouts, axis=1, name="features")
    g.output(g.mlp_head(feat_all, params, len(model.mlp_hidden)))
