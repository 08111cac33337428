"""TA-GATES: the training-analogous GATES encoder of Ning et al. (NeurIPS 2022), as an array model.

"TA-GATES: An Encoding Scheme for Neural Network Architectures". Plain GATES gives two
operations of the same type the same embedding wherever they sit in the cell; TA-GATES encodes
an architecture by analogy to *training* it, so that an operation's embedding comes to depend on
its context. With ``T`` time steps (default 4, the authors' NB201 setting), per cell::

    E_0 = op_emb[op_e] (+ symmetry breaking)                  # one embedding per edge e, [M, D]
    for t = 0 .. T-1:
        A_t      = E_t (| stats_e)                               # what the gates see
        y^t      = GATES forward pass over the DAG, gate_e = sigmoid(A_t[e] @ W_o,l + b_o,l)
        if t == T-1: break
        fm_e     = gate_e * s[src_e]    at the last forward layer  # the forward message of edge e
        b        = fb(y^t[output node]) at the output node, 0 elsewhere
        b^t      = GATES pass over the *reversed* DAG from b (its own weights and gates,
                   residual on the output node)
        bm_e     = bgate_e * bs[dst_e]  at the last backward layer # the backward message
        E_{t+1}  = E_t + scale * [op_e is parametrised] * update([E_t ; fm_e ; bm_e])
    encoding  = readout of y^{T-1}  (as in GATES), then the MLP head

``fb`` and ``update`` are MLPs (``fb_dims``, ``update_dims``; ReLU between layers, none after
the last). As in the authors' code (``updateopemb_detach_opemb`` and ``updateopemb_detach_finfo``
on), the update sees ``E_t`` and ``fm`` as constants: the gradient reaches the embeddings
through the residual ``E_t``, the gates, and the backward message (which depends on the forward
pass through ``fb``). Only the embeddings of parametrised operations (``update_ops``, the
convolutions) are updated.

Symmetry breaking (by analogy to random initialisation):

* ``'none'``;
* ``'noise'``: Gaussian noise (``noise_std``) added to ``E_0``, a fixed function of the cell
  (a counter-based hash of its live edges and ``noise_seed``), so scores are deterministic;
* ``'stats'``: ``n_stats`` per-edge features concatenated to the embedding seen by the gates
  (``batch["edge_stats"]`` ``[B, E, n_stats]``, e.g. zero-cost statistics of the edge's own
  parameters).

With ``time_steps=1`` the model is GATES with the same parameters (tested).

Implementation: this reuses :class:`~archmodel.models.gates.GATESModel` (validation,
parameters of the forward pass, node-state projection, head, chunked threads) and its
``gates`` kernels; a per-edge gate is a GATES gate whose "operation" index is the edge, so the
same ``propagate_*`` kernels (NumPy reference, Numba twin) run both passes. Isomorphism-based
compression of node states does not apply (an edge's embedding depends on the whole cell);
inference deduplicates identical cells instead.

Parameter names: those of :class:`GATESModel` (cell 0), plus, when ``time_steps > 1``::

    encoder.cell0.bgates{l}.weight             [Hb_{l-1}, Hb_l]  (Hb_{-1} = fb_dims[-1])
    encoder.cell0.bgates{l}.op_attn.weight     [D (+ n_stats), Hb_l]
    encoder.cell0.bgates{l}.op_attn.bias       [Hb_l]
    encoder.cell0.fb.fc{i}.*, encoder.cell0.fb.out.*           MLP gates_dims[-1] -> fb_dims
    encoder.cell0.update.fc{i}.*, encoder.cell0.update.out.*   MLP D + H_L + Hb_L -> update_dims -> D

Only ``kind='edge'`` and one cell per architecture (NB201-like spaces) are supported.

Examples
--------
>>> import numpy as np
>>> from archmodel.models.tagates import TAGATESModel
>>> m = TAGATESModel(n_nodes=4, n_ops=5, time_steps=2, gates_dims=(8, 8), backward_dims=(8,),
...                  fb_dims=(8,), update_dims=(8,), mlp_hidden=(8,), op_emb_dim=4,
...                  node_emb_dim=4, hidden_dim=6, update_ops=(2, 3))
>>> params = m.init_params(0, dtype=np.float64)
>>> edges = np.array([[[0, 1, 2], [0, 2, 3], [1, 2, 1], [0, 3, 4], [1, 3, 0], [2, 3, 2]]])
>>> scores, cache = m.forward(params, {"edges": edges}, backend="numpy")
>>> grads = m.backward(cache, np.ones_like(scores))
>>> scores.shape, grads["encoder.cell0.update.out.weight"].shape
((1,), (8, 4))
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.errors import ParameterError, check_choice, check_range
from archmodel.models.gates import GATESModel, PreparedCells
from archmodel.nn.layers import MLP
from archmodel.nn.parallel import chunk_slices, map_chunks, resolve_n_jobs, single_threaded_blas
from archmodel.nn.params import Params

logger = logging.getLogger(__name__)

__all__ = ["TAGATESModel", "EdgePlan", "SYMMETRY_BREAKING"]

SYMMETRY_BREAKING = ("none", "noise", "stats")
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


# ============================================================================ the per-edge plan
@dataclass(frozen=True)
class EdgePlan:
    """A batch of ``B`` cells laid out for both passes (one row per node, one gate per edge).

    Forward rows put the input nodes first (the residual rows), backward rows the output nodes.
    Reversed messages into input nodes are left out of the backward table.

    Attributes
    ----------
    n_cells : int
        ``B``.
    n_rows, n_rows_b : int
        Forward rows ``n_inputs + B * (N - n_inputs)`` (the input nodes are shared by the
        batch: they receive nothing) and backward rows ``B * (N - n_inputs)`` (an input
        node's backward state is never read).
    edge_cell, edge_slot, edge_op : int64 [M]
        Cell, position in ``edges`` and operation of each live edge (cell-major order).
    update : bool [M]
        Whether the edge's embedding is updated (its operation is parametrised).
    upd : int64 [M_u]
        The updated edges, ``flatnonzero(update)``.
    f_ptr, f_src, f_op : int64
        Forward message table (``f_op`` = edge index), as the ``gates`` kernels take it.
    f_send : int64 [M]
        Forward row of each edge's source.
    b_ptr, b_src, b_op, b_send : int64
        The same over the reversed DAG (``b_send``: backward row of each edge's destination).
    row_type : int64 [R]
        Forward rows: the input node index, or ``n_inputs`` (zero embedding).
    read_rows : int64 [B, Q]
        Forward rows averaged by the readout.
    out_rows : int64 [B]
        Forward row of each cell's output node (the seed of the backward pass).
    n_res_f, n_res_b : int
        Residual rows of the forward and the backward pass (a prefix of each layout).
    """

    n_cells: int
    n_rows: int
    n_rows_b: int
    edge_cell: np.ndarray
    edge_slot: np.ndarray
    edge_op: np.ndarray
    update: np.ndarray
    upd: np.ndarray
    f_ptr: np.ndarray
    f_src: np.ndarray
    f_op: np.ndarray
    f_send: np.ndarray
    b_ptr: np.ndarray
    b_src: np.ndarray
    b_op: np.ndarray
    b_send: np.ndarray
    row_type: np.ndarray
    read_rows: np.ndarray
    out_rows: np.ndarray
    n_res_f: int
    n_res_b: int


def _csr(recv: np.ndarray, send: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Message table sorted by receiving row: ``(ptr [R + 1], src [M], edge index [M])``."""
    order = np.argsort(recv, kind="stable")
    ptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(recv, minlength=n_rows), out=ptr[1:])
    return ptr, np.ascontiguousarray(send[order]), np.ascontiguousarray(order.astype(np.int64))


def edge_plan(edges: np.ndarray, *, n_nodes: int, n_inputs: int, none_op: int | None,
              output_node: int, readout_nodes: Sequence[int], update_ops: Sequence[int],
              residual: str) -> EdgePlan:
    """Lay out validated cells ``edges`` int64 ``[B, E, 3]`` for :class:`TAGATESModel`."""
    b = edges.shape[0]
    n, n_in = n_nodes, n_inputs
    live = np.ones(edges.shape[:2], bool) if none_op is None else edges[..., 2] != none_op
    cell, slot = np.nonzero(live)
    src, dst, op = (edges[cell, slot, k] for k in range(3))

    # forward rows: the input nodes once for the whole batch (their state is the same in
    # every cell: they receive nothing), then each cell's other nodes
    def frow(c: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.where(i < n_in, i, n_in + c * (n - n_in) + (i - n_in))

    # backward rows: each cell's output node, then its other non-input nodes (an input node's
    # backward state is never read, so the reversed messages into it are dropped)
    def brow(c: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.where(i == output_node, c,
                        b + c * (n - n_in - 1) + np.where(i < output_node, i - n_in, i - n_in - 1))

    r_f, r_b = n_in + b * (n - n_in), b * (n - n_in)
    f_send, b_send = frow(cell, src), brow(cell, dst)
    f_ptr, f_src, f_op = _csr(frow(cell, dst), f_send, r_f)
    keep = src >= n_in
    b_ptr, b_src, b_op = _csr(brow(cell[keep], src[keep]), b_send[keep], r_b)
    b_op = np.flatnonzero(keep)[b_op].astype(np.int64)
    row_type = np.minimum(np.arange(r_f), n_in)
    cells = np.arange(b)
    read_rows = np.stack([frow(cells, np.full(b, i)) for i in readout_nodes], axis=1)
    update = np.isin(op, np.asarray(list(update_ops), np.int64))
    return EdgePlan(
        n_cells=b, n_rows=r_f, n_rows_b=r_b, edge_cell=cell.astype(np.int64), edge_slot=slot.astype(np.int64),
        edge_op=op.astype(np.int64), update=update, upd=np.flatnonzero(update).astype(np.int64),
        f_ptr=f_ptr, f_src=f_src, f_op=f_op, f_send=f_send.astype(np.int64),
        b_ptr=b_ptr, b_src=b_src, b_op=b_op, b_send=b_send.astype(np.int64),
        row_type=row_type.astype(np.int64), read_rows=np.ascontiguousarray(read_rows, np.int64),
        out_rows=frow(cells, np.full(b, output_node)).astype(np.int64),
        n_res_f=r_f if residual == "all" else n_in, n_res_b=r_b if residual == "all" else b)


# ============================================================================ deterministic noise
def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
        return z ^ (z >> np.uint64(31))


def cell_noise(edges: np.ndarray, live: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """Standard normal noise ``[B, E, dim]`` (float64), a fixed function of each cell's live
    edges, the edge position and ``seed`` (counter-based: SplitMix64 hashes, Box-Muller)."""
    b, e = live.shape
    code = np.where(live, (edges[..., 0] * 1_000_003 + edges[..., 1]) * 1_000_003 + edges[..., 2] + 1, 0)
    h = np.full(b, np.uint64(seed & 0xFFFFFFFFFFFFFFFF), np.uint64)
    for k in range(e):
        h = _splitmix64(h ^ code[:, k].astype(np.uint64))
    ctr = (np.arange(e, dtype=np.uint64)[:, None] * np.uint64(dim) + np.arange(dim, dtype=np.uint64))
    with np.errstate(over="ignore"):
        key = (h[:, None, None] * np.uint64(0x2545F4914F6CDD1D)) & _MASK64
        u1 = _splitmix64(key ^ (ctr * np.uint64(2)))
        u2 = _splitmix64(key ^ (ctr * np.uint64(2) + np.uint64(1)))
    f1 = ((u1 >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53     # (0, 1]
    f2 = (u2 >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return np.sqrt(-2.0 * np.log(f1)) * np.cos(2.0 * math.pi * f2)


# ============================================================================ the model
class TAGATESModel(GATESModel):
    """TA-GATES encoder + MLP head (see the module docstring).

    Parameters
    ----------
    time_steps : int >= 1
        ``T`` (4: the authors' NB201 setting; 3 on NB101). 1 is GATES.
    symmetry_breaking : {'none', 'noise', 'stats'}
    noise_std : float > 0
        Standard deviation of the ``'noise'`` symmetry breaking (0.1, as the authors).
    noise_seed : int
        Seed of that noise.
    n_stats : int >= 1
        Per-edge statistics of ``'stats'`` (``batch["edge_stats"]`` ``[B, E, n_stats]``).
    backward_dims : sequence of int
        Widths of the backward GATES layers (three of 128).
    fb_dims : sequence of int
        The MLP from the output node's forward state to the backward seed ([128, 128]).
    update_dims : sequence of int
        Hidden widths of the embedding-update MLP ([128]).
    update_scale : float
        ``scale`` of the update (0.1).
    update_ops : sequence of int
        Operations whose embeddings are updated (the parametrised ones; NB201: the convolutions).
    gates_dims : sequence of int
        Forward GATES layers (three of 128, the authors' TA-GATES setting).
    chunk_size : int
        Training batches are cut into ``ceil(B / chunk_size)`` chunks that run on worker
        threads (128: unlike GATES' compressed rows, TA-GATES' cells are independent, so
        even a 1 % NB201 training set is worth two chunks).
    predict_chunk_size : int
        Cells encoded at a time by :meth:`predict` / :meth:`embed` (1024).
    **gates_params
        The other :class:`~archmodel.models.gates.GATESModel` parameters (``kind`` must be
        ``'edge'`` and ``n_cells`` 1).
    """

    _owner = "TAGATESModel"

    def __init__(self, *, time_steps: int = 4, symmetry_breaking: str = "none",
                 noise_std: float = 0.1, noise_seed: int = 0, n_stats: int = 0,
                 backward_dims: Sequence[int] = (128, 128, 128),
                 fb_dims: Sequence[int] = (128, 128), update_dims: Sequence[int] = (128,),
                 update_scale: float = 0.1, update_ops: Sequence[int] = (),
                 gates_dims: Sequence[int] = (128, 128, 128), chunk_size: int = 128,
                 predict_chunk_size: int = 1024, detach: bool = True, **gates_params: Any) -> None:
        owner = "TAGATESModel"
        if gates_params.get("kind", "edge") != "edge":
            raise ParameterError(
                "TAGATESModel supports operation-on-edge cells only (kind='edge', e.g. NB201); "
                f"got kind={gates_params['kind']!r}.")
        if gates_params.get("n_cells", 1) != 1:
            raise ParameterError(
                f"TAGATESModel supports one cell per architecture (n_cells=1); got n_cells={gates_params['n_cells']!r}.")
        super().__init__(gates_dims=gates_dims, chunk_size=chunk_size,
                         predict_chunk_size=predict_chunk_size, **gates_params)
        self.time_steps = int(check_range(owner, "time_steps", time_steps, 1, integer=True))
        self.symmetry_breaking = check_choice(owner, "symmetry_breaking", symmetry_breaking, SYMMETRY_BREAKING)
        self.noise_std = float(check_range(owner, "noise_std", noise_std, 0.0, low_inclusive=False))
        self.noise_seed = int(check_range(owner, "noise_seed", noise_seed, 0, integer=True))
        if self.symmetry_breaking == "stats":
            self.n_stats = int(check_range(owner, "n_stats", n_stats, 1, integer=True))
        else:
            if n_stats:
                raise ParameterError(
                    f"TAGATESModel: n_stats={n_stats!r} needs symmetry_breaking='stats'; got {symmetry_breaking!r}.")
            self.n_stats = 0
        self.backward_dims = [int(check_range(owner, "backward_dims", d, 1, integer=True)) for d in backward_dims]
        self.fb_dims = [int(check_range(owner, "fb_dims", d, 1, integer=True)) for d in fb_dims]
        self.update_dims = [int(check_range(owner, "update_dims", d, 1, integer=True)) for d in update_dims]
        if self.time_steps > 1 and (not self.backward_dims or not self.fb_dims):
            raise ParameterError("TAGATESModel: backward_dims and fb_dims need at least one layer each when time_steps > 1.")
        self.update_scale = float(update_scale)
        if not isinstance(detach, (bool, np.bool_)):
            raise ParameterError(f"TAGATESModel: detach must be True or False; got {detach!r}.")
        self.detach = bool(detach)
        #: testing hook (tests/test_tagates.py): per time step, the updated edges' ``(E_t, fm)``
        #: held constant in the update's input, so finite differences see the stop-gradient function
        self._frozen_update_inputs: list[tuple[np.ndarray, np.ndarray]] | None = None
        self.update_ops = sorted({int(check_range(owner, "update_ops", o, 0, self.n_ops - 1, integer=True))
                                  for o in update_ops})
        self.fb = MLP(self.gates_dims[-1], self.fb_dims[:-1], self.fb_dims[-1] if self.fb_dims else 1,
                      name=self._p(0, "fb"))
        self.updater = MLP(self.op_emb_dim + self.gates_dims[-1] + (self.backward_dims[-1] if self.backward_dims else 0),
                           self.update_dims, self.op_emb_dim, name=self._p(0, "update"))

    # ------------------------------------------------------------------ configuration
    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        for k in ("kind", "n_cells"):
            cfg.pop(k)
        cfg.update({"time_steps": self.time_steps, "symmetry_breaking": self.symmetry_breaking,
                    "noise_std": self.noise_std, "noise_seed": self.noise_seed, "n_stats": self.n_stats,
                    "backward_dims": list(self.backward_dims), "fb_dims": list(self.fb_dims),
                    "update_dims": list(self.update_dims), "update_scale": self.update_scale,
                    "update_ops": list(self.update_ops), "detach": self.detach})
        return cfg

    def __repr__(self) -> str:
        return f"TAGATESModel({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"

    @property
    def _op_in_dim(self) -> int:
        return self.op_emb_dim + self.n_stats

    def _encoder_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super()._encoder_shapes()
        if self.time_steps > 1:
            h_in = self.fb_dims[-1]
            for l, h in enumerate(self.backward_dims):
                shapes[self._p(0, f"bgates{l}.weight")] = (h_in, h)
                shapes[self._p(0, f"bgates{l}.op_attn.weight")] = (self._op_in_dim, h)
                shapes[self._p(0, f"bgates{l}.op_attn.bias")] = (h,)
                h_in = h
            shapes.update(self.fb.param_shapes())
            shapes.update(self.updater.param_shapes())
        return shapes

    def _init_encoder(self, rng: np.random.Generator, dt: np.dtype) -> Params:
        """GATES' scheme for the forward and the backward GATES layers (same name patterns),
        then the two MLPs (PyTorch's default scheme)."""
        mlps = (self.fb.name + ".", self.updater.name + ".")
        params: Params = {name: self._init_param(name, shape, rng, dt)
                          for name, shape in self._encoder_shapes().items() if not name.startswith(mlps)}
        if self.time_steps > 1:
            params.update(self.fb.init_params(rng, dt))
            params.update(self.updater.init_params(rng, dt))
        return params

    # ------------------------------------------------------------------ batches
    def check_batch(self, batch: Mapping[str, np.ndarray]) -> list[tuple[np.ndarray, ...]]:
        """GATES' checks, plus ``edge_stats`` ``[B, E, n_stats]`` (finite floats) for ``'stats'``.

        Returns ``[(edges [B, E, 3],)]`` or, with statistics, ``[(edges, edge_stats float64)]``.
        """
        cells = super().check_batch(batch)
        if self.symmetry_breaking != "stats":
            return cells
        e = cells[0][0]
        if "edge_stats" not in batch:
            raise ParameterError("TAGATESModel(symmetry_breaking='stats'): batch needs an 'edge_stats' array "
                                 f"[B, E, {self.n_stats}]; got keys {sorted(batch)}.")
        z = np.asarray(batch["edge_stats"])
        want = (e.shape[0], e.shape[1], self.n_stats)
        if z.shape != want:
            raise ParameterError(f"TAGATESModel: batch['edge_stats'] must have shape {list(want)}; got {list(z.shape)}.")
        if z.dtype.kind not in "iuf" or not np.all(np.isfinite(z)):
            raise ParameterError("TAGATESModel: batch['edge_stats'] must hold finite numbers.")
        return [(e, np.ascontiguousarray(z, np.float64))]

    def prepare_batch(self, batch: Mapping[str, np.ndarray]) -> PreparedCells:
        """Validate once; every mini-batch is laid out anew (the layout is cheap)."""
        return PreparedCells(self, self.check_batch(batch), None)

    def _plan(self, cell: tuple[np.ndarray, ...], sl: slice) -> EdgePlan:
        return edge_plan(cell[0][sl], n_nodes=self.n_nodes, n_inputs=self.n_inputs,
                         none_op=self.none_op, output_node=self.output_node,
                         readout_nodes=self.readout_nodes, update_ops=self.update_ops,
                         residual=self.residual)

    def _initial_table(self, params: Mapping[str, np.ndarray], cell: tuple[np.ndarray, ...],
                       sl: slice, plan: EdgePlan) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``E_0`` as a table and an index: ``(T_0 [n0, D], idx_0 [M], stats [n0, S] or None)``
        with ``E_0[e] = T_0[idx_0[e]]``. Without symmetry breaking ``T_0`` is the operation
        embedding table itself (``n0 = K``: the gates of step 0 are GATES' shared gates);
        with noise or statistics every edge has its own row (``n0 = M``)."""
        table = params[self._p(0, "op_emb")]
        if self.symmetry_breaking == "none":
            return table, plan.edge_op, None
        e0 = table[plan.edge_op]
        stats = None
        if self.symmetry_breaking == "noise":
            edges = cell[0][sl]
            live = np.ones(edges.shape[:2], bool) if self.none_op is None else edges[..., 2] != self.none_op
            noise = cell_noise(edges, live, self.op_emb_dim, self.noise_seed)
            e0 = e0 + (self.noise_std * noise[plan.edge_cell, plan.edge_slot]).astype(e0.dtype)
        else:
            stats = np.ascontiguousarray(cell[1][sl][plan.edge_cell, plan.edge_slot].astype(table.dtype))
        return np.ascontiguousarray(e0), np.arange(plan.edge_op.shape[0], dtype=np.int64), stats

    # ------------------------------------------------------------------ shared (batch-free) parts
    def _shared_forward(self, params: Mapping[str, np.ndarray], be) -> list[dict]:
        """The initial node states (the gates are per edge, computed per chunk)."""
        return [self._node_states(params, 0, be)]

    def _shared_backward(self, params: Mapping[str, np.ndarray], shared: list[dict],
                         d_st: list[np.ndarray], d_gates: list, be) -> Params:
        return self._node_states_backward(params, 0, shared[0], d_st[0], be)

    # ------------------------------------------------------------------ one pass over the DAG
    def _gates(self, params, prefix: str, n_layers: int, a: np.ndarray, be) -> list[np.ndarray]:
        return [be.nn.sigmoid_forward(be.nn.linear_forward(a, params[self._p(0, f"{prefix}{l}.op_attn.weight")],
                                                           params[self._p(0, f"{prefix}{l}.op_attn.bias")]))
                for l in range(n_layers)]

    def _gates_backward(self, params, prefix: str, a: np.ndarray, gates: list[np.ndarray],
                        d_gates: list[np.ndarray], grads: Params, be) -> np.ndarray:
        """Accumulate the ``op_attn`` gradients into ``grads``; return ``d a``."""
        d_a = None
        for l, (g, dg) in enumerate(zip(gates, d_gates)):
            dz = be.nn.sigmoid_backward(dg, g)
            da, gw, gb = be.nn.linear_backward(dz, a, params[self._p(0, f"{prefix}{l}.op_attn.weight")], True)
            _acc(grads, self._p(0, f"{prefix}{l}.op_attn.weight"), gw)
            _acc(grads, self._p(0, f"{prefix}{l}.op_attn.bias"), gb)
            d_a = da if d_a is None else d_a + da
        return d_a

    def _pass(self, params, prefix: str, s0: np.ndarray, gates: list[np.ndarray], ptr, src, op,
              n_res: int, be, last_y: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """GATES layers from transformed states ``s0``: ``(s per layer, y per layer)``; with
        ``last_y=False`` the last layer stops at ``s`` (its ``y`` is not listed)."""
        n_layers = len(gates)
        ss = [s0]
        ys = [be.gates.propagate_forward(s0, gates[0], ptr, src, op, n_layers > 1, n_res)]
        for l in range(1, n_layers):
            w = params[self._p(0, f"{prefix}{l}.weight")]
            if l < n_layers - 1 or last_y:
                s, y = be.gates.layer_forward(ys[-1], w, gates[l], ptr, src, op, l < n_layers - 1, n_res)
                ys.append(y)
            else:
                s = be.nn.linear_forward(ys[-1], w, None)
            ss.append(s)
        if not last_y and n_layers == 1:
            ys.pop()
        return ss, ys

    def _pass_backward(self, params, prefix: str, ss, ys, gates, ptr, src, op, n_res: int,
                       d_y: np.ndarray | None, d_s_last: np.ndarray | None,
                       d_g_last: np.ndarray | None, grads: Params, be) -> tuple[np.ndarray, list[np.ndarray]]:
        """Gradients of :meth:`_pass` given ``d y`` of the last layer (None: 0) and extra
        gradients on the last layer's ``s`` and gates; returns ``(d s0, d gates)``."""
        n_layers = len(gates)
        d_gates: list[np.ndarray] = [None] * n_layers  # type: ignore[list-item]
        for l in range(n_layers - 1, -1, -1):
            relu = l < n_layers - 1
            if d_y is None:
                d_s, d_g = np.zeros_like(ss[l]), np.zeros_like(gates[l])
            else:
                d_s, d_g = be.gates.propagate_backward(d_y, ss[l], ys[l], gates[l], ptr, src, op, relu, n_res)
            if l == n_layers - 1:
                if d_s_last is not None:
                    d_s = d_s + d_s_last
                if d_g_last is not None:
                    d_g = d_g + d_g_last
            d_gates[l] = d_g
            if l == 0:
                return d_s, d_gates
            d_y, gw, _ = be.nn.linear_backward(d_s, ys[l - 1], params[self._p(0, f"{prefix}{l}.weight")], True)
            _acc(grads, self._p(0, f"{prefix}{l}.weight"), gw)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ the unrolled encoder
    # Edge embeddings are kept as a table and an index (``E_t[e] = table_t[idx_t[e]]``): the
    # table holds ``T_0`` and, from step 1 on, one row per updated edge. Gates are computed
    # per table row and the ``gates`` kernels look them up through the message's table row
    # (the way GATES looks up per-operation gates), so edges that share an embedding share
    # the work; the update MLP and both messages are computed for the updated edges only.
    def _encode_chunk(self, params, shared, cells, sl, be, keep: bool = True) -> tuple[np.ndarray, list[dict]]:
        plan = self._plan(cells[0], sl)
        t0, idx0, stats0 = self._initial_table(params, cells[0], sl, plan)
        upd = plan.upd
        n0 = t0.shape[0]
        st = shared[0]["st"]
        s0 = st[plan.row_type]
        n_f, n_b = len(self.gates_dims), len(self.backward_dims)
        table, idx, row_stats = t0, idx0, stats0
        steps = []
        for t in range(self.time_steps):
            a = table if row_stats is None else np.concatenate([table, row_stats], axis=1)
            fg = self._gates(params, "gates", n_f, a, be)
            f_op = np.ascontiguousarray(idx[plan.f_op])
            fs, fy = self._pass(params, "gates", s0, fg, plan.f_ptr, plan.f_src, f_op, plan.n_res_f, be)
            step: dict[str, Any] = {"a": a, "idx": idx, "fg": fg, "fs": fs, "fy": fy, "f_op": f_op}
            if t < self.time_steps - 1:
                iu = idx[upd]
                fm = fg[-1][iu] * fs[-1][plan.f_send[upd]]
                o = np.ascontiguousarray(fy[-1][plan.out_rows])
                fbo, fb_cache = self.fb.forward(params, o, backend=be)
                w0 = params[self._p(0, "bgates0.weight")]
                bs0 = np.zeros((plan.n_rows_b, w0.shape[1]), fbo.dtype)   # the seed: output rows only
                bs0[:plan.n_cells] = be.nn.linear_forward(fbo, w0, None)
                bg = self._gates(params, "bgates", n_b, a, be)
                b_op = np.ascontiguousarray(idx[plan.b_op])
                # only the last layer's s is read (by the backward messages)
                bs, by = self._pass(params, "bgates", bs0, bg, plan.b_ptr, plan.b_src, b_op,
                                    plan.n_res_b, be, last_y=False)
                bm = bg[-1][iu] * bs[-1][plan.b_send[upd]]
                e_u = table[iu]
                if self._frozen_update_inputs is not None:
                    u_in = np.concatenate([*self._frozen_update_inputs[t], bm], axis=1)
                else:
                    u_in = np.concatenate([e_u, fm, bm], axis=1)
                u, u_cache = self.updater.forward(params, u_in, backend=be)
                new = e_u + u * u.dtype.type(self.update_scale)
                step.update({"e": e_u, "fm": fm, "fbo": fbo, "fb_cache": fb_cache, "bg": bg, "bs": bs,
                             "by": by, "b_op": b_op, "u_cache": u_cache})
                table = np.concatenate([t0, new], axis=0)
                idx = idx0.copy()
                idx[upd] = n0 + np.arange(upd.shape[0])
                if stats0 is not None:
                    row_stats = np.concatenate([stats0, stats0[upd]], axis=0)
            if keep:
                steps.append(step)
        x = be.gates.readout_forward(fy[-1], plan.read_rows)
        return x, [{"plan": plan, "steps": steps, "n0": n0, "idx0": idx0}]

    def _encode_chunk_backward(self, params, shared, caches, d_x, be):
        cc = caches[0]
        plan: EdgePlan = cc["plan"]
        steps, n0, idx0 = cc["steps"], cc["n0"], cc["idx0"]
        upd = plan.upd
        n_in, d_emb = self.n_inputs, self.op_emb_dim
        h_off = d_emb + self.gates_dims[-1]
        grads: Params = {}
        d_st = np.zeros_like(shared[0]["st"])
        d_t0 = None
        d_eu = None          # d loss / d E_{t+1}[upd] while processing step t
        d_y = be.gates.readout_backward(np.ascontiguousarray(d_x), plan.read_rows, plan.n_rows)
        for t in range(self.time_steps - 1, -1, -1):
            stp = steps[t]
            a, iu = stp["a"], stp["idx"][upd]
            n_tab = a.shape[0]
            d_a_b = d_fs_last = d_fg_last = None
            d_eu_res = None
            if t < self.time_steps - 1:
                # E_{t+1}[upd] = E_t[upd] + scale * update([E_t ; fm ; bm])[upd]
                d_uin, gu = self.updater.backward(d_eu * d_eu.dtype.type(self.update_scale), stp["u_cache"])
                _acc_all(grads, gu)
                d_eu_res = d_eu
                if not self.detach:   # the update's inputs E_t and fm carry gradients too
                    d_eu_res = d_eu + d_uin[:, :d_emb]
                    d_fm = d_uin[:, d_emb:h_off]
                    fg_last, fs_last = stp["fg"][-1], stp["fs"][-1]
                    d_fg_last = be.nn.embedding_backward(d_fm * fs_last[plan.f_send[upd]], iu, n_tab)
                    d_fs_last = be.nn.embedding_backward(d_fm * fg_last[iu], plan.f_send[upd], fs_last.shape[0])
                d_bm = d_uin[:, h_off:]
                bg_last, bs_last = stp["bg"][-1], stp["bs"][-1]
                d_bg_last = be.nn.embedding_backward(d_bm * bs_last[plan.b_send[upd]], iu, n_tab)
                d_bs_last = be.nn.embedding_backward(d_bm * bg_last[iu], plan.b_send[upd], bs_last.shape[0])
                d_bs0, d_bg = self._pass_backward(params, "bgates", stp["bs"], stp["by"], stp["bg"],
                                                  plan.b_ptr, plan.b_src, stp["b_op"], plan.n_res_b,
                                                  None, d_bs_last, d_bg_last, grads, be)
                w0 = params[self._p(0, "bgates0.weight")]
                d_bs0 = d_bs0[:plan.n_cells]
                _acc(grads, self._p(0, "bgates0.weight"), stp["fbo"].T @ d_bs0)
                d_o, gfb = self.fb.backward(d_bs0 @ w0.T, stp["fb_cache"])
                _acc_all(grads, gfb)
                d_y = np.zeros_like(stp["fy"][-1])
                d_y[plan.out_rows] = d_o
                d_a_b = self._gates_backward(params, "bgates", a, stp["bg"], d_bg, grads, be)
            d_s0, d_fg = self._pass_backward(params, "gates", stp["fs"], stp["fy"], stp["fg"],
                                             plan.f_ptr, plan.f_src, stp["f_op"], plan.n_res_f,
                                             d_y, d_fs_last, d_fg_last, grads, be)
            d_st[:n_in] += d_s0[:n_in]
            d_st[n_in] += d_s0[n_in:].sum(axis=0)
            d_a = self._gates_backward(params, "gates", a, stp["fg"], d_fg, grads, be)
            if d_a_b is not None:
                d_a = d_a + d_a_b
            d_a = d_a[:, :d_emb]
            d_t0 = d_a[:n0] if d_t0 is None else d_t0 + d_a[:n0]
            if t >= 1:
                d_eu = d_a[n0:] if d_eu_res is None else d_eu_res + d_a[n0:]
            elif d_eu_res is not None:   # E_0[upd] = T_0[idx_0[upd]]
                d_t0 = d_t0 + be.nn.embedding_backward(d_eu_res, idx0[upd], n0)
        if self.symmetry_breaking == "none":
            d_op = d_t0
        else:   # T_0 = op_emb[edge_op] (+ a constant)
            d_op = be.nn.embedding_backward(d_t0, plan.edge_op, self.n_ops)
        grads[self._p(0, "op_emb")] = np.ascontiguousarray(d_op)
        return grads, [d_st], [[]]

    # ------------------------------------------------------------------ inference
    def _inference(self, params, batch, backend, head: bool) -> np.ndarray:
        be, cells, b, empty = self._inference_inputs(params, batch, backend, head)
        if empty is not None:
            return empty
        edges = cells[0][0]
        live = np.ones(edges.shape[:2], bool) if self.none_op is None else edges[..., 2] != self.none_op
        key = np.where(live[..., None], edges, -1).reshape(b, -1)
        if len(cells[0]) > 1:
            key = np.concatenate([key.astype(np.float64), cells[0][1].reshape(b, -1)], axis=1)
        _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
        uniq = [tuple(np.ascontiguousarray(arr[first]) for arr in cells[0])]
        n_jobs = resolve_n_jobs(self.n_jobs)
        slices = chunk_slices(len(first), min(self.predict_chunk_size, -(-len(first) // n_jobs)))
        logger.debug("TA-GATES inference: %d cells, %d distinct, %d chunks", b, len(first), len(slices))
        with single_threaded_blas():
            shared = self._shared_forward(params, be)

            def run(i: int) -> np.ndarray:
                x, _ = self._encode_chunk(params, shared, uniq, slices[i], be, keep=False)
                return self._outputs(self.head.predict(params, x, backend=be)) if head else x

            parts = map_chunks(run, len(slices), n_jobs)
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return out[inv.reshape(-1)]


def _acc(grads: Params, name: str, g: np.ndarray) -> None:
    if name in grads:
        grads[name] = grads[name] + g
    else:
        grads[name] = g


def _acc_all(grads: Params, more: Mapping[str, np.ndarray]) -> None:
    for k, v in more.items():
        _acc(grads, k, v)
