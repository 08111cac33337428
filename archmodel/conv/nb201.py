"""NAS-Bench-201 networks: cells on the NAS-Bench-201 macro skeleton.

Skeleton (Dong & Yang, ICLR 2020; the ``TinyNetwork`` of the NAS-Bench-201 code)::

    stem      Conv3x3(C_in -> C, pad 1, no bias) + BN
    cells.0 .. cells.N-1            N cells with C channels
    cells.N                         residual reduction block C -> 2C
    cells.N+1 .. cells.2N           N cells with 2C channels
    cells.2N+1                      residual reduction block 2C -> 4C
    cells.2N+2 .. cells.3N+1        N cells with 4C channels
    lastact   BN + ReLU
    gap       global average pooling
    classifier Linear(4C -> num_classes)

Residual reduction block (ResNet basic block): ``conv_a`` = ReLU-Conv3x3(stride 2)-BN,
``conv_b`` = ReLU-Conv3x3-BN, ``shortcut`` = AvgPool 2x2 stride 2 + Conv1x1 (no BN);
output ``conv_b(conv_a(x)) + shortcut(x)``.

Cell: 4 nodes; node 0 is the cell input, node ``i`` is the sum over ``j < i`` of
``op_{j->i}(node j)``, node 3 is the output. Ops (all keep C channels and the resolution):

* ``none``: zero;  ``skip_connect``: identity;
* ``nor_conv_1x1`` / ``nor_conv_3x3``: ReLU-Conv-BN (padding 0 / 1, no conv bias);
* ``avg_pool_3x3``: average pooling 3x3, stride 1, padding 1, ``count_include_pad=False``.

Networks may also use the ops of :data:`EXTENDED_OPS`, which a deployed network shows and
which weight-equivalent disguises (:mod:`archmodel.disguise`) need: ``nor_conv_5x5``
(ReLU-Conv5x5-BN) and ``conv_bn_1x1`` / ``conv_bn_3x3`` / ``conv_bn_5x5`` (Conv-BN without
the leading ReLU). Cells with them are not NAS-Bench-201 cells (no benchmark value exists).

All batch norms are affine with running statistics (momentum 0.1, eps 1e-5).
The parameter count (affine BN weights included, running statistics not) at C=16, N=5,
3x32x32 input and 10 classes equals the ``params`` column of NASLib's NAS-Bench-201 data.

Cells are given as 6 op names in NAS-Bench-201 arch-string edge order
``[(0,1), (0,2), (1,2), (0,3), (1,3), (2,3)]`` (``(src, dst)``); :func:`ops_from_arch_string`
and :func:`arch_string` convert from and to ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from archmodel.conv.layers import (
    INITS,
    AvgPool2d,
    BatchNorm2d,
    Context,
    Conv2d,
    GlobalAvgPool,
    Identity,
    ConvBN,
    Layer,
    Linear,
    ReLU,
    ReLUConvBN,
    Sequential,
    Zero,
)
from archmodel.conv.network import BUILDERS, Network
from archmodel.errors import InvalidArchitectureError, ParameterError, check_choice, check_range

#: The op vocabulary.
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Ops beyond NAS-Bench-201's that networks may use (see the module docstring).
EXTENDED_OPS: tuple[str, ...] = NB201_OPS + ("nor_conv_5x5", "conv_bn_1x1", "conv_bn_3x3", "conv_bn_5x5")

#: Edge order of a cell's 6 ops: (source node, destination node), as in the arch string.
NB201_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


def op_kernel_size(name: str) -> int | None:
    """The kernel size of a convolution op (``nor_conv_kxk``, ``conv_bn_kxk``), else None."""
    for prefix in ("nor_conv_", "conv_bn_"):
        if name.startswith(prefix):
            return int(name[len(prefix)])
    return None


def check_ops(ops: Sequence[str], vocabulary: Sequence[str] = NB201_OPS) -> tuple[str, ...]:
    """Validate a cell given as 6 op names; return them as a tuple.

    Parameters
    ----------
    ops : sequence of 6 str
    vocabulary : sequence of str
        Allowed names: :data:`NB201_OPS` (default) or :data:`EXTENDED_OPS`.

    Raises
    ------
    InvalidArchitectureError
        Wrong length or an op outside ``vocabulary``.
    """
    if isinstance(ops, str) or not hasattr(ops, "__len__"):
        raise InvalidArchitectureError(
            f"an NB201 cell is a sequence of 6 op names (edge order {list(NB201_EDGES)}); got {ops!r}")
    ops = tuple(ops)
    if len(ops) != len(NB201_EDGES):
        raise InvalidArchitectureError(
            f"an NB201 cell has 6 ops (edge order {list(NB201_EDGES)}); got {len(ops)}: {ops!r}")
    for i, op in enumerate(ops):
        if op not in vocabulary:
            raise InvalidArchitectureError(
                f"op {i} (edge {NB201_EDGES[i]}) must be one of {list(vocabulary)}; got {op!r}")
    return ops


def ops_from_arch_string(arch: str) -> tuple[str, ...]:
    """``'|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|...|'`` -> 6 op names (edge order above)."""
    if not isinstance(arch, str):
        raise InvalidArchitectureError(f"expected an NB201 arch string; got {arch!r}")
    groups = arch.split("+")
    if len(groups) != 3:
        raise InvalidArchitectureError(
            f"an NB201 arch string has 3 '+'-separated node groups; got {arch!r}")
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        items = [t for t in group.strip().split("|") if t]
        if len(items) != node:
            raise InvalidArchitectureError(f"node {node} of {arch!r} needs {node} inputs; got {items}")
        for src, item in enumerate(items):
            name, sep, idx = item.partition("~")
            if not sep or idx != str(src):
                raise InvalidArchitectureError(f"bad edge {item!r} in {arch!r} (expected 'op~{src}')")
            ops.append(name)
    return check_ops(ops, EXTENDED_OPS)


def arch_string(ops: Sequence[str]) -> str:
    """6 op names -> NB201 arch string (inverse of :func:`ops_from_arch_string`)."""
    ops = check_ops(ops, EXTENDED_OPS)
    parts = []
    k = 0
    for node in (1, 2, 3):
        items = []
        for src in range(node):
            items.append(f"{ops[k]}~{src}")
            k += 1
        parts.append("|" + "|".join(items) + "|")
    return "+".join(parts)


def make_op(name: str, channels: int, *, rng: np.random.Generator, init: str, dtype: Any,
            bn_momentum: float = 0.1, bn_eps: float = 1e-5) -> Layer:
    """One cell op at stride 1 with ``channels`` in and out (a name of :data:`EXTENDED_OPS`)."""
    check_choice("make_op", "name", name, EXTENDED_OPS)
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return Identity()
    if name == "avg_pool_3x3":
        return AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    k = op_kernel_size(name)
    if name.startswith("conv_bn_"):
        return ConvBN(channels, channels, k, 1, k // 2, bn_momentum=bn_momentum, bn_eps=bn_eps,
                      rng=rng, init=init, dtype=dtype)
    return ReLUConvBN(channels, channels, k, 1, k // 2, 1, bn_momentum=bn_momentum,
                      bn_eps=bn_eps, rng=rng, init=init, dtype=dtype)


class NB201Cell(Layer):
    """A NAS-Bench-201 cell; children ``edge_<src>_<dst>`` (the 6 ops, edge order above)."""

    def __init__(self, ops: Sequence[str], channels: int, *, rng: np.random.Generator,
                 init: str = "torch", dtype: Any = np.float32, bn_momentum: float = 0.1,
                 bn_eps: float = 1e-5) -> None:
        super().__init__()
        self.ops = check_ops(ops, EXTENDED_OPS)
        self.channels = channels
        self.edges: dict[tuple[int, int], Layer] = {}
        for (src, dst), op in zip(NB201_EDGES, self.ops):
            self.edges[(src, dst)] = make_op(op, channels, rng=rng, init=init, dtype=dtype,
                                             bn_momentum=bn_momentum, bn_eps=bn_eps)

    def children(self) -> list[tuple[str, Layer]]:
        return [(f"edge_{s}_{d}", layer) for (s, d), layer in self.edges.items()]

    #: Keep the node states (``_nodes``) and edge outputs (``_edge_out``) of the last forward
    #: pass and the gradients w.r.t. the node states of the last backward pass
    #: (``_node_grads``), for subclasses that need them (the supernet's GATE).
    _record_nodes = False

    def forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        nodes = [x]
        if self._record_nodes:
            self._edge_out: dict[tuple[int, int], np.ndarray] = {}
        for dst in (1, 2, 3):
            outs = []
            for src in range(dst):
                op = self.edges[(src, dst)]
                if isinstance(op, Zero):
                    continue            # adds nothing (NB201 computes x * 0)
                outs.append(op.forward(nodes[src], ctx))
                if self._record_nodes:
                    self._edge_out[(src, dst)] = outs[-1]
            if not outs:
                nodes.append(np.zeros_like(x))
            elif len(outs) == 1:
                nodes.append(outs[0])
            else:
                nodes.append(ctx.kernels.sum_edges_forward(tuple(outs)))
        self._cache = True
        if self._record_nodes:
            self._nodes = nodes
        return nodes[3]

    def backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(f"NB201Cell {self.name!r}: backward called before forward")
        grads: dict[int, list[np.ndarray]] = {0: [], 1: [], 2: [], 3: [dy]}
        if self._record_nodes:
            self._node_grads = {}
        for dst in (3, 2, 1):
            g = grads[dst]
            if not g:
                continue                # node unused downstream: zero gradient
            gsum = g[0] if len(g) == 1 else ctx.kernels.sum_edges_forward(tuple(g))
            if self._record_nodes:
                self._node_grads[dst] = gsum
            for src in range(dst):
                op = self.edges[(src, dst)]
                if isinstance(op, Zero):
                    continue
                grads[src].append(op.backward(gsum, ctx))
        self._cache = None
        g0 = grads[0]
        if not g0:
            return np.zeros_like(dy)
        return g0[0] if len(g0) == 1 else ctx.kernels.sum_edges_forward(tuple(g0))


class ResNetBasicBlock(Layer):
    """NAS-Bench-201's residual reduction block (stride 2); children ``conv_a``, ``conv_b``,
    ``shortcut`` (``pool``: AvgPool 2x2/2, ``conv``: Conv1x1 without bias or BN)."""

    def __init__(self, in_channels: int, out_channels: int, *, rng: np.random.Generator,
                 init: str = "torch", dtype: Any = np.float32, bn_momentum: float = 0.1,
                 bn_eps: float = 1e-5) -> None:
        super().__init__()
        kw = dict(bn_momentum=bn_momentum, bn_eps=bn_eps, init=init, dtype=dtype)
        self.conv_a = ReLUConvBN(in_channels, out_channels, 3, 2, 1, 1, rng=rng, **kw)
        self.conv_b = ReLUConvBN(out_channels, out_channels, 3, 1, 1, 1, rng=rng, **kw)
        self.shortcut = Sequential(
            AvgPool2d(2, stride=2, padding=0),
            Conv2d(in_channels, out_channels, 1, bias=False, rng=rng, init=init, dtype=dtype),
            names=["pool", "conv"])

    def children(self) -> list[tuple[str, Layer]]:
        return [("conv_a", self.conv_a), ("conv_b", self.conv_b), ("shortcut", self.shortcut)]

    def forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        b = self.conv_b.forward(self.conv_a.forward(x, ctx), ctx)
        r = self.shortcut.forward(x, ctx)
        self._cache = True
        return ctx.kernels.sum_edges_forward((b, r))

    def backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(f"ResNetBasicBlock {self.name!r}: backward called before forward")
        da = self.conv_a.backward(self.conv_b.backward(dy, ctx), ctx)
        dr = self.shortcut.backward(dy, ctx)
        self._cache = None
        return ctx.kernels.sum_edges_forward((da, dr))


class _Body(Sequential):
    pass


def check_skeleton_args(owner: str, *, C: int, N: int, num_classes: int, in_channels: int,
                        input_size: int, init: str, dtype: Any, backend: str | None) -> np.dtype:
    """Validate the skeleton's arguments (ParameterError naming ``owner``); returns the dtype."""
    check_range(owner, "C", C, 1, integer=True)
    check_range(owner, "N", N, 0, integer=True)
    check_range(owner, "num_classes", num_classes, 2, integer=True)
    check_range(owner, "in_channels", in_channels, 1, integer=True)
    check_range(owner, "input_size", input_size, 4, integer=True)
    check_choice(owner, "init", init, INITS)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ParameterError(f"The 'dtype' parameter of {owner} must be float32 or float64. Got {dt}.")
    if backend is not None:
        from archmodel.backends import check_backend_name

        check_backend_name(backend)
    return dt


def nb201_skeleton(make_cell: Callable[[int], Layer], *, C: int, N: int, num_classes: int,
                   in_channels: int, rng: np.random.Generator, init: str, dtype: Any,
                   bn_momentum: float, bn_eps: float) -> Layer:
    """The NAS-Bench-201 macro skeleton around cells ``make_cell(channels)`` (module docstring).

    Parameters are initialised from ``rng`` layer by layer in forward order (stem, cells and
    reduction blocks, last batch norm, classifier). :func:`build_nb201_network` and the
    weight-sharing supernet (:mod:`archmodel.supernet`) build their bodies with it.
    """
    kw = dict(rng=rng, init=init, dtype=dtype, bn_momentum=bn_momentum, bn_eps=bn_eps)
    stem = Sequential(
        Conv2d(in_channels, C, 3, padding=1, bias=False, rng=rng, init=init, dtype=dtype),
        BatchNorm2d(C, eps=bn_eps, momentum=bn_momentum, dtype=dtype),
        names=["conv", "bn"])
    cells: list[Layer] = []
    c_prev = C
    for stage, c in enumerate((C, 2 * C, 4 * C)):
        if stage > 0:
            cells.append(ResNetBasicBlock(c_prev, c, **kw))
        for _ in range(N):
            cells.append(make_cell(c))
        c_prev = c
    body_cells = Sequential(*cells)
    lastact = Sequential(BatchNorm2d(c_prev, eps=bn_eps, momentum=bn_momentum, dtype=dtype), ReLU(),
                         names=["bn", "relu"])
    classifier = Linear(c_prev, num_classes, rng=rng, init=init, dtype=dtype)
    return _Body(stem, body_cells, lastact, GlobalAvgPool(), classifier,
                 names=["stem", "cells", "lastact", "gap", "classifier"])


def build_nb201_network(ops: Sequence[str], *, C: int = 16, N: int = 5, num_classes: int = 10,
                        in_channels: int = 3, input_size: int = 32, dtype: Any = np.float32,
                        rng: np.random.Generator | int | None = None, init: str = "torch",
                        backend: str | None = None, bn_momentum: float = 0.1,
                        bn_eps: float = 1e-5) -> Network:
    """Build a NAS-Bench-201 network whose cells all use ``ops``.

    Parameters
    ----------
    ops : sequence of 6 str
        The cell, in arch-string edge order ``[(0,1), (0,2), (1,2), (0,3), (1,3), (2,3)]``,
        each op one of :data:`NB201_OPS` (or of :data:`EXTENDED_OPS`: not a benchmark cell).
    C : int
        Channels of the first stage (then 2C and 4C). NAS-Bench-201: 16.
    N : int
        Cells per stage. NAS-Bench-201: 5.
    num_classes : int
    in_channels : int
        Image channels (3 for RGB, 1 for grey).
    input_size : int
        Image height and width (square); at least 4 (two stride-2 reductions).
    dtype : dtype
        float32 (default) or float64.
    rng : Generator, int or None
        Initialisation (drawn layer by layer in forward order).
    init : {'torch', 'kaiming_normal'}
        Weight initialisation (see :class:`archmodel.conv.layers.Conv2d`); 'torch' is
        PyTorch's default, which NAS-Bench-201 used.
    backend : str or None
        Kernel backend for the network's passes (None: resolved per call).
    bn_momentum, bn_eps : float
        Batch-norm settings (PyTorch's defaults).

    Returns
    -------
    Network
        Input ``(n, in_channels, input_size, input_size)``, output logits ``(n, num_classes)``.

    Raises
    ------
    InvalidArchitectureError
        Bad ``ops``.
    ParameterError
        A numeric argument out of range.
    """
    ops = check_ops(ops, EXTENDED_OPS)
    dt = check_skeleton_args("build_nb201_network", C=C, N=N, num_classes=num_classes,
                             in_channels=in_channels, input_size=input_size, init=init,
                             dtype=dtype, backend=backend)
    gen = np.random.default_rng(rng)
    kw = dict(rng=gen, init=init, dtype=dt, bn_momentum=bn_momentum, bn_eps=bn_eps)
    body = nb201_skeleton(lambda c: NB201Cell(ops, c, **kw), C=C, N=N, num_classes=num_classes,
                          in_channels=in_channels, **kw)
    config = {
        "ops": list(ops), "C": C, "N": N, "num_classes": num_classes, "in_channels": in_channels,
        "input_size": input_size, "dtype": dt.name, "init": init, "bn_momentum": bn_momentum,
        "bn_eps": bn_eps,
    }
    net = Network(body, kind="nb201", config=config, backend=backend, dtype=dt)
    net.arch_string = arch_string(ops)
    return net


def _from_config(config: dict[str, Any]) -> Network:
    cfg = dict(config)
    ops = cfg.pop("ops")
    return build_nb201_network(ops, rng=0, **cfg)


BUILDERS["nb201"] = _from_config
