"""Layer lists for the PIM simulator: dataclasses, shape inference, built-in networks.

A network is a plain list of :class:`Conv`, :class:`Linear`, :class:`Pool` and
:class:`ElementSum` layers. ReLU (and batch norm) cost nothing in MNSIM's behaviour model and
are implied after every convolution; :class:`Linear` flattens its input. Only the first layer
needs ``input_hw``; later shapes are inferred.

Examples
--------
>>> from archmodel.pim.network import Conv, Pool, Linear, resolve_network
>>> net = resolve_network([Conv(3, 16, 3, padding=1, input_hw=(8, 8)), Pool(2), Linear(256, 10)])
>>> [(l.kind, l.out_shape) for l in net]
[('conv', (16, 8, 8)), ('pool', (16, 4, 4)), ('fc', (10,))]
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Sequence, Union

import numpy as np

from archmodel.errors import InvalidArchitectureError, ParameterError, check_range

__all__ = [
    "Conv",
    "Linear",
    "Pool",
    "ElementSum",
    "ResolvedLayer",
    "resolve_network",
    "network_array",
    "builtin_network",
    "BUILTIN_NETWORKS",
    "layers_from_dicts",
]


@dataclass(frozen=True)
class Conv:
    """2-D convolution (square kernel), no bias.

    Parameters
    ----------
    in_ch, out_ch : int
        Input and output channels.
    kernel : int
        Kernel size (kernel x kernel).
    stride, padding : int
    input_hw : (int, int), optional
        Input height and width; required for the first layer only.
    inputs : tuple of int
        Relative indices of the input layers (default ``(-1,)``: the previous layer).
    """

    in_ch: int
    out_ch: int
    kernel: int
    stride: int = 1
    padding: int = 0
    input_hw: tuple[int, int] | None = None
    inputs: tuple[int, ...] = (-1,)


@dataclass(frozen=True)
class Linear:
    """Fully connected layer ``in_features -> out_features`` (flattens its input)."""

    in_features: int
    out_features: int
    inputs: tuple[int, ...] = (-1,)


@dataclass(frozen=True)
class Pool:
    """Max pooling (square window); ``stride`` defaults to ``kernel``."""

    kernel: int = 2
    stride: int | None = None
    padding: int = 0
    inputs: tuple[int, ...] = (-1,)


@dataclass(frozen=True)
class ElementSum:
    """Element-wise sum of two earlier layers (residual connection), e.g. ``inputs=(-1, -4)``."""

    inputs: tuple[int, ...] = (-1, -2)


Layer = Union[Conv, Linear, Pool, ElementSum]

_KIND = {Conv: "conv", Linear: "fc", Pool: "pool", ElementSum: "esum"}
_TYPE_CODE = {"conv": 0, "fc": 1, "pool": 2, "esum": 3}


@dataclass(frozen=True)
class ResolvedLayer:
    """A layer with its shapes and bit widths known (what the cost model consumes)."""

    index: int
    kind: str
    layer: Any
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_bits: int
    weight_bits: int
    out_bits: int
    inputs: tuple[int, ...] = field(default=(-1,))

    @property
    def name(self) -> str:
        return f"{self.index}:{self.kind}"

    def describe(self) -> str:
        l = self.layer
        if self.kind == "conv":
            return (f"conv{l.kernel}x{l.kernel} {l.in_ch}->{l.out_ch} s{l.stride} p{l.padding} "
                    f"@{self.in_shape[1]}x{self.in_shape[2]}")
        if self.kind == "fc":
            return f"fc {l.in_features}->{l.out_features}"
        if self.kind == "pool":
            return f"maxpool{l.kernel} @{self.in_shape[1]}x{self.in_shape[2]}"
        return f"sum{tuple(self.inputs)}"


def _pos_int(owner: str, name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, (np.integer,)):
        value = int(value)
    return check_range(owner, name, value, low, None, integer=True)


def resolve_network(layers: Sequence[Layer], *, in_bits: int = 9, weight_bits: int = 9,
                    out_bits: int | None = None) -> list[ResolvedLayer]:
    """Check a layer list and infer every layer's input/output shape.

    Parameters
    ----------
    layers : sequence of Conv, Linear, Pool, ElementSum
    in_bits, weight_bits, out_bits : int
        Activation / weight precision (bits, sign included) applied to every layer.

    Returns
    -------
    list of ResolvedLayer

    Raises
    ------
    InvalidArchitectureError
        If shapes do not chain (the message names the layer and what was expected).
    """
    if out_bits is None:
        out_bits = in_bits
    layers = list(layers)
    if not layers:
        raise InvalidArchitectureError("The network is empty: give at least one Conv or Linear layer.")
    out: list[ResolvedLayer] = []
    for i, layer in enumerate(layers):
        kind = _KIND.get(type(layer))
        if kind is None:
            raise InvalidArchitectureError(
                f"Layer {i} has type {type(layer).__name__}; allowed are Conv, Linear, Pool, ElementSum.")
        owner = f"layer {i} ({type(layer).__name__})"
        inputs = tuple(int(v) for v in layer.inputs)
        if not 1 <= len(inputs) <= 2 or any(v >= 0 for v in inputs):
            raise InvalidArchitectureError(
                f"The 'inputs' of {owner} must be one or two negative relative indices. Got {inputs}.")
        for v in inputs:
            if i + v < -1:
                raise InvalidArchitectureError(
                    f"The 'inputs' of {owner} point before the network input: {inputs}.")
        src = i + inputs[0]
        if src == -1:
            if kind == "conv":
                if layer.input_hw is None:
                    raise InvalidArchitectureError(
                        f"{owner} reads the network input, so it needs input_hw=(height, width).")
                h, w = (int(v) for v in layer.input_hw)
                in_shape: tuple[int, ...] = (layer.in_ch, h, w)
            elif kind == "fc":
                in_shape = (layer.in_features,)
            else:
                raise InvalidArchitectureError(f"{owner} cannot read the network input: start with Conv or Linear.")
        else:
            in_shape = out[src].out_shape
        if kind == "conv":
            for nm in ("in_ch", "out_ch", "kernel", "stride"):
                _pos_int(owner, nm, getattr(layer, nm))
            _pos_int(owner, "padding", layer.padding, 0)
            if len(in_shape) != 3:
                raise InvalidArchitectureError(f"{owner} needs a (C, H, W) input; the previous layer gives {in_shape}.")
            if in_shape[0] != layer.in_ch:
                raise InvalidArchitectureError(
                    f"{owner} has in_ch={layer.in_ch} but its input has {in_shape[0]} channels.")
            oh = (in_shape[1] + 2 * layer.padding - layer.kernel) // layer.stride + 1
            ow = (in_shape[2] + 2 * layer.padding - layer.kernel) // layer.stride + 1
            if oh < 1 or ow < 1:
                raise InvalidArchitectureError(f"{owner}: kernel {layer.kernel} does not fit input {in_shape}.")
            out_shape: tuple[int, ...] = (layer.out_ch, oh, ow)
            wb = weight_bits
        elif kind == "fc":
            _pos_int(owner, "in_features", layer.in_features)
            _pos_int(owner, "out_features", layer.out_features)
            flat = int(np.prod(in_shape))
            if flat != layer.in_features:
                raise InvalidArchitectureError(
                    f"{owner} has in_features={layer.in_features} but its input {in_shape} flattens to {flat}.")
            out_shape = (layer.out_features,)
            wb = weight_bits
        elif kind == "pool":
            _pos_int(owner, "kernel", layer.kernel)
            stride = layer.kernel if layer.stride is None else layer.stride
            _pos_int(owner, "stride", stride)
            _pos_int(owner, "padding", layer.padding, 0)
            if len(in_shape) != 3:
                raise InvalidArchitectureError(f"{owner} needs a (C, H, W) input; got {in_shape}.")
            oh = (in_shape[1] + 2 * layer.padding - layer.kernel) // stride + 1
            ow = (in_shape[2] + 2 * layer.padding - layer.kernel) // stride + 1
            if oh < 1 or ow < 1:
                raise InvalidArchitectureError(f"{owner}: window {layer.kernel} does not fit input {in_shape}.")
            out_shape = (in_shape[0], oh, ow)
            wb = 0
        else:
            if len(inputs) != 2:
                raise InvalidArchitectureError(f"{owner} needs exactly two inputs; got {inputs}.")
            shapes = [out[i + v].out_shape if i + v >= 0 else None for v in inputs]
            if shapes[0] is None or shapes[0] != shapes[1]:
                raise InvalidArchitectureError(f"{owner} adds tensors of different shapes {shapes}.")
            out_shape = shapes[0]
            wb = 0
        out.append(ResolvedLayer(i, kind, layer, tuple(in_shape), tuple(out_shape),
                                 int(in_bits), int(wb), int(out_bits), inputs))
    return out


def network_array(resolved: Sequence[ResolvedLayer]) -> np.ndarray:
    """The int64 layer table the kernels consume (columns ``N_*`` of ``backends.numpy.pim``).

    Returns
    -------
    ndarray of int64, shape (n_layers, NET_FIELDS)
    """
    from archmodel.backends.numpy import pim as K

    arr = np.zeros((len(resolved), K.NET_FIELDS), dtype=np.int64)
    for i, r in enumerate(resolved):
        row = arr[i]
        row[K.N_TYPE] = _TYPE_CODE[r.kind]
        l = r.layer
        if r.kind == "conv":
            row[K.N_IN_CH], row[K.N_OUT_CH] = l.in_ch, l.out_ch
            row[K.N_K], row[K.N_S], row[K.N_P] = l.kernel, l.stride, l.padding
        elif r.kind == "fc":
            row[K.N_IN_CH], row[K.N_OUT_CH] = l.in_features, l.out_features
            row[K.N_K], row[K.N_S] = 1, 1
        elif r.kind == "pool":
            row[K.N_IN_CH] = row[K.N_OUT_CH] = r.in_shape[0]
            row[K.N_K] = l.kernel
            row[K.N_S] = l.kernel if l.stride is None else l.stride
            row[K.N_P] = l.padding
        else:
            row[K.N_IN_CH] = row[K.N_OUT_CH] = r.out_shape[0]
        if len(r.in_shape) == 3:
            row[K.N_IN_H], row[K.N_IN_W] = r.in_shape[1], r.in_shape[2]
        if len(r.out_shape) == 3:
            row[K.N_OUT_H], row[K.N_OUT_W] = r.out_shape[1], r.out_shape[2]
        row[K.N_IN_BITS], row[K.N_W_BITS], row[K.N_OUT_BITS] = r.in_bits, r.weight_bits, r.out_bits
        row[K.N_N_IN] = len(r.inputs)
        row[K.N_IN0] = r.inputs[0]
        row[K.N_IN1] = r.inputs[1] if len(r.inputs) > 1 else 0
    return arr


# --------------------------------------------------------------------------------------------
# built-in networks (MNSIM 2.0's CIFAR-10 definitions, MNSIM/Interface/network.py)
# --------------------------------------------------------------------------------------------
def _vgg8() -> list[Layer]:
    return [
        Conv(3, 128, 3, padding=1, input_hw=(32, 32)),
        Conv(128, 128, 3, padding=1),
        Pool(2),
        Conv(128, 256, 3, padding=1),
        Conv(256, 256, 3, padding=1),
        Pool(2),
        Conv(256, 512, 3, padding=1),
        Conv(512, 512, 3, padding=1),
        Pool(2),
        Conv(512, 1024, 3, padding=0),
        Pool(2),
        Linear(1024, 10),
    ]


def _alexnet() -> list[Layer]:
    return [
        Conv(3, 64, 3, stride=2, padding=1, input_hw=(32, 32)),
        Pool(2),
        Conv(64, 192, 3, padding=1),
        Pool(2),
        Conv(192, 384, 3, padding=1),
        Conv(384, 256, 3, padding=1),
        Conv(256, 256, 3, padding=1),
        Pool(2),
        Linear(1024, 512),
        Linear(512, 10),
    ]


def _vgg16() -> list[Layer]:
    cfg = [(3, 64), (64, 64), "P", (64, 128), (128, 128), "P", (128, 256), (256, 256), (256, 256), "P",
           (256, 512), (512, 512), (512, 512), "P", (512, 512), (512, 512), (512, 512)]
    out: list[Layer] = []
    for c in cfg:
        if c == "P":
            out.append(Pool(2))
        else:
            out.append(Conv(c[0], c[1], 3, padding=1, input_hw=(32, 32) if not out else None))
    out.append(Linear(2048, 10))
    return out


def _resnet18() -> list[Layer]:
    L: list[Layer] = [Conv(3, 64, 3, padding=1, input_hw=(32, 32)), Pool(2)]

    def block(cin: int, cout: int, stride: int) -> None:
        if stride == 1 and cin == cout:
            L.append(Conv(cin, cout, 3, stride=1, padding=1))
            L.append(Conv(cout, cout, 3, stride=1, padding=1))
            L.append(ElementSum((-1, -3)))
        else:
            L.append(Conv(cin, cout, 3, stride=stride, padding=1))
            L.append(Conv(cout, cout, 3, stride=1, padding=1))
            L.append(Conv(cin, cout, 3, stride=stride, padding=1, inputs=(-3,)))
            L.append(ElementSum((-1, -2)))

    block(64, 64, 1)
    block(64, 64, 1)
    block(64, 128, 2)
    block(128, 128, 1)
    block(128, 256, 2)
    block(256, 256, 1)
    block(256, 512, 2)
    block(512, 512, 1)
    L.append(Linear(2048, 512))
    L.append(Linear(512, 10))
    return L


BUILTIN_NETWORKS = {"vgg8": _vgg8, "alexnet": _alexnet, "vgg16": _vgg16, "resnet18": _resnet18}


def builtin_network(name: str) -> list[Layer]:
    """One of MNSIM 2.0's CIFAR-10 reference networks ('vgg8', 'alexnet', 'vgg16', 'resnet18')."""
    if name not in BUILTIN_NETWORKS:
        raise ParameterError(
            f"The 'network' parameter must be one of {sorted(BUILTIN_NETWORKS)} or a layer list. "
            f"Got {name!r} instead.")
    return BUILTIN_NETWORKS[name]()


_DICT_TYPES = {"conv": Conv, "linear": Linear, "fc": Linear, "pool": Pool, "maxpool": Pool,
               "sum": ElementSum, "element_sum": ElementSum, "esum": ElementSum}


def layers_from_dicts(items: Iterable[dict]) -> list[Layer]:
    """Build layers from JSON-like dicts, e.g. ``{"type": "conv", "in_ch": 3, ...}``."""
    out: list[Layer] = []
    for i, d in enumerate(items):
        if not isinstance(d, dict) or "type" not in d:
            raise InvalidArchitectureError(f"Layer {i} must be an object with a 'type' field. Got {d!r}.")
        cls = _DICT_TYPES.get(str(d["type"]).lower())
        if cls is None:
            raise InvalidArchitectureError(
                f"The 'type' of layer {i} must be one of {sorted(_DICT_TYPES)}. Got {d['type']!r} instead.")
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k != "type"}
        unknown = sorted(set(kw) - names)
        if unknown:
            raise InvalidArchitectureError(
                f"Layer {i} ({cls.__name__}) has unknown fields {unknown}; allowed are {sorted(names)}.")
        for key in ("input_hw", "inputs"):
            if key in kw and kw[key] is not None:
                kw[key] = tuple(kw[key])
        try:
            out.append(cls(**kw))
        except TypeError as exc:
            raise InvalidArchitectureError(f"Layer {i} ({cls.__name__}): {exc}") from None
    return out
