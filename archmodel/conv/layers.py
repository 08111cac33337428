"""Layers with hand-written backward passes, on top of the ``conv`` kernel family.

A layer owns its parameters (``params``), their gradients (``grads``, same keys and shapes,
*accumulated* by :meth:`Layer.backward` until :meth:`Layer.zero_grad`) and its non-trainable
state (``buffers``, e.g. batch-norm running statistics). ``forward`` keeps what ``backward``
needs; one ``backward`` follows each ``forward``. Arrays are channels-first ``(N, C, H, W)``.

The arithmetic is done by the kernels of a backend (``archmodel.backends.get_backend(name)
.conv``), which the caller passes in a :class:`Context`. Containers (:class:`Sequential` and
the blocks in :mod:`archmodel.conv.nb201`) give their children dotted names (``"stem.conv"``);
parameter names are ``"<layer name>.<param>"`` (``"stem.conv.weight"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Iterator

import numpy as np

from archmodel.errors import ParameterError, check_choice, check_range

#: ``hook(name, layer, x, y)``: called after every leaf layer's forward pass.
Hook = Callable[[str, "Layer", np.ndarray, np.ndarray], None]

INITS = ("torch", "kaiming_normal")


@dataclass
class Context:
    """What a forward pass needs besides the input.

    Attributes
    ----------
    kernels : module
        The backend's ``conv`` kernel module.
    train : bool
        Training mode (batch statistics in batch norm, running statistics updated) or
        evaluation mode (running statistics).
    hook : callable or None
        ``hook(name, layer, x, y)`` after each leaf layer's forward.
    """

    kernels: ModuleType
    train: bool = True
    hook: Hook | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Layer:
    """Base class. Subclasses implement :meth:`_forward` and :meth:`_backward`."""

    def __init__(self) -> None:
        self.name = ""
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self._cache: Any = None

    # -- tree --------------------------------------------------------------------------------
    def children(self) -> list[tuple[str, "Layer"]]:
        """Direct sub-layers as ``(local name, layer)``; leaves have none."""
        return []

    def set_names(self, prefix: str) -> None:
        """Give this layer and its descendants their dotted names."""
        self.name = prefix
        for local, child in self.children():
            child.set_names(f"{prefix}.{local}" if prefix else local)

    def modules(self) -> Iterator["Layer"]:
        """This layer and all descendants, depth-first in forward order."""
        yield self
        for _, child in self.children():
            yield from child.modules()

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray]]:
        for m in self.modules():
            for k, v in m.params.items():
                yield f"{m.name}.{k}", v

    def named_gradients(self) -> Iterator[tuple[str, np.ndarray]]:
        for m in self.modules():
            for k in m.params:
                yield f"{m.name}.{k}", m.grads[k]

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for m in self.modules():
            for k, v in m.buffers.items():
                yield f"{m.name}.{k}", v

    def zero_grad(self) -> None:
        for m in self.modules():
            for k, v in m.params.items():
                g = m.grads.get(k)
                if g is None or g.shape != v.shape or g.dtype != v.dtype:
                    m.grads[k] = np.zeros_like(v)
                else:
                    g.fill(0)

    def _add_grad(self, key: str, g: np.ndarray) -> None:
        self.grads[key] += g

    # -- computation -------------------------------------------------------------------------
    def forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        y = self._forward(x, ctx)
        if ctx.hook is not None and not self.children():
            ctx.hook(self.name, self, x, y)
        return y

    def backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r}: backward called before forward")
        dx = self._backward(dy, ctx)
        self._cache = None
        return dx

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def clear_cache(self) -> None:
        """Drop what the last forward kept (frees activations when no backward follows)."""
        for m in self.modules():
            m._cache = None

    def astype(self, dtype: Any) -> None:
        """Convert parameters, gradients and buffers to ``dtype`` in place (new arrays)."""
        for m in self.modules():
            for d in (m.params, m.grads, m.buffers):
                for k in list(d):
                    d[k] = d[k].astype(dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _check_4d(owner: str, x: np.ndarray, channels: int | None = None) -> None:
    if x.ndim != 4:
        raise ParameterError(f"{owner} expects an (N, C, H, W) array; got shape {x.shape}.")
    if channels is not None and x.shape[1] != channels:
        raise ParameterError(f"{owner} expects {channels} input channels; got shape {x.shape}.")


class Conv2d(Layer):
    """2-D convolution, ``torch.nn.Conv2d`` semantics (square kernel, symmetric padding).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
    stride, padding, dilation, groups : int
        ``groups`` must divide both channel counts.
    bias : bool
        Add a learned bias per output channel (NAS-Bench-201 convolutions have none).
    rng : Generator, int or None
        Initialisation.
    init : {'torch', 'kaiming_normal'}
        ``'torch'``: PyTorch's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight and
        the bias; ``'kaiming_normal'``: N(0, 2/fan_in) weight, zero bias.
    dtype : dtype

    Parameters of the layer: ``weight`` (out, in/groups, k, k), optionally ``bias`` (out,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, groups: int = 1, bias: bool = False, *,
                 rng: np.random.Generator | int | None = None, init: str = "torch",
                 dtype: Any = np.float32) -> None:
        super().__init__()
        owner = "Conv2d"
        for nm, v, lo in (("in_channels", in_channels, 1), ("out_channels", out_channels, 1),
                          ("kernel_size", kernel_size, 1), ("stride", stride, 1),
                          ("padding", padding, 0), ("dilation", dilation, 1),
                          ("groups", groups, 1)):
            check_range(owner, nm, v, lo, integer=True)
        check_choice(owner, "init", init, INITS)
        if in_channels % groups or out_channels % groups:
            raise ParameterError(
                f"The 'groups' parameter of Conv2d must divide in_channels ({in_channels}) and "
                f"out_channels ({out_channels}). Got {groups} instead.")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.groups = dilation, groups
        rng = np.random.default_rng(rng)
        fan_in = (in_channels // groups) * kernel_size * kernel_size
        shape = (out_channels, in_channels // groups, kernel_size, kernel_size)
        if init == "torch":
            bound = 1.0 / np.sqrt(fan_in)
            self.params["weight"] = rng.uniform(-bound, bound, shape).astype(dtype)
        else:
            self.params["weight"] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
        if bias:
            if init == "torch":
                bound = 1.0 / np.sqrt(fan_in)
                self.params["bias"] = rng.uniform(-bound, bound, out_channels).astype(dtype)
            else:
                self.params["bias"] = np.zeros(out_channels, dtype=dtype)
        self.zero_grad()

    def output_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.dilation * (self.kernel_size - 1) - 1) // self.stride + 1

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        _check_4d("Conv2d", x, self.in_channels)
        w = self.params["weight"]
        y = ctx.kernels.conv2d_forward(x, w, self.stride, self.padding, self.dilation, self.groups)
        if "bias" in self.params:
            y += self.params["bias"][None, :, None, None]
        self._cache = x
        return y

    def _backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        x = self._cache
        dx, dw = ctx.kernels.conv2d_backward(dy, x, self.params["weight"], self.stride,
                                             self.padding, self.dilation, self.groups)
        self._add_grad("weight", dw)
        if "bias" in self.params:
            self._add_grad("bias", dy.sum(axis=(0, 2, 3)))
        return dx

    def __repr__(self) -> str:
        return (f"Conv2d({self.name!r}, {self.in_channels}->{self.out_channels}, "
                f"k={self.kernel_size}, s={self.stride}, p={self.padding}, d={self.dilation}, "
                f"g={self.groups})")


class BatchNorm2d(Layer):
    """Batch normalisation, ``torch.nn.BatchNorm2d`` semantics.

    Training mode normalises with the batch statistics and updates the running ones
    (``running = (1 - momentum) * running + momentum * batch``, unbiased batch variance);
    evaluation mode uses the running statistics.

    Parameters
    ----------
    channels : int
    eps : float
    momentum : float
    affine : bool
        Learn ``weight`` (gamma, init 1) and ``bias`` (beta, init 0); otherwise they are fixed
        at 1 and 0 and are not parameters.
    dtype : dtype

    Buffers: ``running_mean`` (init 0), ``running_var`` (init 1), ``num_batches_tracked``.
    """

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, *, dtype: Any = np.float32) -> None:
        super().__init__()
        check_range("BatchNorm2d", "channels", channels, 1, integer=True)
        check_range("BatchNorm2d", "eps", eps, 0.0, low_inclusive=False)
        check_range("BatchNorm2d", "momentum", momentum, 0.0, 1.0)
        self.channels, self.eps, self.momentum, self.affine = channels, float(eps), float(momentum), affine
        if affine:
            self.params["weight"] = np.ones(channels, dtype=dtype)
            self.params["bias"] = np.zeros(channels, dtype=dtype)
        self._fixed_gamma = np.ones(channels, dtype=dtype)
        self._fixed_beta = np.zeros(channels, dtype=dtype)
        self.buffers["running_mean"] = np.zeros(channels, dtype=dtype)
        self.buffers["running_var"] = np.ones(channels, dtype=dtype)
        self.buffers["num_batches_tracked"] = np.zeros((), dtype=np.int64)
        self.zero_grad()

    def _gamma_beta(self, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
        if self.affine:
            return self.params["weight"], self.params["bias"]
        return self._fixed_gamma.astype(dtype, copy=False), self._fixed_beta.astype(dtype, copy=False)

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        _check_4d("BatchNorm2d", x, self.channels)
        k = ctx.kernels
        gamma, beta = self._gamma_beta(x.dtype)
        if ctx.train:
            count = x.shape[0] * x.shape[2] * x.shape[3]
            if count < 2:
                raise ParameterError(
                    f"BatchNorm2d {self.name!r} in training mode needs more than one value per "
                    f"channel; got input shape {x.shape}.")
            y, mean, var, invstd = k.batchnorm_forward_train(x, gamma, beta, self.eps)
            rm, rv = k.batchnorm_update_running(self.buffers["running_mean"],
                                                self.buffers["running_var"], mean, var,
                                                count, self.momentum)
            self.buffers["running_mean"], self.buffers["running_var"] = rm, rv
            self.buffers["num_batches_tracked"] = np.asarray(self.buffers["num_batches_tracked"] + 1, dtype=np.int64)
            self._cache = ("train", x, mean, invstd)
        else:
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            y = k.batchnorm_forward_eval(x, gamma, beta, rm, rv, self.eps)
            self._cache = ("eval", x, rm, rv)
        return y

    def _backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        mode, x, a, b = self._cache
        gamma, _ = self._gamma_beta(x.dtype)
        if mode == "train":
            dx, dgamma, dbeta = ctx.kernels.batchnorm_backward(dy, x, gamma, a, b)
        else:
            dx, dgamma, dbeta = ctx.kernels.batchnorm_backward_eval(dy, x, gamma, a, b, self.eps)
        if self.affine:
            self._add_grad("weight", dgamma)
            self._add_grad("bias", dbeta)
        return dx

    def astype(self, dtype: Any) -> None:
        super().astype(dtype)
        self.buffers["num_batches_tracked"] = self.buffers["num_batches_tracked"].astype(np.int64)
        self._fixed_gamma = self._fixed_gamma.astype(dtype)
        self._fixed_beta = self._fixed_beta.astype(dtype)


class ReLU(Layer):
    """``max(x, 0)``. The hook sees its input and output (``x > 0`` is the activation code)."""

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        self._cache = x
        return ctx.kernels.relu_forward(x)

    def _backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        return ctx.kernels.relu_backward(dy, self._cache)


def _check_pool(owner: str, kernel_size: int, stride: int, padding: int) -> None:
    check_range(owner, "kernel_size", kernel_size, 1, integer=True)
    check_range(owner, "stride", stride, 1, integer=True)
    check_range(owner, "padding", padding, 0, kernel_size // 2, integer=True)


class AvgPool2d(Layer):
    """Average pooling, ``torch.nn.AvgPool2d`` semantics (``ceil_mode=False``).

    Parameters
    ----------
    kernel_size : int
    stride : int or None
        Default: ``kernel_size``.
    padding : int
        At most ``kernel_size // 2``.
    count_include_pad : bool
        Divide by ``kernel_size**2`` (True) or by the number of in-image elements (False;
        NAS-Bench-201's ``avg_pool_3x3``).
    """

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        stride = kernel_size if stride is None else stride
        _check_pool("AvgPool2d", kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = bool(count_include_pad)

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        _check_4d("AvgPool2d", x)
        self._cache = x.shape
        return ctx.kernels.avg_pool2d_forward(x, self.kernel_size, self.stride, self.padding,
                                              self.count_include_pad)

    def _backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        h, w = self._cache[2], self._cache[3]
        return ctx.kernels.avg_pool2d_backward(dy, h, w, self.kernel_size, self.stride,
                                               self.padding, self.count_include_pad)


class MaxPool2d(Layer):
    """Max pooling, ``torch.nn.MaxPool2d`` semantics (``ceil_mode=False``, no dilation).

    Parameters
    ----------
    kernel_size : int
    stride : int or None
        Default: ``kernel_size``.
    padding : int
        At most ``kernel_size // 2`` (padding never wins).
    """

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0) -> None:
        super().__init__()
        stride = kernel_size if stride is None else stride
        _check_pool("MaxPool2d", kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        _check_4d("MaxPool2d", x)
        y, argmax = ctx.kernels.max_pool2d_forward(x, self.kernel_size, self.stride, self.padding)
        self._cache = (x.shape, argmax)
        return y

    def _backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        shape, argmax = self._cache
        return ctx.kernels.max_pool2d_backward(dy, argmax, shape[2], shape[3])


class GlobalAvgPool(Layer):
    """Mean over the spatial axes: ``(N, C, H, W) -> (N, C)``."""

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        _check_4d("GlobalAvgPool", x)
        self._cache = x.shape
        return ctx.kernels.global_avg_pool_forward(x)

    def _backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        return ctx.kernels.global_avg_pool_backward(dy, self._cache[2], self._cache[3])


class Linear(Layer):
    """``y = x @ weight.T + bias``; weight (out, in), bias (out,).

    Initialisation as :class:`Conv2d` (``'torch'``: U(+-1/sqrt(in)) for weight and bias).
    """

    def __init__(self, in_features: int, out_features: int, *,
                 rng: np.random.Generator | int | None = None, init: str = "torch",
                 dtype: Any = np.float32) -> None:
        super().__init__()
        check_range("Linear", "in_features", in_features, 1, integer=True)
        check_range("Linear", "out_features", out_features, 1, integer=True)
        check_choice("Linear", "init", init, INITS)
        self.in_features, self.out_features = in_features, out_features
        rng = np.random.default_rng(rng)
        bound = 1.0 / np.sqrt(in_features)
        if init == "torch":
            self.params["weight"] = rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype)
            self.params["bias"] = rng.uniform(-bound, bound, out_features).astype(dtype)
        else:
            self.params["weight"] = (rng.standard_normal((out_features, in_features))
                                     * np.sqrt(2.0 / in_features)).astype(dtype)
            self.params["bias"] = np.zeros(out_features, dtype=dtype)
        self.zero_grad()

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ParameterError(f"Linear expects an (N, {self.in_features}) array; got shape {x.shape}.")
        self._cache = x
        return ctx.kernels.linear_forward(x, self.params["weight"], self.params["bias"])

    def _backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        dx, dw, db = ctx.kernels.linear_backward(dy, self._cache, self.params["weight"])
        self._add_grad("weight", dw)
        self._add_grad("bias", db)
        return dx


class Identity(Layer):
    """``y = x`` (NAS-Bench-201 ``skip_connect`` at stride 1). Returns its input (no copy)."""

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        self._cache = True
        return x

    def _backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        return dy


class Zero(Layer):
    """``y = 0 * x`` (NAS-Bench-201 ``none``); its gradient is zero."""

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        self._cache = x.shape
        return np.zeros_like(x)

    def _backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        return np.zeros(self._cache, dtype=dy.dtype)


class Sequential(Layer):
    """Layers applied in order; children are named by the given names (default ``0, 1, ...``)."""

    def __init__(self, *layers: Layer, names: list[str] | None = None) -> None:
        super().__init__()
        names = [str(i) for i in range(len(layers))] if names is None else list(names)
        if len(names) != len(layers):
            raise ParameterError("Sequential: one name per layer is needed.")
        self.layers = list(zip(names, layers))

    def children(self) -> list[tuple[str, Layer]]:
        return list(self.layers)

    def forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        for _, layer in self.layers:
            x = layer.forward(x, ctx)
        return x

    def backward(self, dy: np.ndarray, ctx: Context) -> np.ndarray:
        for _, layer in reversed(self.layers):
            dy = layer.backward(dy, ctx)
        return dy


class ConvBN(Sequential):
    """Conv2d (no bias) -> BatchNorm2d, without the leading ReLU of :class:`ReLUConvBN` (the
    ``conv_bn_kxk`` ops of :data:`archmodel.conv.nb201.EXTENDED_OPS`). Children: ``conv``, ``bn``."""

    _relu = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, *, affine: bool = True,
                 bn_momentum: float = 0.1, bn_eps: float = 1e-5,
                 rng: np.random.Generator | int | None = None, init: str = "torch",
                 dtype: Any = np.float32) -> None:
        layers: list[Layer] = [ReLU()] if self._relu else []
        layers += [
            Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=False,
                   rng=rng, init=init, dtype=dtype),
            BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum, affine=affine, dtype=dtype),
        ]
        super().__init__(*layers, names=(["relu"] if self._relu else []) + ["conv", "bn"])


class ReLUConvBN(ConvBN):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d: NAS-Bench-201's ``nor_conv_kxk`` and the
    halves of its residual block. Children: ``relu``, ``conv``, ``bn``."""

    _relu = True
