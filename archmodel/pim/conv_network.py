"""archmodel networks (:class:`archmodel.conv.network.Network`) on memristor crossbars.

Two things are provided:

* **Mapping for the cost model** (:func:`map_network`, :func:`layers_from_network`): one
  evaluation-mode forward pass of a dummy image is traced and every leaf layer that runs is
  turned into the PIM layer list of :mod:`archmodel.pim.network`, in execution order:

  ========================  ===============================================================
  archmodel layer           PIM layer
  ========================  ===============================================================
  ``Conv2d``                :class:`~archmodel.pim.network.Conv` (``groups`` and
                            ``dilation`` other than 1 raise: the cost model has no such
                            convolution)
  ``Linear``                :class:`~archmodel.pim.network.Linear`
  ``MaxPool2d``             :class:`~archmodel.pim.network.Pool` (same window, stride, padding)
  ``AvgPool2d``             :class:`~archmodel.pim.network.Pool` (approximation: charged as
                            MNSIM's pooling unit, which models a max-pool window; averaging
                            reads the same window and does the same number of digital
                            operations per output)
  ``GlobalAvgPool``         :class:`~archmodel.pim.network.Pool` with ``kernel = H`` (one
                            ``H x H`` window, output ``(C, 1, 1)``, which the next ``Linear``
                            flattens to ``C``)
  ``BatchNorm2d``, ``ReLU``,  nothing (free in MNSIM's behaviour model; they pass their
  ``Identity``, ``Zero``    producer through)
  sum of ``k`` tensors      ``k - 1`` chained :class:`~archmodel.pim.network.ElementSum`
  (``sum_edges_forward``)   layers (``((a + b) + c) + ...``)
  ========================  ===============================================================

  The wiring is exact: every layer's ``inputs`` point at the layers that produced its input
  arrays (tracked by array identity through the pass-through layers). One approximation: a
  cell node whose incoming edges are all ``'none'`` is a zero tensor made inside the cell,
  produced by no layer; layers reading it are wired to the input of the innermost enclosing
  container (the cell input), which has the same shape and is available at the same time.

* **Functional simulation of a trained network** (:func:`build_network_model`,
  :func:`forward_pim_network`, :func:`pim_accuracy`): the network's own evaluation-mode
  forward pass runs with a kernel module whose ``conv2d_forward`` and ``linear_forward``
  compute the matrix products on bit-sliced crossbars (:func:`~archmodel.pim.functional.im2col`,
  :func:`~archmodel.pim.functional.quantize_symmetric`,
  :func:`~archmodel.pim.functional.crossbar_matmul`); weights are quantised per layer, each
  layer's activation scale is fixed on calibration data (``max |input| / T``), and batch norm,
  ReLU, pooling and sums run digitally in float64 with the backend's kernels. Device draws come
  from :func:`~archmodel.pim.functional.sample_cells` with a NumPy ``Generator`` outside the
  kernels. With ideal devices and an ADC that covers a chunk's largest partial sum the result
  equals the quantised digital pass (:func:`forward_digital_network`) exactly.

Examples
--------
>>> from archmodel.conv.nb201 import build_nb201_network
>>> from archmodel.pim import simulate
>>> from archmodel.pim.conv_network import map_network
>>> net = build_nb201_network(["nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3",
...                            "nor_conv_1x1", "skip_connect"], C=4, N=1, in_channels=1,
...                           input_size=8, rng=0)
>>> m = map_network(net)
>>> [type(l).__name__ for l in m.layers][:7]
['Conv', 'Conv', 'Pool', 'Conv', 'ElementSum', 'ElementSum', 'Conv']
>>> simulate(net, "mnsim-default", backend="numpy").crossbars  # 8 slices x 14 conv/fc layers
112
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from archmodel.errors import InvalidArchitectureError, ParameterError, check_range
from archmodel.pim.network import Conv, ElementSum, Linear, Pool, resolve_network

if TYPE_CHECKING:  # pragma: no cover
    from archmodel.conv.network import Network
    from archmodel.pim.functional import AccuracyResult, CrossbarModel, ProgrammedLayer

log = logging.getLogger(__name__)

__all__ = [
    "CrossbarLayer",
    "NetworkMapping",
    "QuantizedNetwork",
    "build_network_model",
    "forward_digital_network",
    "forward_float_network",
    "forward_pim_network",
    "layers_from_arch",
    "layers_from_network",
    "map_network",
    "pim_accuracy",
    "sample_network_cells",
]


def _network_class() -> type:
    from archmodel.conv.network import Network

    return Network


def _check_network(net: Any, owner: str) -> None:
    if not isinstance(net, _network_class()):
        raise ParameterError(
            f"The 'net' parameter of {owner} must be an archmodel.conv.network.Network. "
            f"Got {type(net).__name__} instead.")


# ============================================================================================
# mapping for the cost model
# ============================================================================================
@dataclass
class NetworkMapping:
    """PIM layer list of an archmodel network.

    Attributes
    ----------
    layers : list of Conv / Linear / Pool / ElementSum
        The cost model's layer list, in execution order (feed to :func:`archmodel.pim.simulate`).
    names : list of str
        For each PIM layer, the archmodel layer it comes from (``'cells.0.edge_0_1.conv'``;
        sums: ``'<container>.sum<j>'``).
    shapes : list of tuple of int
        Output shape of each PIM layer as traced (``(C, H, W)`` or ``(F,)``), without batch.
    input_shape : (int, int, int)
        The traced input ``(C, H, W)``.
    """

    layers: list[Any]
    names: list[str]
    shapes: list[tuple[int, ...]]
    input_shape: tuple[int, int, int]


_INPUT = -1


class _Tracer:
    """Builds the PIM layer list while one forward pass runs (see :func:`map_network`)."""

    def __init__(self, x: np.ndarray) -> None:
        self.layers: list[Any] = []
        self.names: list[str] = []
        self.shapes: list[tuple[int, ...]] = []
        self.src: dict[int, int] = {id(x): _INPUT}
        self.keep: list[np.ndarray] = [x]          # keeps ids unique during the pass
        self.stack: list[tuple[str, np.ndarray]] = []
        self.n_sums: dict[str, int] = {}

    # -- bookkeeping ---------------------------------------------------------------------------
    def producer(self, arr: np.ndarray, who: str) -> int:
        p = self.src.get(id(arr))
        if p is not None:
            return p
        # an array made inside a container, not by a layer (the zero node of a cell whose
        # incoming edges are all 'none'): wire it to the innermost container input we know
        for cname, cin in reversed(self.stack):
            q = self.src.get(id(cin))
            if q is not None and cin.shape == arr.shape:
                log.debug("%s reads a tensor made inside %r; wired to that container's input", who, cname)
                self.set(arr, q)
                return q
        raise InvalidArchitectureError(
            f"Layer {who!r} reads a tensor of shape {arr.shape} that no layer produced and that "
            f"matches no enclosing container input; it cannot be mapped onto crossbars.")

    def set(self, arr: np.ndarray, index: int) -> None:
        self.src[id(arr)] = index
        self.keep.append(arr)

    def emit(self, layer: Any, name: str, out_shape: tuple[int, ...], sources: Sequence[int]) -> int:
        i = len(self.layers)
        rel = tuple(int(s) - i for s in sources)
        if rel != (-1,):
            layer = _with_inputs(layer, rel)
        self.layers.append(layer)
        self.names.append(name)
        self.shapes.append(tuple(int(v) for v in out_shape))
        return i

    # -- leaf layers ---------------------------------------------------------------------------
    def leaf(self, name: str, layer: Any, x: np.ndarray, y: np.ndarray) -> None:
        from archmodel.conv import layers as L

        who = name or type(layer).__name__
        if isinstance(layer, (L.BatchNorm2d, L.ReLU, L.Identity, L.Zero)):
            self.set(y, self.producer(x, who))
            return
        if isinstance(layer, L.Conv2d):
            bad = [(k, v) for k, v in (("groups", layer.groups), ("dilation", layer.dilation)) if v != 1]
            if bad:
                k, v = bad[0]
                raise InvalidArchitectureError(
                    f"Conv2d {who!r} has {k}={v}; the crossbar mapping supports only {k}=1 "
                    f"(the cost model has no grouped or dilated convolution).")
            src = self.producer(x, who)
            conv = Conv(int(layer.in_channels), int(layer.out_channels), int(layer.kernel_size),
                        stride=int(layer.stride), padding=int(layer.padding),
                        input_hw=(int(x.shape[2]), int(x.shape[3])) if src == _INPUT else None)
            self.set(y, self.emit(conv, who, y.shape[1:], [src]))
            return
        if isinstance(layer, L.Linear):
            src = self.producer(x, who)
            if src == _INPUT:
                raise InvalidArchitectureError(
                    f"Linear {who!r} reads the network input directly; the cost model needs a Conv first.")
            lin = Linear(int(layer.in_features), int(layer.out_features))
            self.set(y, self.emit(lin, who, y.shape[1:], [src]))
            return
        if isinstance(layer, (L.MaxPool2d, L.AvgPool2d)):
            pool = Pool(int(layer.kernel_size), int(layer.stride), int(layer.padding))
        elif isinstance(layer, L.GlobalAvgPool):
            h, w = int(x.shape[2]), int(x.shape[3])
            if h != w:
                raise InvalidArchitectureError(
                    f"GlobalAvgPool {who!r} averages a non-square {h}x{w} input; the cost model's "
                    f"pooling window is square.")
            pool = Pool(h, h, 0)
        else:
            raise InvalidArchitectureError(
                f"Layer {who!r} has type {type(layer).__name__}; the crossbar mapping supports "
                f"Conv2d, Linear, MaxPool2d, AvgPool2d, GlobalAvgPool, BatchNorm2d, ReLU, Identity, Zero.")
        src = self.producer(x, who)
        if src == _INPUT:
            raise InvalidArchitectureError(
                f"{type(layer).__name__} {who!r} reads the network input directly; the cost model "
                f"needs a Conv first.")
        out_shape = (int(x.shape[1]), 1, 1) if isinstance(layer, L.GlobalAvgPool) else y.shape[1:]
        self.set(y, self.emit(pool, who, out_shape, [src]))

    def add(self, xs: Sequence[np.ndarray], y: np.ndarray) -> None:
        where = self.stack[-1][0] if self.stack else ""
        who = f"{where}.sum" if where else "sum"
        srcs = [self.producer(a, who) for a in xs]
        if len(srcs) == 1:
            self.set(y, srcs[0])
            return
        if _INPUT in srcs:
            raise InvalidArchitectureError(
                f"The sum in {where or 'the network'!r} adds the network input directly; the cost "
                f"model's ElementSum needs two layer outputs.")
        cur = srcs[0]
        for s in srcs[1:]:
            j = self.n_sums.get(who, 0)
            self.n_sums[who] = j + 1
            cur = self.emit(ElementSum(), f"{who}{j}", y.shape[1:], [cur, s])
        self.set(y, cur)


def _with_inputs(layer: Any, inputs: tuple[int, ...]) -> Any:
    from dataclasses import replace

    return replace(layer, inputs=inputs)


class _TraceKernels:
    """Kernel module proxy that reports sums of tensors to the tracer."""

    def __init__(self, base: Any, tracer: _Tracer) -> None:
        self._base = base
        self._tracer = tracer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def sum_edges_forward(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        y = self._base.sum_edges_forward(xs)
        self._tracer.add(list(xs), y)
        return y


def _check_input_shape(net: Any, input_shape: Any) -> tuple[int, int, int]:
    if input_shape is None:
        return (net.in_channels, net.input_size, net.input_size)
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ParameterError(
            f"The 'input_shape' parameter must be three positive integers (C, H, W). Got {input_shape!r} instead.")
    if shape[0] != net.in_channels:
        raise ParameterError(
            f"The 'input_shape' parameter must have C = {net.in_channels} (the network's in_channels). "
            f"Got {shape} instead.")
    return shape


def map_network(net: Network, input_shape: Sequence[int] | None = None) -> NetworkMapping:
    """Trace an archmodel network into the PIM cost model's layer list.

    One evaluation-mode forward pass of a zero image (batch 1, NumPy kernels) is run; every
    leaf layer and every sum of tensors that executes becomes PIM layers (rules in the module
    docstring). The network's state is not changed.

    Parameters
    ----------
    net : Network
    input_shape : (int, int, int), optional
        ``(C, H, W)`` of the traced image; default ``(in_channels, input_size, input_size)``.

    Returns
    -------
    NetworkMapping

    Raises
    ------
    ParameterError
        ``net`` is not a Network, or a bad ``input_shape``.
    InvalidArchitectureError
        A layer the cost model cannot express (grouped or dilated convolution, unknown layer type).
    """
    _check_network(net, "map_network")
    shape = _check_input_shape(net, input_shape)
    from archmodel.backends import get_backend
    from archmodel.conv.layers import Context
    from archmodel.conv.network import single_thread_blas

    x = np.zeros((1,) + shape, dtype=net.dtype)
    tracer = _Tracer(x)
    patched = _push_containers(net.body, tracer)
    ctx = Context(kernels=_TraceKernels(get_backend("numpy").conv, tracer), train=False, hook=tracer.leaf)
    try:
        with single_thread_blas():
            out = net.body.forward(x, ctx)
    finally:
        for m, own in patched:
            if own is None:
                del m.forward
            else:
                m.forward = own
        net.body.clear_cache()
    if not tracer.layers:
        raise InvalidArchitectureError("The network has no Conv2d or Linear layer to map onto crossbars.")
    last = tracer.src.get(id(out))
    if last is not None and last != len(tracer.layers) - 1:
        log.debug("the network output comes from PIM layer %d, not the last one", last)
    mapping = NetworkMapping(tracer.layers, tracer.names, tracer.shapes, shape)
    _verify(mapping)
    return mapping


def _push_containers(body: Any, tracer: _Tracer) -> list[tuple[Any, Any]]:
    """Wrap every container's forward (instance attribute) to record its input.

    Returns ``(container, previous instance attribute or None)`` pairs for restoring.
    """
    patched = []
    for m in list(body.modules()):
        if not m.children():
            continue
        own = m.__dict__.get("forward")
        orig = m.forward

        def forward(x: np.ndarray, ctx: Any, _orig: Any = orig, _name: str = m.name) -> np.ndarray:
            tracer.stack.append((_name, x))
            try:
                return _orig(x, ctx)
            finally:
                tracer.stack.pop()

        m.forward = forward
        patched.append((m, own))
    return patched


def _verify(mapping: NetworkMapping) -> None:
    """The cost model's shape inference must reproduce the traced shapes."""
    resolved = resolve_network(mapping.layers)
    for r, name, shape in zip(resolved, mapping.names, mapping.shapes):
        if tuple(r.out_shape) != tuple(shape):
            raise InvalidArchitectureError(
                f"PIM layer {r.index} ({name!r}) infers output {r.out_shape} but the network "
                f"produces {shape}; the mapping is inconsistent.")


def layers_from_network(net: Network, input_shape: Sequence[int] | None = None) -> list[Any]:
    """The PIM layer list of an archmodel network (see :func:`map_network`).

    Parameters
    ----------
    net : Network
    input_shape : (int, int, int), optional
        ``(C, H, W)``; default the network's own input shape.

    Returns
    -------
    list of Conv / Linear / Pool / ElementSum
    """
    return map_network(net, input_shape).layers


def layers_from_arch(arch: str, *, C: int = 16, N: int = 5, input_size: int = 32, in_channels: int = 3,
                     num_classes: int = 10) -> list[Any]:
    """The PIM layer list of the NAS-Bench-201 network of an architecture.

    Builds :func:`archmodel.conv.nb201.build_nb201_network` (defaults: NAS-Bench-201's CIFAR
    network, C=16, N=5 cells per stage, 32x32x3 inputs, 10 classes; the weights do not matter
    for the cost model) and maps it with :func:`layers_from_network`.

    Parameters
    ----------
    arch : str
        An NB201 architecture in any format the ``nb201`` space parses (arch string
        ``'|nor_conv_3x3~0|+|...|'``, NASLib 6-tuple, ...).
    C, N, input_size, in_channels, num_classes : int

    Returns
    -------
    list of Conv / Linear / Pool / ElementSum

    Raises
    ------
    InvalidArchitectureError
        ``arch`` is not an NB201 architecture.
    """
    from archmodel.conv.nb201 import build_nb201_network
    from archmodel.zeroshot import resolve_ops

    net = build_nb201_network(resolve_ops(arch), C=C, N=N, num_classes=num_classes,
                              in_channels=in_channels, input_size=input_size, rng=0)
    return layers_from_network(net)


# ============================================================================================
# functional simulation of a trained network
# ============================================================================================
@dataclass
class CrossbarLayer:
    """One Conv2d / Linear of the network prepared for the crossbars.

    Attributes
    ----------
    name : str
        The archmodel layer name.
    kind : {'conv', 'fc'}
    weight : ndarray
        The network's live weight array (identifies the layer inside the kernels).
    w_float : ndarray of float64, shape (K, N)
        Weight matrix, ``K = C_in k k`` ordered (c, kh, kw) for convs, ``N`` outputs.
    w_int : ndarray of int64, shape (K, N)
    w_scale : float
    a_scale : float
        Input activation scale fixed on calibration data.
    programmed : ProgrammedLayer
    kernel, stride, padding : int
    """

    name: str
    kind: str
    weight: np.ndarray
    w_float: np.ndarray
    w_int: np.ndarray
    w_scale: float
    a_scale: float
    programmed: ProgrammedLayer
    kernel: int = 1
    stride: int = 1
    padding: int = 0


@dataclass
class QuantizedNetwork:
    """A trained archmodel network prepared for crossbar simulation.

    Attributes
    ----------
    net : Network
        The network (its float parameters are used, not copied; BN/ReLU/pools run with them).
    xb : CrossbarModel
    layers : dict of str -> CrossbarLayer
        The crossbar layers by name, in forward order.
    """

    net: Any
    xb: CrossbarModel
    layers: dict[str, CrossbarLayer] = field(default_factory=dict)

    def _by_weight(self) -> dict[int, CrossbarLayer]:
        return {id(c.weight): c for c in self.layers.values()}


def _rows_per_chunk(kind: str, kernel: int, xb: CrossbarModel, name: str) -> int:
    from archmodel.pim.functional import rows_per_chunk

    return rows_per_chunk(kind, kernel, xb, f"Conv2d {name!r}")


def _check_images(net: Any, x: Any, name: str) -> np.ndarray:
    x = np.asarray(x)
    expect = (net.in_channels, net.input_size, net.input_size)
    if x.ndim != 4 or tuple(x.shape[1:]) != expect or x.shape[0] < 1:
        raise ParameterError(
            f"The '{name}' parameter must be images of shape (N >= 1, {expect[0]}, {expect[1]}, "
            f"{expect[2]}). Got shape {x.shape} instead.")
    if x.dtype.kind not in "fiu":
        raise ParameterError(f"The '{name}' parameter must be numeric. Got dtype {x.dtype} instead.")
    return np.ascontiguousarray(x, dtype=np.float64)


class _MatKernels:
    """Kernel module proxy: Conv2d / Linear products on crossbars (or quantised / float)."""

    def __init__(self, base: Any, model: QuantizedNetwork, mode: str,
                 cells: Mapping[str, np.ndarray] | None, backend: str | None,
                 calib: dict[str, float] | None = None) -> None:
        self._base = base
        self._model = model
        self._mode = mode
        self._cells = cells
        self._backend = backend
        self._calib = calib
        self._by_id = model._by_weight()
        self._checked: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def _entry(self, w: np.ndarray) -> CrossbarLayer:
        ent = self._by_id.get(id(w))
        if ent is None or ent.weight is not w:
            raise ParameterError(
                "A Conv2d/Linear weight of the network is not part of the crossbar model; build it "
                "again with build_network_model after changing the network.")
        if ent.name not in self._checked:
            if not np.array_equal(np.asarray(w, dtype=np.float64).reshape(w.shape[0], -1).T, ent.w_float):
                raise ParameterError(
                    f"The weights of layer {ent.name!r} changed after build_network_model; build the "
                    f"crossbar model again.")
            self._checked.add(ent.name)
        return ent

    def _matmul(self, ent: CrossbarLayer, a2: np.ndarray) -> np.ndarray:
        if self._mode == "calibrate":
            m = float(np.max(np.abs(a2))) if a2.size else 0.0
            self._calib[ent.name] = max(self._calib.get(ent.name, 0.0), m)
            return a2 @ ent.w_float
        if self._mode == "float":
            return a2 @ ent.w_float
        return self._matmul_int(ent, self._quantize(ent, a2))

    def _quantize(self, ent: CrossbarLayer, a: np.ndarray) -> np.ndarray:
        """Inputs quantised with the layer's calibrated scale, as int16 (sign + magnitude)."""
        from archmodel.pim.functional import quantize_inputs

        return quantize_inputs(np.asarray(a, dtype=np.float64), self._model.xb.activation_bits, ent.a_scale)

    def _matmul_int(self, ent: CrossbarLayer, q: np.ndarray) -> np.ndarray:
        """Quantised inputs ``(P, K)`` times the layer on crossbars (or exactly, 'digital')."""
        from archmodel.pim.functional import crossbar_matmul

        xb = self._model.xb
        if self._mode == "digital":
            # float64 BLAS is exact: |products| and sums stay far below 2**53
            acc = q.astype(np.float64) @ ent.w_int.astype(np.float64)
        else:
            c = None if self._cells is None else self._cells.get(ent.name)
            acc = crossbar_matmul(q, ent.programmed, xb, c, backend=self._backend)
        return acc * (ent.a_scale * ent.w_scale)

    def conv2d_forward(self, x: np.ndarray, w: np.ndarray, stride: int, padding: int, dilation: int,
                       groups: int) -> np.ndarray:
        from archmodel.pim.functional import im2col

        ent = self._entry(w)
        n, _, h, wd = x.shape
        oh = (h + 2 * padding - ent.kernel) // stride + 1
        ow = (wd + 2 * padding - ent.kernel) // stride + 1
        if self._mode in ("digital", "pim"):
            # quantise the activation map, then unfold it: the same integers as unfolding first
            # (padding is 0 either way), with k*k times fewer roundings
            y = self._matmul_int(ent, im2col(self._quantize(ent, x), ent.kernel, stride, padding))
        else:
            y = self._matmul(ent, im2col(np.asarray(x, dtype=np.float64), ent.kernel, stride, padding))
        return np.ascontiguousarray(y.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2))

    def linear_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        ent = self._entry(w)
        return self._matmul(ent, np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)) + b


def _run(model: QuantizedNetwork, x: np.ndarray, mode: str, *, cells: Mapping[str, np.ndarray] | None = None,
         backend: str | None = None, batch_size: int = 256, calib: dict[str, float] | None = None) -> np.ndarray:
    from archmodel.backends import get_backend
    from archmodel.conv.layers import Context
    from archmodel.conv.network import single_thread_blas

    net = model.net
    base = get_backend(backend if backend is not None else net.backend).conv
    kernels = _MatKernels(base, model, mode, cells, backend, calib)
    ctx = Context(kernels=kernels, train=False, hook=None)
    out = []
    try:
        with single_thread_blas():
            for i in range(0, x.shape[0], batch_size):
                out.append(np.asarray(net.body.forward(x[i:i + batch_size], ctx), dtype=np.float64))
    finally:
        net.body.clear_cache()
    return np.concatenate(out, axis=0)


def build_network_model(net: Network, calibration: np.ndarray, *, hardware: Any = "mnsim-default",
                        xb: CrossbarModel | None = None, backend: str | None = None,
                        batch_size: int = 256) -> QuantizedNetwork:
    """Quantise and program a trained archmodel network for the functional simulation.

    Parameters
    ----------
    net : Network
        Trained network (evaluation mode is used: batch norm with running statistics).
    calibration : ndarray, shape (n, C_in, H, W)
        Images that fix each Conv2d/Linear input scale, ``max |input| / T`` with
        ``T = 2**(activation_bits - 1) - 1`` (float pass, as :func:`archmodel.pim.functional.build_model`).
    hardware : str or dict
        Spec: crossbar size, cell/DAC/ADC bits, polarity, non-idealities, bit widths.
    xb : CrossbarModel, optional
        Use this crossbar model instead of building one from ``hardware``.
    backend : {'numpy', 'numba'}, optional
        Kernels of the digital layers during calibration.
    batch_size : int

    Returns
    -------
    QuantizedNetwork

    Raises
    ------
    ParameterError
        ``net`` is not a Network or ``calibration`` has the wrong shape.
    InvalidArchitectureError
        Grouped/dilated convolutions, or a kernel that does not fit the crossbar rows.
    """
    from archmodel.conv import layers as L
    from archmodel.pim.functional import (
        crossbar_model,
        program_weights,
        quantize_symmetric,
    )

    _check_network(net, "build_network_model")
    check_range("build_network_model", "batch_size", batch_size, 1, None, integer=True)
    cal = _check_images(net, calibration, "calibration")
    xb = xb if xb is not None else crossbar_model(hardware)
    model = QuantizedNetwork(net, xb)
    for name, layer in net.layers((L.Conv2d, L.Linear)).items():
        w = layer.params["weight"]
        if isinstance(layer, L.Conv2d):
            if layer.groups != 1 or layer.dilation != 1:
                raise InvalidArchitectureError(
                    f"Conv2d {name!r} has groups={layer.groups}, dilation={layer.dilation}; the "
                    f"crossbar simulation supports groups=1 and dilation=1 only.")
            kind, k = "conv", int(layer.kernel_size)
            wm = np.asarray(w, dtype=np.float64).reshape(w.shape[0], -1).T.copy()
            stride, pad = int(layer.stride), int(layer.padding)
        else:
            kind, k, stride, pad = "fc", 1, 1, 0
            wm = np.asarray(w, dtype=np.float64).T.copy()
        q, s = quantize_symmetric(wm, xb.weight_bits)
        prog = program_weights(q, xb, _rows_per_chunk(kind, k, xb, name))
        model.layers[name] = CrossbarLayer(name, kind, w, wm, q, s, 1.0, prog, k, stride, pad)
    if not model.layers:
        raise InvalidArchitectureError("The network has no Conv2d or Linear layer to put on crossbars.")
    calib: dict[str, float] = {}
    _run(model, cal, "calibrate", backend=backend, batch_size=batch_size, calib=calib)
    t = (1 << (xb.activation_bits - 1)) - 1
    for name, ent in model.layers.items():
        m = calib.get(name, 0.0)
        ent.a_scale = m / t if m > 0 else 1.0
    log.debug("built crossbar model of %d layers", len(model.layers))
    return model


def sample_network_cells(model: QuantizedNetwork, rng: np.random.Generator | int | None) -> dict[str, np.ndarray]:
    """One device draw: effective cell levels of every crossbar layer, in forward order.

    Returns
    -------
    dict of str -> ndarray of float32, shape like ``layer.programmed.levels``
    """
    from archmodel.pim.functional import sample_cells

    rng = np.random.default_rng(rng)
    return {name: sample_cells(ent.programmed.levels, model.xb, rng, chunk_bounds=ent.programmed.chunk_bounds)
            for name, ent in model.layers.items()}


def _check_model(model: Any, owner: str) -> None:
    if not isinstance(model, QuantizedNetwork):
        raise ParameterError(
            f"The 'model' parameter of {owner} must be a QuantizedNetwork from build_network_model. "
            f"Got {type(model).__name__} instead.")


def forward_float_network(model: QuantizedNetwork, x: np.ndarray, *, backend: str | None = None,
                          batch_size: int = 256) -> np.ndarray:
    """Float64 evaluation-mode logits through the same im2col products (no quantisation).

    Returns
    -------
    ndarray of float64, shape (N, num_classes)
    """
    _check_model(model, "forward_float_network")
    return _run(model, _check_images(model.net, x, "x"), "float", backend=backend, batch_size=batch_size)


def forward_digital_network(model: QuantizedNetwork, x: np.ndarray, *, backend: str | None = None,
                            batch_size: int = 256) -> np.ndarray:
    """Quantised digital logits: exact integer products, same scales as the crossbar pass.

    Returns
    -------
    ndarray of float64, shape (N, num_classes)
    """
    _check_model(model, "forward_digital_network")
    return _run(model, _check_images(model.net, x, "x"), "digital", backend=backend, batch_size=batch_size)


def forward_pim_network(model: QuantizedNetwork, x: np.ndarray, cells: Mapping[str, np.ndarray] | None = None, *,
                        rng: np.random.Generator | int | None = None, backend: str | None = None,
                        batch_size: int = 256) -> np.ndarray:
    """Logits of the network with its Conv2d/Linear products on bit-sliced crossbars.

    Parameters
    ----------
    model : QuantizedNetwork
    x : ndarray, shape (N, C_in, H, W)
    cells : dict, optional
        Device state from :func:`sample_network_cells`. If None and ``rng`` is given, one draw
        is sampled first (same numbers as ``sample_network_cells(model, rng)``); if both are
        None, ideal devices.
    backend : {'numpy', 'numba'}, optional
        Kernels of the crossbar product and of the digital layers.
    batch_size : int
        Images per pass (every batch sees the same device draw).

    Returns
    -------
    ndarray of float64, shape (N, num_classes)
    """
    _check_model(model, "forward_pim_network")
    check_range("forward_pim_network", "batch_size", batch_size, 1, None, integer=True)
    x = _check_images(model.net, x, "x")
    if cells is None and rng is not None:
        cells = sample_network_cells(model, rng)
    return _run(model, x, "pim", cells=cells, backend=backend, batch_size=batch_size)


def pim_accuracy(net: Network | QuantizedNetwork, X: np.ndarray, y: np.ndarray, *,
                 hardware: Any = "mnsim-default", n_draws: int = 5,
                 rng: np.random.Generator | int | None = 0, calibration: np.ndarray | None = None,
                 backend: str | None = None, xb: CrossbarModel | None = None,
                 batch_size: int = 256) -> AccuracyResult:
    """Classification accuracy of a trained archmodel network on crossbars, over device draws.

    Parameters
    ----------
    net : Network or QuantizedNetwork
        A trained network (quantised here with ``hardware``/``xb`` and ``calibration``) or a
        model from :func:`build_network_model` (then ``hardware``, ``xb`` and ``calibration``
        are ignored).
    X : ndarray, shape (N, C_in, H, W)
    y : ndarray of int, shape (N,)
    hardware : str or dict
    n_draws : int
        Device draws (one when the crossbar model is ideal: every draw is the same).
    rng : Generator, int or None
        Device draws (same seed, same result).
    calibration : ndarray, shape (n, C_in, H, W), optional
        Default: the first ``min(N, 64)`` images of ``X``.
    backend : {'numpy', 'numba'}, optional
    xb : CrossbarModel, optional
    batch_size : int

    Returns
    -------
    AccuracyResult
        ``mean`` and ``std`` over the draws, ``draws``, the quantised digital accuracy
        (``digital``) and the float64 accuracy (``float_``).
    """
    from archmodel.pim.functional import AccuracyResult

    check_range("pim_accuracy", "n_draws", n_draws, 1, None, integer=True)
    if isinstance(net, QuantizedNetwork):
        model = net
    else:
        _check_network(net, "pim_accuracy")
        Xc = _check_images(net, X, "X")
        cal = Xc[:min(Xc.shape[0], 64)] if calibration is None else calibration
        model = build_network_model(net, cal, hardware=hardware, xb=xb, backend=backend, batch_size=batch_size)
    Xc = _check_images(model.net, X, "X")
    y = np.asarray(y)
    if y.shape != (Xc.shape[0],) or y.dtype.kind not in "iu":
        raise ParameterError(
            f"The 'y' parameter must be integer labels of shape ({Xc.shape[0]},). Got {y.dtype} {y.shape} instead.")
    gen = np.random.default_rng(rng)

    def acc(logits: np.ndarray) -> float:
        return float(np.mean(np.argmax(logits, axis=1) == y))

    acc_f = acc(_run(model, Xc, "float", backend=backend, batch_size=batch_size))
    acc_d = acc(_run(model, Xc, "digital", backend=backend, batch_size=batch_size))
    draws = []
    for _ in range(1 if model.xb.ideal else n_draws):
        cells = None if model.xb.ideal else sample_network_cells(model, gen)
        draws.append(acc(_run(model, Xc, "pim", cells=cells, backend=backend, batch_size=batch_size)))
    arr = np.asarray(draws)
    log.info("pim accuracy %.4f +- %.4f over %d draws (digital %.4f, float %.4f)",
             arr.mean(), arr.std(), arr.size, acc_d, acc_f)
    return AccuracyResult(float(arr.mean()), float(arr.std()), arr, acc_d, acc_f)
