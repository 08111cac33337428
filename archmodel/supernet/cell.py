"""A weight-sharing NAS-Bench-201 cell: parameters in blocks, decoupled from the edges.

A :class:`SharedCell` owns ``n_blocks`` parameter blocks (GLOW blocks in CLOSENet's terms);
each block holds one parameter set per parametrised candidate operation (``nor_conv_1x1``,
``nor_conv_3x3``; ``none``, ``skip_connect`` and ``avg_pool_3x3`` have none). Before a forward
pass the caller picks an architecture, :meth:`SharedCell.set_arch` ``(ops, blocks)``: edge
``k`` runs ``ops[k]`` with the parameters of block ``blocks[k]``. Edges that name the same
block share its parameters (and its batch-norm statistics).

* The vanilla supernet: ``n_blocks = 6`` and edge ``k`` always uses block ``k`` (every edge
  owns one parameter set per operation).
* CLOSENet: few blocks, several edges per block (a larger sharing extent), the assignment
  chosen per architecture.

The forward and backward passes are :class:`archmodel.conv.nb201.NB201Cell`'s. An edge runs
a *view* of its block's operation (:func:`share_layer`): a copy of the layer tree whose
``params``, ``grads`` and ``buffers`` are the block's own dictionaries, with its own
activation cache, so two edges can run one block's parameters in the same pass; their
gradients add up in the block's gradient arrays.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np

from archmodel.conv.layers import Layer, Sequential
from archmodel.conv.nb201 import NB201_EDGES, NB201_OPS, NB201Cell, check_ops, make_op
from archmodel.errors import ParameterError, check_range

__all__ = ["PARAMETRISED_OPS", "SharedCell", "share_layer"]

#: The NB201 operations that have parameters (one set per block).
PARAMETRISED_OPS: tuple[str, ...] = ("nor_conv_1x1", "nor_conv_3x3")


def share_layer(layer: Layer) -> Layer:
    """A view of ``layer``: same parameter, gradient and buffer dictionaries, own cache.

    Containers (:class:`archmodel.conv.layers.Sequential`) are viewed child by child.
    """
    view = copy.copy(layer)          # shallow: params/grads/buffers dicts are shared
    view._cache = None
    if isinstance(layer, Sequential):
        view.layers = [(name, share_layer(child)) for name, child in layer.layers]
    return view


class _Block(Layer):
    """One parameter set per parametrised operation; children named by the operation."""

    def __init__(self, ops: dict[str, Layer]) -> None:
        super().__init__()
        self.ops = ops

    def children(self) -> list[tuple[str, Layer]]:
        return list(self.ops.items())


class SharedCell(NB201Cell):
    """A NAS-Bench-201 cell whose edges take their parameters from shared blocks.

    Parameters
    ----------
    channels : int
    n_blocks : int >= 1
        Parameter blocks (children ``glow0``, ``glow1``, ...).
    rng : Generator
        Initialisation, drawn block by block, operation by operation (:func:`make_op`).
    init, dtype, bn_momentum, bn_eps
        As for :func:`archmodel.conv.nb201.build_nb201_network`.
    ops : sequence of 6 str, optional
        The initial architecture (default: every edge ``nor_conv_3x3``).
    """

    def __init__(self, channels: int, n_blocks: int, *, rng: np.random.Generator,
                 init: str = "torch", dtype: Any = np.float32, bn_momentum: float = 0.1,
                 bn_eps: float = 1e-5, ops: Sequence[str] | None = None) -> None:
        Layer.__init__(self)
        check_range("SharedCell", "n_blocks", n_blocks, 1, integer=True)
        self.channels = channels
        self.blocks = [
            _Block({op: make_op(op, channels, rng=rng, init=init, dtype=dtype,
                                bn_momentum=bn_momentum, bn_eps=bn_eps) for op in PARAMETRISED_OPS})
            for _ in range(n_blocks)]
        self.n_blocks = n_blocks
        self.edges = {}
        self.set_arch(("nor_conv_3x3",) * 6 if ops is None else ops)

    def children(self) -> list[tuple[str, Layer]]:
        return [(f"glow{b}", blk) for b, blk in enumerate(self.blocks)]

    def default_blocks(self) -> tuple[int, ...]:
        """Edge ``k`` -> block ``k % n_blocks`` (with 6 blocks: every edge its own)."""
        return tuple(k % self.n_blocks for k in range(len(NB201_EDGES)))

    def set_arch(self, ops: Sequence[str], blocks: Sequence[int] | None = None) -> None:
        """Run ``ops`` (6 NB201 names, arch-string edge order), edge ``k`` with block ``blocks[k]``.

        Raises
        ------
        InvalidArchitectureError
            ``ops`` is not an NB201 cell.
        ParameterError
            ``blocks`` is not 6 integers in ``[0, n_blocks)``.
        """
        ops = check_ops(ops, NB201_OPS)
        if blocks is None:
            blocks = self.default_blocks()
        blocks = tuple(int(b) for b in blocks)
        if len(blocks) != len(NB201_EDGES) or any(not 0 <= b < self.n_blocks for b in blocks):
            raise ParameterError(
                f"SharedCell: blocks must be 6 block indices in [0, {self.n_blocks}); got {blocks}.")
        edges: dict[tuple[int, int], Layer] = {}
        for (src, dst), op, b in zip(NB201_EDGES, ops, blocks):
            if op in PARAMETRISED_OPS:
                edges[(src, dst)] = share_layer(self.blocks[b].ops[op])
            else:
                edges[(src, dst)] = make_op(op, self.channels, rng=None, init="torch",
                                            dtype=np.float32)  # parameter-free
        self.ops, self.assignment, self.edges = ops, blocks, edges

    def active_parameter_names(self) -> list[str]:
        """Names of the parameters the current architecture uses (its edges' blocks)."""
        out: list[str] = []
        for op, b in zip(self.ops, self.assignment):
            if op in PARAMETRISED_OPS:
                for name, _ in self.blocks[b].ops[op].named_parameters():
                    if name not in out:
                        out.append(name)
        return out

    def clear_cache(self) -> None:
        super().clear_cache()
        for layer in self.edges.values():
            layer.clear_cache()

    # ------------------------------------------------------------------ the GATE's gradient
    #: Blocks ``0 .. gate_level-1`` are candidates of a gate (None: no gate gradient).
    gate_level: int | None = None

    def set_gate_level(self, level: int | None) -> None:
        """Record what the gradient w.r.t. a straight-through gate needs (None: nothing).

        With a level ``L``, a training forward pass also runs every parametrised edge with
        blocks ``0 .. L-1`` (in training mode, like the block it uses), and the backward pass
        sets :attr:`gate_grad` ``[6, L]``: ``d loss / d y[k, i] = <d loss / d node_dst(k),
        O_i(node_src(k))>``, the gradient w.r.t. edge ``k``'s weight ``y[k, i]`` on block ``i``
        when the edge's output is ``sum_i y[k, i] O_i(x)`` with ``y`` the one-hot of its block.
        """
        if level is not None:
            check_range("SharedCell.set_gate_level", "level", level, 1, self.n_blocks, integer=True)
        self.gate_level = level
        self._record_nodes = level is not None
        self.gate_grad = None

    def forward(self, x: np.ndarray, ctx) -> np.ndarray:
        y = super().forward(x, ctx)
        self._alt = None
        if self.gate_level is not None and ctx.train:
            alt: dict[tuple[int, int], np.ndarray] = {}
            for k, ((src, dst), op, b) in enumerate(zip(NB201_EDGES, self.ops, self.assignment)):
                if op not in PARAMETRISED_OPS:
                    continue
                for i in range(self.gate_level):
                    if i == b:
                        alt[(k, i)] = self._edge_out[(src, dst)]
                    else:
                        view = share_layer(self.blocks[i].ops[op])
                        alt[(k, i)] = view.forward(self._nodes[src], ctx)
                        view.clear_cache()
            self._alt = alt
        return y

    def backward(self, dy: np.ndarray, ctx) -> np.ndarray:
        dx = super().backward(dy, ctx)
        if self._alt is not None:
            grad = np.zeros((len(NB201_EDGES), self.gate_level))
            for (k, i), out in self._alt.items():
                g = self._node_grads.get(NB201_EDGES[k][1])
                if g is not None:
                    grad[k, i] = float(np.vdot(g.astype(np.float64), out.astype(np.float64)))
            self.gate_grad = grad
            self._alt = None
        if self._record_nodes:
            self._nodes, self._edge_out, self._node_grads = None, None, None
        return dx
