"""ONNX converter for :class:`~archmodel.predictors.tagates.TAGATESPredictor`.

A dense graph in the manner of GATES' (:mod:`archmodel.export.gates`): batched matrix products
over one-hot incidence matrices built from the ``edges`` input, no loops and no scatter, the
``time_steps`` rounds of :class:`~archmodel.models.tagates.TAGATESModel` unrolled. Per batch
of ``B`` cells with ``E`` edge rows and ``N`` nodes::

    SRC[b, e, j] = (src[b, e] == j)   [B, E, N]      SRC_T[b, j, e] = SRC[b, e, j]   [B, N, E]
    DST[b, i, e] = (dst[b, e] == i)   [B, N, E]      DST_T[b, e, i] = DST[b, i, e]   [B, E, N]
    live  = [op != none_op]                           [B, E, 1]
    param = [op in update_ops and live]               [B, E, 1]
    E     = op_emb[op]                                [B, E, D]     one embedding per edge
    X0    = [input_emb; 0] @ W_x + b_x                [N, hidden]   (batch-independent)
    for t = 0 .. T-1:
        forward GATES pass from X0, layer l:
            gate = sigmoid(E @ W_o,l + b_o,l) * live                  [B, E, H_l]
            S    = X @ W_l;   M = gate * (SRC @ S);   Y = S * res_f + DST @ M
            X    = relu(Y) except after the last layer;  fm = M of the last layer
        if t == T-1: break
        backward GATES pass over the reversed DAG (its own weights and gates), layer l:
            S    = (l = 0: onehot(output node) * fb(Y[:, output node]) @ Wb_0;  else Xb @ Wb_l)
            M    = bgate * (DST_T @ S);   Yb = S * res_b + SRC_T @ M
            Xb   = relu(Yb) except after the last layer;  bm = M of the last layer
        E = E + scale * param * update([E; fm; bm])
    readout of the last forward Y (output node, or the mean of the non-input nodes), MLP head

``res_f`` is 1 on the input nodes (``residual='inputs'``) or everywhere (``'all'``); ``res_b``
is 1 on the output node or everywhere. ``none`` edges get gate 0 in both passes (the reference
drops them) and their embeddings are never updated. The graph computes every edge's gates,
messages and update where the reference computes only the updated edges' and deduplicates
cells; the function is the same.

Unsupported (:class:`~archmodel.errors.ParameterError` at export): ``symmetry_breaking='noise'``
(the noise is a counter-based SplitMix64 hash of the cell, :func:`~archmodel.models.tagates.
cell_noise`, which needs wrapping 64-bit unsigned arithmetic and bitwise XOR: not available in
the opsets 13-17 that exports target) and ``'stats'`` (per-edge statistics are no contract
input; the predictor does not expose it either). ``symmetry_breaking='none'`` (the default) is
supported with every other option.

Inputs (``specs/onnx/<space>.json``, encoding ``graph``): ``edges`` int64 ``[batch, 1, E, 3]``.
Output: ``score`` float32 ``[batch]``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from archmodel.errors import ParameterError
from archmodel.export._graph import BATCH_DIM, GraphBuilder
from archmodel.export.gates import (_check_vocabulary, _node_embedding, _residual, edge_columns,
                                    gather_onehot, live_by_op, readout, scatter_onehot)

#: the contract encoding this converter consumes (the same inputs as GATES)
ENCODING = "graph"


def convert_tagates(predictor: Any, g: GraphBuilder) -> None:
    """Build the TA-GATES scoring graph of a fitted ``TAGATESPredictor`` into ``g``.

    Parameters
    ----------
    predictor : TAGATESPredictor
        Fitted (has ``model_``, ``params_``, ``space_``), with ``symmetry_breaking='none'``.
    g : GraphBuilder

    Raises
    ------
    ParameterError
        The model uses ``symmetry_breaking='noise'`` or ``'stats'`` (see the module docstring),
        or does not belong to the predictor's space.
    """
    from archmodel.spaces import get_space

    model, params = predictor.model_, predictor.params_
    model.check_params(params)
    if model.symmetry_breaking != "none":
        raise ParameterError(
            f"ONNX export of TAGATESPredictor supports symmetry_breaking='none' only; this model uses "
            f"{model.symmetry_breaking!r} (the 'noise' hash needs 64-bit unsigned wrapping arithmetic "
            "and bitwise XOR, which the exported opsets lack; 'stats' needs per-edge statistics, "
            "which are no contract input)")
    space = get_space(predictor.space_)
    _check_vocabulary(model, space)
    n, n_in, out = model.n_nodes, model.n_inputs, model.output_node
    p = lambda k: params[f"encoder.cell0.{k}"]  # noqa: E731
    n_edges = int(space.to_arrays(space.sample(1, 0)).edges.shape[2])

    # ---- structure of the batch, shared by every step and layer
    edges = g.input("edges", "int64", [BATCH_DIM, 1, n_edges, 3])
    src, dst, ops = edge_columns(g, edges, 0)                                               # [B, E]
    src_g, src_s = gather_onehot(g, src, n, "cell0.src"), scatter_onehot(g, src, n, "cell0.src_t")
    dst_g, dst_s = gather_onehot(g, dst, n, "cell0.dst_t"), scatter_onehot(g, dst, n, "cell0.dst")
    k_ops = model.n_ops
    live = live_by_op(model)
    upd = live * np.isin(np.arange(k_ops), model.update_ops).reshape(k_ops, 1)
    live_e = g.op("Gather", [g.fconst(live, "live_by_op"), ops], axis=0, name="cell0.live")      # [B, E, 1]
    upd_e = g.op("Gather", [g.fconst(upd * model.update_scale, "update_scale_by_op"), ops], axis=0,
                 name="cell0.update_scale")                                                       # [B, E, 1]
    node = np.arange(n)
    all_nodes = _residual(model) == "all"
    res_f = g.fconst(((node < n_in) | all_nodes).astype(np.float32).reshape(n, 1), "residual_forward")
    res_b = g.fconst(((node == out) | all_nodes).astype(np.float32).reshape(n, 1), "residual_backward")
    seed_row = g.fconst((node == out).astype(np.float32).reshape(n, 1), "output_onehot")

    x0 = g.linear(_node_embedding(g, 0, p("input_emb"), n), p("x_hidden.weight"), p("x_hidden.bias"),
                  "encoder.cell0.x_hidden")                                                       # [N, hidden]
    emb = g.op("Gather", [g.weight("encoder.cell0.op_emb", p("op_emb")), ops], axis=0, name="t0.emb")  # [B, E, D]
    out_idx = g.const(np.array(out, np.int64), "int64", "out_node")
    for t in range(model.time_steps):
        y, fm = _pass(g, params, "gates", len(model.gates_dims), emb, live_e, x0, src_g, dst_s,
                      res_f, f"t{t}.fwd")
        if t == model.time_steps - 1:
            break
        y_out = g.op("Gather", [y, out_idx], axis=1, name=f"t{t}.y_out")                          # [B, H]
        seed = g.mlp(y_out, params, len(model.fb_dims) - 1, "encoder.cell0.fb")                   # [B, Fb]
        seed = g.op("Mul", [g.op("Unsqueeze", [seed, g.const([1], "int64", "axis1")], name=f"t{t}.seed_u"),
                            seed_row], name=f"t{t}.seed")                                         # [B, N, Fb]
        _, bm = _pass(g, params, "bgates", len(model.backward_dims), emb, live_e, seed, dst_g, src_s,
                      res_b, f"t{t}.bwd", last_y=False)
        u_in = g.op("Concat", [emb, fm, bm], axis=2, name=f"t{t}.update_in")
        u = g.mlp(u_in, params, len(model.update_dims), "encoder.cell0.update")                  # [B, E, D]
        emb = g.op("Add", [emb, g.op("Mul", [u, upd_e], name=f"t{t}.update_masked")], name=f"t{t + 1}.emb")

    feat = readout(g, model, y, "cell0")                                                   # [B, H]
    g.output(g.mlp_head(feat, params, len(model.mlp_hidden)))
    g.variant = "dense"


def _pass(g: GraphBuilder, params: dict[str, np.ndarray], prefix: str, n_layers: int, emb: str,
          live: str, x: str, gather: str, scatter: str, residual: str, tag: str,
          last_y: bool = True) -> tuple[str | None, str]:
    """GATES layers ``{prefix}{l}`` with per-edge gates from ``emb`` ``[B, E, D]``, from node
    states ``x`` (``[N, F]`` or ``[B, N, F]``): messages ``gate * (gather @ S)`` along the
    edges, summed into nodes by ``scatter``. Returns ``(Y of the last layer, or None without
    last_y; the last layer's messages [B, E, H])``."""
    y = msg = None
    for l in range(n_layers):
        lp = f"encoder.cell0.{prefix}{l}"
        name = f"{tag}.{prefix}{l}"
        z = g.linear(emb, params[f"{lp}.op_attn.weight"], params[f"{lp}.op_attn.bias"], f"{lp}.op_attn")
        gate = g.op("Mul", [g.op("Sigmoid", [z], name=f"{name}.gate_raw"), live], name=f"{name}.gate")  # [B, E, H]
        s = g.op("MatMul", [x, g.weight(f"{lp}.weight", params[f"{lp}.weight"])], name=f"{name}.s")
        msg = g.op("Mul", [gate, g.op("MatMul", [gather, s], name=f"{name}.s_send")], name=f"{name}.msg")
        if l == n_layers - 1 and not last_y:
            break
        agg = g.op("MatMul", [scatter, msg], name=f"{name}.agg")                        # [B, N, H]
        y = g.op("Add", [g.op("Mul", [s, residual], name=f"{name}.s_res"), agg], name=f"{name}.y")
        x = g.op("Relu", [y], name=f"{name}.relu") if l < n_layers - 1 else y
    return (y if last_y else None), msg
