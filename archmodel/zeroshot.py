"""Zero-cost (training-free) proxies of a network's final accuracy.

Each proxy scores a freshly initialised network from one minibatch (or, for ``synflow``,
``params`` and ``flops``, from no data at all). The definitions follow NASLib's
implementation of Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021),
so that scores rank architectures like the ``zc/nb201`` proxy columns do. With ``W`` the
weights of every ``Conv2d`` and ``Linear`` layer (biases and batch-norm affine parameters
excluded), ``L`` the mean softmax cross-entropy of the batch in training mode (batch-norm
with batch statistics) and ``g = dL/dW``:

=============  ===========================================================================
grad_norm      ``sum_layers ||g_layer||_2`` (Frobenius norm per layer, summed)
snip           ``sum |W * g|`` (Lee et al., connection sensitivity)
plain          ``sum W * g``
grasp          ``sum -W * (H g)``, ``H = d^2 L / dW^2`` (Wang et al.); the Hessian-vector
               product is a central finite difference of gradients (see :func:`grasp`)
fisher         per layer output channel ``k``: ``0.5 * mean_n (sum_hw a * dL/da)^2`` with
               ``a`` the layer's output (before batch norm); as in NASLib the channel value
               is counted once per weight of that channel (times ``C_in * kh * kw``)
jacob_cov      ``-sum_i log(v_i + 1e-5) + 1 / (v_i + 1e-5)`` over the eigenvalues ``v`` of the
               correlation matrix of the input Jacobians ``d sum(logits_n) / d x_n``
nwot           ``log|det K|``, ``K = sum_ReLU c c^T + (1-c)(1-c)^T`` with ``c`` the binary
               code ``x > 0`` of every ReLU's input per image (Mellor et al., NASWOT)
synflow        ``sum |W * dR/dW|``, ``R = sum(logits)`` for one all-ones image with every
               parameter replaced by its absolute value, batch norm bypassed (identity, as
               NASLib's ``bn=False`` copy) and float64 arithmetic (data-free)
params         trainable parameters in millions (``Network.num_parameters() / 1e6``)
flops          multiply-accumulates of the conv and linear layers for one image, in millions
=============  ===========================================================================

No proxy changes the network it is given: weights, batch-norm buffers and gradients are
restored afterwards. :func:`compute_proxies` builds an NAS-Bench-201 network, draws a batch
and computes several proxies sharing forward/backward passes where the definitions allow.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from archmodel.conv.layers import BatchNorm2d, Conv2d, Layer, Linear, ReLU
from archmodel.conv.network import BUILDERS, Network
from archmodel.errors import FormatError, InvalidArchitectureError, ParameterError, check_range

logger = logging.getLogger(__name__)

__all__ = [
    "PROXIES", "DATA_FREE", "grad_norm", "snip", "plain", "grasp", "fisher", "jacob_cov",
    "nwot", "synflow", "params", "flops", "compute_proxies", "parse_proxies", "make_batch",
    "resolve_ops", "score_file",
]

#: Every proxy name, in a fixed order.
PROXIES: tuple[str, ...] = ("params", "flops", "synflow", "grad_norm", "snip", "plain", "grasp",
                            "fisher", "jacob_cov", "nwot")
#: Proxies that need no data.
DATA_FREE: frozenset[str] = frozenset({"params", "flops", "synflow"})
#: Accepted aliases (NASLib's column names).
ALIASES: dict[str, str] = {"jacov": "jacob_cov", "naswot": "nwot"}

JACOB_COV_K = 1e-5


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _preserved(net: Network) -> Iterator[None]:
    """Restore parameters, buffers and (zeroed) gradients of ``net`` on exit."""
    saved = [(m, {k: v.copy() for k, v in m.params.items()},
              {k: np.array(v, copy=True) for k, v in m.buffers.items()}) for m in net.modules()]
    try:
        yield
    finally:
        # Restored by hand rather than with Network.load_state_dict: BatchNorm2d turns its
        # 0-d ``num_batches_tracked`` buffer into a NumPy scalar, which copyto rejects.
        for m, ps, bs in saved:
            for k, v in ps.items():
                np.copyto(m.params[k], v)
            for k, v in bs.items():
                m.buffers[k] = v
        net.zero_grad()


def _weight_layers(net: Network) -> dict[str, Layer]:
    """Conv2d and Linear layers (the layers NASLib's measures score), by name."""
    return net.layers((Conv2d, Linear))


def _weight_grads(net: Network) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{layer name: (weight, d loss / d weight)}`` after a backward pass (live arrays)."""
    return {name: (layer.params["weight"], layer.grads["weight"])
            for name, layer in _weight_layers(net).items()}


def _check_batch(net: Network, x: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] < 2:
        raise ParameterError(f"a proxy batch must be images of shape (n >= 2, C, H, W); got {x.shape}")
    if y is not None:
        y = np.asarray(y).astype(np.int64)
        if y.shape != (x.shape[0],):
            raise ParameterError(f"labels must have shape ({x.shape[0]},); got {y.shape}")
    return x, y


def _loss_pass(net: Network, x: np.ndarray, y: np.ndarray,
               hook: Callable[..., None] | None = None) -> float:
    loss, _ = net.loss_and_grad(x, y, train=True, hook=hook)
    return float(loss)


# --------------------------------------------------------------------------------------------
# gradient-based proxies sharing one loss pass
# --------------------------------------------------------------------------------------------
def _gradient_scores(net: Network, x: np.ndarray, y: np.ndarray, want: set[str]) -> dict[str, float]:
    """grad_norm, snip, plain, fisher and nwot from one forward/backward pass."""
    out: dict[str, float] = {}
    acts: dict[str, np.ndarray] = {}
    fisher_total = [0.0]
    n = x.shape[0]
    K = np.zeros((n, n), dtype=np.float64) if "nwot" in want else None
    wl = _weight_layers(net)
    patched: list[Layer] = []

    def hook(name: str, layer: Layer, xin: np.ndarray, yout: np.ndarray) -> None:
        if K is not None and isinstance(layer, ReLU):
            c = (xin.reshape(n, -1) > 0).astype(np.float64)
            K[...] += c @ c.T
            c = 1.0 - c
            K[...] += c @ c.T
        if "fisher" in want and name in wl:
            acts[name] = yout

    if "fisher" in want:
        for name, layer in wl.items():
            orig = layer._backward

            def wrapped(dy: np.ndarray, ctx: Any, _orig=orig, _name=name, _layer=layer) -> np.ndarray:
                a = acts.pop(_name).astype(np.float64)
                g = dy.astype(np.float64)
                prod = a * g
                g_nk = prod.reshape(prod.shape[0], prod.shape[1], -1).sum(axis=2)  # (n, C_out)
                del_k = 0.5 * np.mean(g_nk ** 2, axis=0)
                per_channel = int(np.prod(_layer.params["weight"].shape[1:]))
                fisher_total[0] += float(np.abs(del_k).sum()) * per_channel
                return _orig(dy, ctx)

            layer._backward = wrapped          # instance attribute, removed below
            patched.append(layer)
    try:
        _loss_pass(net, x, y, hook=hook)
    finally:
        for layer in patched:
            del layer._backward
    wg = _weight_grads(net)
    if "grad_norm" in want:
        out["grad_norm"] = float(sum(np.linalg.norm(g.astype(np.float64)) for _, g in wg.values()))
    if "snip" in want:
        out["snip"] = float(sum(np.abs(w.astype(np.float64) * g).sum() for w, g in wg.values()))
    if "plain" in want:
        out["plain"] = float(sum((w.astype(np.float64) * g).sum() for w, g in wg.values()))
    if "fisher" in want:
        out["fisher"] = fisher_total[0]
    if K is not None:
        out["nwot"] = float(np.linalg.slogdet(K)[1])
    return out


def grad_norm(net: Network, x: np.ndarray, y: np.ndarray) -> float:
    """Sum over conv/linear layers of the Frobenius norm of ``d loss / d weight``.

    Parameters
    ----------
    net : Network
        Scored in training mode (batch-norm batch statistics); left unchanged.
    x : ndarray, shape (n, C_in, H, W)
    y : ndarray of int, shape (n,)

    Returns
    -------
    float
    """
    x, y = _check_batch(net, x, y)
    with _preserved(net):
        return _gradient_scores(net, x, y, {"grad_norm"})["grad_norm"]


def snip(net: Network, x: np.ndarray, y: np.ndarray) -> float:
    """SNIP: ``sum |W * dL/dW|`` over conv/linear weights (arguments as :func:`grad_norm`)."""
    x, y = _check_batch(net, x, y)
    with _preserved(net):
        return _gradient_scores(net, x, y, {"snip"})["snip"]


def plain(net: Network, x: np.ndarray, y: np.ndarray) -> float:
    """``sum W * dL/dW`` over conv/linear weights (arguments as :func:`grad_norm`)."""
    x, y = _check_batch(net, x, y)
    with _preserved(net):
        return _gradient_scores(net, x, y, {"plain"})["plain"]


def fisher(net: Network, x: np.ndarray, y: np.ndarray) -> float:
    """Fisher (Turner et al., as in NASLib) over conv/linear layer outputs.

    For each conv/linear layer with output ``a`` (n, C, ...) and ``d = dL/da``:
    ``F_k = 0.5 * mean_n (sum_spatial a * d)^2`` per output channel ``k``; the score is
    ``sum_layers sum_k |F_k| * prod(weight.shape[1:])`` (NASLib broadcasts the channel value
    to every weight of the channel before summing). Arguments as :func:`grad_norm`.
    """
    x, y = _check_batch(net, x, y)
    with _preserved(net):
        return _gradient_scores(net, x, y, {"fisher"})["fisher"]


def nwot(net: Network, x: np.ndarray, y: np.ndarray | None = None) -> float:
    """NASWOT score (Mellor et al. 2021, second version): ``log|det K|``.

    ``K[i, j] = sum over ReLU layers of (number of units where images i and j are both
    active + number where both are inactive)``, the binary code being ``input > 0``. ``y`` is
    unused (accepted for a uniform signature). Returns ``-inf`` for a singular ``K``.

    Parameters
    ----------
    net : Network
    x : ndarray, shape (n, C_in, H, W)
    y : ignored
    """
    x, _ = _check_batch(net, x, None)
    n = x.shape[0]
    K = np.zeros((n, n), dtype=np.float64)

    def hook(name: str, layer: Layer, xin: np.ndarray, yout: np.ndarray) -> None:
        if isinstance(layer, ReLU):
            c = (xin.reshape(n, -1) > 0).astype(np.float64)
            K[...] += c @ c.T + (1.0 - c) @ (1.0 - c).T

    with _preserved(net):
        net.forward(x, train=True, hook=hook)
        net.body.clear_cache()
        net._ctx = None
    return float(np.linalg.slogdet(K)[1])


#: Relative finite-difference step of GraSP's Hessian-vector product by dtype.
FD_RELATIVE_STEP: dict[str, float] = {"float32": 1e-5, "float64": 1e-8}


def _fd_step(theta_norm: float, v_norm: float, dtype: np.dtype) -> float:
    """Central-difference step along ``v``: ``c * max(1, |theta|) / |v|`` with ``c`` from
    :data:`FD_RELATIVE_STEP` (1e-5 in float32, 1e-8 in float64).

    Chosen by convergence on full NB201 networks (C=16, N=5): batch norm over nearly
    constant channels makes the loss strongly curved, so steps of 1e-3 are biased (even the
    sign changes), while 1e-7 .. 1e-9 agree to 5 digits in float64 and 1e-5 is within a few
    percent of them in float32 (smaller float32 steps drown in rounding)."""
    c = FD_RELATIVE_STEP.get(np.dtype(dtype).name, 1e-8)
    return c * max(1.0, theta_norm) / max(v_norm, 1e-30)


class _FrozenReLUs:
    """Context manager: every ReLU multiplies by the 0/1 mask of a reference pass.

    Autograd's Hessian treats ReLU as linear on each side of its kink (second derivative
    0); freezing the activation pattern makes the perturbed passes follow the same linear
    pieces, so a finite difference of gradients measures that Hessian instead of an O(1)
    jump each time a perturbation moves a pre-activation across zero.
    """

    def __init__(self, net: Network, masks: dict[str, np.ndarray]) -> None:
        self.relus = net.layers(ReLU)
        self.masks = masks

    def __enter__(self) -> None:
        for name, layer in self.relus.items():
            mask = self.masks[name]

            def fwd(x: np.ndarray, ctx: Any, _layer=layer, _mask=mask) -> np.ndarray:
                _layer._cache = _mask
                return x * _mask

            layer._forward = fwd
            layer._backward = lambda dy, ctx, _mask=mask: dy * _mask

    def __exit__(self, *exc: Any) -> None:
        for layer in self.relus.values():
            del layer._forward
            del layer._backward


def _relu_masks(net: Network, x: np.ndarray) -> dict[str, np.ndarray]:
    masks: dict[str, np.ndarray] = {}

    def hook(name: str, layer: Layer, xin: np.ndarray, yout: np.ndarray) -> None:
        if isinstance(layer, ReLU):
            masks[name] = (xin > 0).astype(xin.dtype)

    net.forward(x, train=True, hook=hook)
    net.body.clear_cache()
    net._ctx = None
    return masks


def _grasp_from_grad(net: Network, x: np.ndarray, y: np.ndarray,
                     g: dict[str, np.ndarray]) -> float:
    layers = _weight_layers(net)
    theta = {k: layers[k].params["weight"].copy() for k in g}
    gnorm = math.sqrt(sum(float(np.sum(v.astype(np.float64) ** 2)) for v in g.values()))
    if gnorm == 0.0:
        return 0.0
    tnorm = math.sqrt(sum(float(np.sum(v.astype(np.float64) ** 2)) for v in theta.values()))
    h = _fd_step(tnorm, gnorm, net.dtype)
    masks = _relu_masks(net, x)
    grads = []
    with _FrozenReLUs(net, masks):
        for sign in (1.0, -1.0):
            for k, layer in layers.items():
                np.copyto(layer.params["weight"], theta[k] + sign * h * g[k], casting="unsafe")
            _loss_pass(net, x, y)
            grads.append({k: layers[k].grads["weight"].astype(np.float64) for k in g})
    for k, layer in layers.items():
        np.copyto(layer.params["weight"], theta[k])
    total = 0.0
    for k in g:
        hg = (grads[0][k] - grads[1][k]) / (2.0 * h)
        total += float(np.sum(-theta[k].astype(np.float64) * hg))
    return total


def grasp(net: Network, x: np.ndarray, y: np.ndarray) -> float:
    """GraSP (Wang et al. 2020, as in NASLib): ``sum -W * (H g)`` over conv/linear weights.

    ``g = dL/dW`` and ``H`` the Hessian of ``L`` with respect to the conv/linear weights
    (other parameters held fixed). Without automatic differentiation the Hessian-vector
    product is the central difference of gradients
    ``H g ~ (grad L(W + h g) - grad L(W - h g)) / (2 h)`` with
    ``h = c * max(1, ||W||) / ||g||`` (``c`` = 1e-5 in float32, 1e-8 in float64; see
    :data:`FD_RELATIVE_STEP`), taken with
    every ReLU's activation pattern frozen at ``W`` (as autograd, which gives ReLU a zero
    second derivative; without it each pre-activation crossing zero adds an O(1) error
    whatever ``h``). Error O(h^2) plus rounding; float32 is within a few percent of float64.
    Costs one extra forward and two extra forward/backward passes. Arguments as :func:`grad_norm`.
    """
    x, y = _check_batch(net, x, y)
    with _preserved(net):
        _loss_pass(net, x, y)
        g = {k: gr.copy() for k, (_, gr) in _weight_grads(net).items()}
        return _grasp_from_grad(net, x, y, g)


def jacob_cov(net: Network, x: np.ndarray, y: np.ndarray | None = None) -> float:
    """Jacobian covariance (Mellor et al. v1, NASLib ``jacov``).

    ``J[n] = d sum_c logits[n, c] / d x[n]`` flattened (n, C*H*W) (training-mode forward);
    with ``v`` the eigenvalues of ``corrcoef(J)`` (n x n):
    ``-sum(log(v + 1e-5) + 1 / (v + 1e-5))``. NaN when some image's Jacobian is constant
    (its correlation is undefined, e.g. a network whose output ignores the input).
    ``y`` is unused.
    """
    x, _ = _check_batch(net, x, None)
    with _preserved(net):
        net.zero_grad()
        logits = net.forward(x, train=True)
        jac = net.backward(np.ones_like(logits)).reshape(x.shape[0], -1).astype(np.float64)
    return _jacob_cov_score(jac)


def _jacob_cov_score(jac: np.ndarray) -> float:
    sd = jac.std(axis=1)
    if not np.all(sd > 0):
        return float("nan")
    corr = np.corrcoef(jac)
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + JACOB_COV_K) + 1.0 / (v + JACOB_COV_K)))


class _Bypass:
    """Context manager making every BatchNorm2d of a network the identity."""

    def __init__(self, net: Network) -> None:
        self.bns = list(net.layers(BatchNorm2d).values())

    def __enter__(self) -> None:
        for bn in self.bns:
            def fwd(x: np.ndarray, ctx: Any, _bn=bn) -> np.ndarray:
                _bn._cache = True
                return x

            bn._forward = fwd
            bn._backward = lambda dy, ctx: dy

    def __exit__(self, *exc: Any) -> None:
        for bn in self.bns:
            del bn._forward
            del bn._backward


def _clone(net: Network, dtype: Any) -> Network:
    cfg = dict(net.config)
    cfg["dtype"] = np.dtype(dtype).name
    cfg["backend"] = net.backend
    clone = BUILDERS[net.kind](cfg)
    clone.load_state_dict(net.state_dict())
    return clone


def synflow(net: Network, x: np.ndarray | None = None, y: np.ndarray | None = None) -> float:
    """SynFlow (Tanaka et al. 2020, NASLib's ``synflow``; data-free).

    On a float64 copy of ``net`` with every parameter replaced by its absolute value and
    batch norm bypassed: ``R = sum(logits)`` for one all-ones image of the network's input
    shape; score ``sum |W * dR/dW|`` over conv/linear weights. ``x`` and ``y`` are ignored.
    """
    work = _clone(net, np.float64)
    for p in work.parameters().values():
        np.abs(p, out=p)
    ones = np.ones((1, work.in_channels, work.input_size, work.input_size), dtype=np.float64)
    with _Bypass(work):
        work.zero_grad()
        logits = work.forward(ones, train=True)
        work.backward(np.ones_like(logits))
    return float(sum(np.abs(w * g).sum() for w, g in _weight_grads(work).values()))


def params(net: Network, x: Any = None, y: Any = None) -> float:
    """Trainable parameters in millions (batch-norm affine weights included)."""
    return net.num_parameters() / 1e6


def flops(net: Network, x: Any = None, y: Any = None) -> float:
    """Multiply-accumulates of the Conv2d and Linear layers for one image, in millions.

    Conv: ``out_elements * C_in * kh * kw`` (+ ``out_elements`` with a bias); linear:
    ``in * out`` (+ ``out``). Counted from the output shapes of one evaluation-mode
    forward pass of a zero image (the network is unchanged).
    """
    total = [0]

    def hook(name: str, layer: Layer, xin: np.ndarray, yout: np.ndarray) -> None:
        if isinstance(layer, (Conv2d, Linear)):
            w = layer.params["weight"]
            per_out = int(np.prod(w.shape[1:]))
            total[0] += yout.size * per_out + (yout.size if "bias" in layer.params else 0)

    z = np.zeros((1, net.in_channels, net.input_size, net.input_size), dtype=net.dtype)
    net.forward(z, train=False, hook=hook)
    net.body.clear_cache()
    net._ctx = None
    return total[0] / 1e6


_FUNCS: dict[str, Callable[..., float]] = {
    "grad_norm": grad_norm, "snip": snip, "plain": plain, "grasp": grasp, "fisher": fisher,
    "jacob_cov": jacob_cov, "nwot": nwot, "synflow": synflow, "params": params, "flops": flops,
}


# --------------------------------------------------------------------------------------------
# compute_proxies
# --------------------------------------------------------------------------------------------
def parse_proxies(proxies: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise a proxy list (comma-separated string or sequence; None or 'all' = all).

    Raises
    ------
    ParameterError
        An unknown or repeated name.
    """
    if proxies is None or proxies == "all":
        return PROXIES
    if isinstance(proxies, str):
        proxies = [p.strip() for p in proxies.split(",") if p.strip()]
    out: list[str] = []
    for p in proxies:
        name = ALIASES.get(p, p)
        if name not in _FUNCS:
            raise ParameterError(f"unknown proxy {p!r}; choose from {list(PROXIES)} "
                                 f"(aliases {sorted(ALIASES)})")
        if name in out:
            raise ParameterError(f"proxy {name!r} is listed twice")
        out.append(name)
    if not out:
        raise ParameterError("no proxy given")
    return tuple(out)


def resolve_ops(arch_or_ops: Any) -> tuple[str, ...]:
    """An NB201 ``Arch``, a string in any format of the ``nb201`` space (arch string, NASLib
    tuple, sequence) or 6 op names -> 6 op names (arch-string edge order)."""
    from archmodel.conv.nb201 import check_ops
    from archmodel.spaces import get_space

    space = get_space("nb201")
    if isinstance(arch_or_ops, str):
        arch_or_ops = space.parse(arch_or_ops.strip())
    seq = getattr(arch_or_ops, "seq", None)
    if seq is not None:
        try:
            return check_ops([space.ops[int(i)] for i in seq])
        except (IndexError, TypeError):
            raise InvalidArchitectureError(f"not an NB201 architecture: {arch_or_ops!r}") from None
    return check_ops(list(arch_or_ops))


def make_batch(data: Any, batch: int, *, input_size: int, in_channels: int = 3,
               num_classes: int = 10, rng: np.random.Generator | int | None = None,
               dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Draw one batch for the data-dependent proxies.

    Parameters
    ----------
    data : 'digits', 'random' or (X, y)
        ``'digits'``: the training split of :func:`archmodel.datasets.images.load_digits`
        resized to ``input_size`` (bilinear) with ``in_channels`` channels; ``'random'``:
        standard normal images with uniform labels; ``(X, y)``: arrays to draw from.
    batch : int
    rng : Generator, int or None
        Which images (without replacement).

    Returns
    -------
    x : ndarray, shape (batch, in_channels, input_size, input_size)
    y : ndarray of int64, shape (batch,)
    """
    gen = np.random.default_rng(rng)
    if isinstance(data, str):
        if data == "random":
            x = gen.standard_normal((batch, in_channels, input_size, input_size)).astype(dtype)
            return x, gen.integers(0, num_classes, batch).astype(np.int64)
        if data != "digits":
            raise ParameterError(f"data must be 'digits', 'random' or (X, y); got {data!r}")
        X, Y = _digits(input_size, in_channels)
    else:
        X, Y = data
        X, Y = np.asarray(X), np.asarray(Y)
    if batch > X.shape[0]:
        raise ParameterError(f"batch {batch} is larger than the {X.shape[0]} images available")
    idx = gen.choice(X.shape[0], size=batch, replace=False)
    return np.ascontiguousarray(X[idx], dtype=dtype), Y[idx].astype(np.int64)


_DIGITS_CACHE: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _digits(size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    key = (size, channels)
    if key not in _DIGITS_CACHE:
        from archmodel.datasets.images import load_digits

        ds = load_digits(size=size, channels=channels,
                         interpolation="bilinear" if size != 8 else "nearest")
        _DIGITS_CACHE[key] = (ds.X_train, ds.y_train)
    return _DIGITS_CACHE[key]


def compute_proxies(arch_or_ops: Any, proxies: str | Sequence[str] | None = None, *, C: int = 16,
                    N: int = 5, input_size: int = 32, batch: int = 64, num_classes: int = 10,
                    in_channels: int = 3, data: Any = "digits",
                    rng: np.random.Generator | int | None = None, backend: str | None = None,
                    dtype: Any = np.float32, grasp_dtype: Any = None,
                    batch_data: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """Zero-cost proxies of one NAS-Bench-201 cell on a freshly initialised network.

    Parameters
    ----------
    arch_or_ops : Arch, str or sequence of 6 str
        NB201 architecture, arch string or op names (arch-string edge order).
    proxies : str, sequence of str or None
        Names from :data:`PROXIES` (comma-separated allowed; None: all).
    C, N, input_size, num_classes, in_channels : int
        Network (see :func:`archmodel.conv.nb201.build_nb201_network`).
    batch : int
        Images in the batch of the data-dependent proxies.
    data : 'digits', 'random' or (X, y)
        Where the batch comes from (:func:`make_batch`).
    rng : Generator, int or None
        Two child seeds are drawn from it: the first initialises the network, the second
        picks the batch; the same ``rng`` seed therefore gives the same batch for every
        architecture.
    backend : str or None
        Kernel backend.
    dtype : dtype
        Network dtype for the data-dependent proxies (synflow is always float64).
    grasp_dtype : dtype or None
        Dtype of the GraSP passes (None: ``dtype``); float64 makes the finite difference
        accurate.
    batch_data : (x, y), optional
        Use this batch instead of drawing one (``data`` and the batch seed are then unused).

    Returns
    -------
    dict
        ``{proxy name: float}`` in the order requested.
    """
    names = parse_proxies(proxies)
    ops = resolve_ops(arch_or_ops)
    check_range("compute_proxies", "batch", batch, 2, integer=True)
    gen = np.random.default_rng(rng)
    init_seed, batch_seed = (int(s) for s in gen.integers(0, 2**63 - 1, size=2))
    from archmodel.conv.nb201 import build_nb201_network

    net = build_nb201_network(ops, C=C, N=N, num_classes=num_classes, in_channels=in_channels,
                              input_size=input_size, dtype=dtype, rng=init_seed, backend=backend)
    out: dict[str, float] = {}
    need_data = [p for p in names if p not in DATA_FREE]
    x = y = None
    if need_data:
        if batch_data is not None:
            x, y = batch_data
        else:
            x, y = make_batch(data, batch, input_size=input_size, in_channels=in_channels,
                              num_classes=num_classes, rng=batch_seed, dtype=dtype)
        x, y = _check_batch(net, x, y)
    shared = {"grad_norm", "snip", "plain", "fisher", "nwot"} & set(names)
    if shared or "grasp" in names:
        with _preserved(net):
            want = set(shared)
            res = _gradient_scores(net, x, y, want)
            out.update(res)
            if "grasp" in names:
                if grasp_dtype is None or np.dtype(grasp_dtype) == net.dtype:
                    g = {k: gr.copy() for k, (_, gr) in _weight_grads(net).items()}
                    out["grasp"] = _grasp_from_grad(net, x, y, g)
                else:
                    out["grasp"] = grasp(_clone(net, grasp_dtype), x, y)
    for p in names:
        if p in out:
            continue
        out[p] = _FUNCS[p](net, x, y)
    return {p: out[p] for p in names}


# --------------------------------------------------------------------------------------------
# resumable score files
# --------------------------------------------------------------------------------------------
SCORE_FILE_MAGIC = "# archmodel-zeroshot "
SCORE_FILE_VERSION = 1


def _read_score_file(path: "os.PathLike[str] | str") -> tuple[dict[str, Any] | None, list[str], dict[str, list[str]], int]:
    """Parse a score file: (settings, columns, {arch: fields}, bytes of complete lines)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    end = raw.rfind(b"\n") + 1            # a partial last line (killed run) is ignored
    lines = raw[:end].decode("utf-8").splitlines()
    if not lines:
        return None, [], {}, end
    if not lines[0].startswith(SCORE_FILE_MAGIC):
        raise FormatError(f"{path}: not an archmodel zeroshot score file (first line "
                          f"{lines[0][:60]!r}); refusing to append to it")
    try:
        settings = json.loads(lines[0][len(SCORE_FILE_MAGIC):])
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: unreadable settings line: {exc}") from None
    if len(lines) < 2:
        return settings, [], {}, end
    columns = next(csv.reader([lines[1]]))
    rows: dict[str, list[str]] = {}
    for line in lines[2:]:
        fields = next(csv.reader([line]))
        if len(fields) == len(columns):
            rows[fields[0]] = fields
    return settings, columns, rows, end


def score_file(archs: Sequence[Any], output: "os.PathLike[str] | str", *,
               proxies: str | Sequence[str] | None = None, C: int = 16, N: int = 5,
               input_size: int = 32, batch: int = 64, num_classes: int = 10,
               data: str = "digits", seed: int = 0, backend: str | None = None,
               space: str = "nb201", grasp_dtype: Any = None,
               progress: Callable[[int, int, str], None] | None = None,
               compute: Callable[..., dict[str, float]] | None = None) -> list[dict[str, Any]]:
    """Score architectures into a CSV file, resumably.

    The file starts with a settings line ``# archmodel-zeroshot {json}`` (space, proxies,
    network size, batch, data, seed, format version), then a CSV header ``arch,<proxies...>``
    and one row per architecture (canonical arch string, then ``repr`` of each score). Each
    row is appended with a single ``write`` and flushed as soon as it is computed, so a
    killed run loses at most the row in progress. Rerunning with the same ``output`` reuses
    the rows already present (matched by arch string) and computes only the missing ones; a
    partial last line is cut off first. When the run completes, the file is rewritten
    (atomically) in input order if it is not in that order already; rows of other
    architectures already in the file are kept after them. Every architecture is scored with
    ``rng=seed``, so a row does not depend on which rows were computed before it.

    Parameters
    ----------
    archs : sequence of Arch, str or 6 op names
    output : path
    proxies, C, N, input_size, batch, num_classes, data, backend
        See :func:`compute_proxies` (``data`` must be 'digits' or 'random' here).
    seed : int
    space : str
        Only 'nb201'.
    grasp_dtype : dtype or None
        See :func:`compute_proxies` (recorded in the settings line when given).
    progress : callable, optional
        ``progress(done, total, arch)`` after each architecture (skipped ones included).
    compute : callable, optional
        Replacement for :func:`compute_proxies` (same signature). The Dask engine
        (:func:`archmodel.distributed.zeroshot_file`) passes one that fetches the rows computed
        on workers; tests pass stand-ins. The rows already in ``output`` are read with
        ``_read_score_file``, which that engine uses too.

    Returns
    -------
    list of dict
        ``{'arch': str, proxy: float, ...}`` in input order (duplicates once).

    Raises
    ------
    ParameterError
        The existing file was made with different settings.
    FormatError
        The existing file is not a score file.
    """
    from archmodel.conv.nb201 import arch_string
    from archmodel.io import atomic_write

    if space != "nb201":
        raise ParameterError(f"space must be 'nb201' (the only space with a network builder); got {space!r}")
    if data not in ("digits", "random"):
        raise ParameterError(f"data must be 'digits' or 'random'; got {data!r}")
    names = parse_proxies(proxies)
    compute = compute or compute_proxies
    settings = {"format_version": SCORE_FILE_VERSION, "space": space, "proxies": list(names),
                "C": int(C), "N": int(N), "input_size": int(input_size), "batch": int(batch),
                "num_classes": int(num_classes), "data": data, "seed": int(seed)}
    if grasp_dtype is not None and "grasp" in names:
        settings["grasp_dtype"] = np.dtype(grasp_dtype).name
    keys: list[str] = []
    seen: set[str] = set()
    for a in archs:
        k = arch_string(resolve_ops(a))
        if k not in seen:
            seen.add(k)
            keys.append(k)
    columns = ["arch", *names]
    path = Path(output)
    rows: dict[str, list[str]] = {}
    if path.exists() and path.stat().st_size > 0:
        old, old_cols, rows, end = _read_score_file(path)
        if old is not None and old != settings:
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise ParameterError(
                f"{path} was written with different settings ({', '.join(f'{k}: file {old.get(k)!r} vs now {settings.get(k)!r}' for k in diff)}); "
                f"use another --output or delete it")
        if old_cols and old_cols != columns:
            raise FormatError(f"{path}: columns {old_cols} do not match {columns}")
        if end < path.stat().st_size:
            logger.warning("%s: dropping an incomplete last line (interrupted run)", path)
            os.truncate(path, end)
        if old is None or not old_cols:
            path.write_bytes(b"")
    if not path.exists() or path.stat().st_size == 0:
        with atomic_write(path) as fh:
            fh.write(SCORE_FILE_MAGIC + json.dumps(settings, sort_keys=True) + "\n")
            fh.write(",".join(columns) + "\n")
    total = len(keys)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        for i, k in enumerate(keys, start=1):
            if k not in rows:
                scores = compute(k, names, C=C, N=N, input_size=input_size, batch=batch,
                                 num_classes=num_classes, data=data, rng=seed, backend=backend,
                                 **({"grasp_dtype": grasp_dtype} if grasp_dtype is not None else {}))
                fields = [k, *(repr(float(scores[p])) for p in names)]
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerow(fields)
                os.write(fd, buf.getvalue().encode("utf-8"))
                rows[k] = fields
            if progress is not None:
                progress(i, total, k)
    finally:
        os.close(fd)
    ordered = keys + [k for k in rows if k not in seen]
    _, _, on_disk, _ = _read_score_file(path)
    if list(on_disk) != ordered:
        with atomic_write(path) as fh:
            fh.write(SCORE_FILE_MAGIC + json.dumps(settings, sort_keys=True) + "\n")
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(columns)
            for k in ordered:
                w.writerow(rows[k])
    return [{"arch": k, **{p: float(v) for p, v in zip(names, rows[k][1:])}} for k in keys]
