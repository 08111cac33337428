"""Layers with hand-written backward passes.

Every layer is a small configuration object; parameters live outside it, in a flat
``dict[str, ndarray]`` (see :mod:`archmodel.nn.params`), under names prefixed by the layer's
``name``. The protocol (autograd-style: the gradient rule sits beside, not inside, the forward
code; the arithmetic is done by backend kernels, :mod:`archmodel.backends`):

``layer.param_shapes() -> {name: shape}``
    Parameters the layer reads (empty for parameter-free layers).
``layer.init_params(rng, dtype=np.float32) -> {name: ndarray}``
    Fresh parameters from a :class:`numpy.random.Generator` (PyTorch's default scheme:
    Linear ``uniform(+-1/sqrt(fan_in))``, Embedding ``normal(0, 1)``).
``layer.forward(params, x, *, train=False, rng=None, backend=None) -> (y, cache)``
    Output and whatever the backward pass needs. ``params`` may hold other layers' entries too.
``layer.backward(grad_y, cache) -> (grad_x, grads)``
    ``grad_x`` (``None`` for integer inputs, or when the cache says it is not needed) and a dict
    ``{param name: gradient}`` with the parameters' shapes and dtype.

Weights of :class:`Linear` are stored ``[in_features, out_features]`` (``y = x @ W + b``), the
transpose of PyTorch's layout.

Dtypes: float inputs must have the parameters' dtype (float32 by default, float64 on request);
a mismatch raises :class:`~archmodel.errors.ParameterError` rather than silently casting.

Examples
--------
>>> import numpy as np
>>> from archmodel.nn import MLP
>>> mlp = MLP(8, [16, 16], 1, dropout=0.1, name="head")
>>> params = mlp.init_params(np.random.default_rng(0))
>>> sorted(params)[:2]
['head.fc0.bias', 'head.fc0.weight']
>>> x = np.ones((4, 8), np.float32)
>>> y, cache = mlp.forward(params, x, train=True, rng=np.random.default_rng(1), backend="numpy")
>>> gx, grads = mlp.backward(np.ones_like(y), cache)
>>> y.shape, gx.shape, grads["head.out.weight"].shape
((4, 1), (4, 8), (16, 1))
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.errors import ParameterError, check_range
from archmodel.nn.params import Params, check_dtype, normal_init, uniform_init

__all__ = ["Layer", "Linear", "ReLU", "Sigmoid", "Tanh", "Dropout", "Embedding", "MLP",
           "resolve_backend", "dropout_mask"]


def resolve_backend(backend: Any = None):
    """Return a :class:`archmodel.backends.Backend` for a name, a Backend, or None (default)."""
    from archmodel.backends import Backend, get_backend

    if isinstance(backend, Backend):
        return backend
    return get_backend(backend)


def _check_float_input(owner: str, x: Any, dtype: np.dtype, ndim: int | None = None,
                       last: int | None = None) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise ParameterError(f"{owner}: input must be a numpy array; got {type(x).__name__}.")
    if x.dtype != dtype:
        raise ParameterError(
            f"{owner}: input has dtype {x.dtype} but the parameters are {dtype}; cast the input "
            f"(x.astype(np.{dtype})) or initialise the parameters with dtype={str(dtype)!r}.")
    if ndim is not None and x.ndim != ndim:
        raise ParameterError(f"{owner}: input must be {ndim}-D; got shape {x.shape}.")
    if last is not None and x.shape[-1] != last:
        raise ParameterError(
            f"{owner}: input must have {last} features in its last axis; got shape {x.shape}.")
    return x


def dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float,
                 dtype: np.dtype | type = np.float32) -> np.ndarray:
    """A scaled dropout mask: each entry ``1/(1-p)`` with probability ``1-p``, else 0.

    Drawn as ``rng.random(shape, dtype=np.float32) >= p`` (float32 uniforms: twice as fast as
    float64 ones; ``p`` is resolved to 2**-24), so the same generator state gives the same mask
    for float32 and float64 parameters.
    """
    keep = rng.random(shape, dtype=np.float32) >= np.float32(p)
    return np.multiply(keep, 1.0 / (1.0 - p), dtype=dtype)


class Layer:
    """Base class: a named, parameter-free layer unless overridden."""

    name: str = "layer"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter names (with this layer's prefix) and shapes."""
        return {}

    def init_params(self, rng: np.random.Generator | int | None = None,
                    dtype: Any = np.float32) -> Params:
        """Fresh parameters (none for this layer)."""
        check_dtype(dtype, type(self).__name__)
        return {}

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Linear(Layer):
    """Affine map ``y = x @ W + b``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Whether to have ``<name>.bias``.
    name : str
        Prefix of the parameter names: ``<name>.weight`` ``[in, out]``, ``<name>.bias`` ``[out]``.

    Notes
    -----
    ``forward(params, x)`` takes ``x`` of shape ``[..., in]`` (leading axes are flattened for the
    kernel and restored) and returns ``[..., out]``.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True,
                 name: str = "linear") -> None:
        check_range("Linear", "in_features", in_features, 1, integer=True)
        check_range("Linear", "out_features", out_features, 1, integer=True)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.bias = bool(bias)
        self.name = name

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {f"{self.name}.weight": (self.in_features, self.out_features)}
        if self.bias:
            shapes[f"{self.name}.bias"] = (self.out_features,)
        return shapes

    def init_params(self, rng: np.random.Generator | int | None = None,
                    dtype: Any = np.float32) -> Params:
        """``uniform(-1/sqrt(in), 1/sqrt(in))`` for weight then bias (PyTorch's default)."""
        from archmodel.nn.params import as_rng

        dt = check_dtype(dtype, "Linear")
        rng = as_rng(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        params = {f"{self.name}.weight": uniform_init(rng, (self.in_features, self.out_features), bound, dt)}
        if self.bias:
            params[f"{self.name}.bias"] = uniform_init(rng, (self.out_features,), bound, dt)
        return params

    def forward(self, params: Mapping[str, np.ndarray], x: np.ndarray, *, train: bool = False,
                rng: Any = None, backend: Any = None) -> tuple[np.ndarray, dict]:
        """``x [..., in] -> y [..., out]``."""
        w = params[f"{self.name}.weight"]
        b = params.get(f"{self.name}.bias") if self.bias else None
        _check_float_input(f"Linear {self.name!r}", x, w.dtype, last=self.in_features)
        be = resolve_backend(backend)
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        y = be.nn.linear_forward(x2, w, b)
        return y.reshape(lead + (self.out_features,)), {"x": x2, "w": w, "lead": lead, "be": be}

    def backward(self, grad_y: np.ndarray, cache: dict, *,
                 need_grad_x: bool = True) -> tuple[np.ndarray | None, Params]:
        """``grad_y [..., out] -> (grad_x [..., in], {weight, bias grads})``."""
        g2 = grad_y.reshape(-1, self.out_features)
        gx, gw, gb = cache["be"].nn.linear_backward(g2, cache["x"], cache["w"], need_grad_x)
        grads = {f"{self.name}.weight": gw}
        if self.bias:
            grads[f"{self.name}.bias"] = gb
        if gx is not None:
            gx = gx.reshape(cache["lead"] + (self.in_features,))
        return gx, grads


class _Activation(Layer):
    _kernel = ""

    def __init__(self, *, name: str = "act") -> None:
        self.name = name

    def forward(self, params: Mapping[str, np.ndarray] | None, x: np.ndarray, *,
                train: bool = False, rng: Any = None, backend: Any = None) -> tuple[np.ndarray, dict]:
        """Element-wise; any shape; float32/float64."""
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
            raise ParameterError(
                f"{type(self).__name__}: input must be a float numpy array; got "
                f"{getattr(x, 'dtype', type(x).__name__)}.")
        check_dtype(x.dtype, type(self).__name__)
        be = resolve_backend(backend)
        y = getattr(be.nn, f"{self._kernel}_forward")(x)
        return y, {"y": y, "be": be}

    def backward(self, grad_y: np.ndarray, cache: dict) -> tuple[np.ndarray, Params]:
        """Element-wise gradient from the cached output."""
        return getattr(cache["be"].nn, f"{self._kernel}_backward")(grad_y, cache["y"]), {}


class ReLU(_Activation):
    """``max(x, 0)``."""

    _kernel = "relu"


class Sigmoid(_Activation):
    """Logistic sigmoid."""

    _kernel = "sigmoid"


class Tanh(_Activation):
    """Hyperbolic tangent."""

    _kernel = "tanh"


class Dropout(Layer):
    """Inverted dropout: in training, ``y = x * mask`` with ``mask`` in ``{0, 1/(1-p)}``.

    Parameters
    ----------
    p : float in [0, 1)
        Drop probability.

    Notes
    -----
    ``forward(params, x, train=True, rng=..., mask=None)``: the mask is drawn from ``rng`` with
    :func:`dropout_mask` unless given (kernels never draw random numbers). With
    ``train=False`` or ``p == 0`` the layer is the identity.
    """

    def __init__(self, p: float = 0.5, *, name: str = "dropout") -> None:
        check_range("Dropout", "p", p, 0.0, 1.0, high_inclusive=False)
        self.p = float(p)
        self.name = name

    def forward(self, params: Mapping[str, np.ndarray] | None, x: np.ndarray, *,
                train: bool = False, rng: Any = None, mask: np.ndarray | None = None,
                backend: Any = None) -> tuple[np.ndarray, dict]:
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
            raise ParameterError("Dropout: input must be a float numpy array.")
        if not train or self.p == 0.0:
            return x, {"mask": None, "be": None}
        if mask is None:
            if rng is None:
                raise ParameterError("Dropout: train=True with p > 0 needs rng= or mask=.")
            from archmodel.nn.params import as_rng

            mask = dropout_mask(as_rng(rng), x.shape, self.p, x.dtype)
        elif mask.shape != x.shape or mask.dtype != x.dtype:
            raise ParameterError(
                f"Dropout: mask must have the input's shape {x.shape} and dtype {x.dtype}; "
                f"got {mask.shape} {mask.dtype}.")
        be = resolve_backend(backend)
        return be.nn.dropout_forward(x, mask), {"mask": mask, "be": be}

    def backward(self, grad_y: np.ndarray, cache: dict) -> tuple[np.ndarray, Params]:
        if cache["mask"] is None:
            return grad_y, {}
        return cache["be"].nn.dropout_backward(grad_y, cache["mask"]), {}


class Embedding(Layer):
    """Table lookup ``y = table[idx]``.

    Parameters
    ----------
    num_embeddings, embedding_dim : int
    name : str
        Parameter ``<name>.weight`` ``[num_embeddings, embedding_dim]``, initialised
        ``normal(0, 1)`` (PyTorch's default).

    Notes
    -----
    ``forward(params, idx)``: ``idx`` integer array of any shape ``S`` with values in
    ``[0, num_embeddings)`` -> ``S + (embedding_dim,)``. ``backward`` returns ``grad_x = None``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *, name: str = "embedding") -> None:
        check_range("Embedding", "num_embeddings", num_embeddings, 1, integer=True)
        check_range("Embedding", "embedding_dim", embedding_dim, 1, integer=True)
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.name = name

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {f"{self.name}.weight": (self.num_embeddings, self.embedding_dim)}

    def init_params(self, rng: np.random.Generator | int | None = None,
                    dtype: Any = np.float32) -> Params:
        from archmodel.nn.params import as_rng

        dt = check_dtype(dtype, "Embedding")
        return {f"{self.name}.weight": normal_init(as_rng(rng), (self.num_embeddings, self.embedding_dim), 1.0, dt)}

    def forward(self, params: Mapping[str, np.ndarray], idx: np.ndarray, *, train: bool = False,
                rng: Any = None, backend: Any = None) -> tuple[np.ndarray, dict]:
        idx = np.asarray(idx)
        if idx.dtype.kind not in "iu":
            raise ParameterError(f"Embedding {self.name!r}: indices must be integers; got {idx.dtype}.")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            raise ParameterError(
                f"Embedding {self.name!r}: indices must be in [0, {self.num_embeddings}); got "
                f"values in [{idx.min()}, {idx.max()}].")
        idx = idx.astype(np.int64, copy=False)
        be = resolve_backend(backend)
        table = params[f"{self.name}.weight"]
        return be.nn.embedding_forward(table, idx), {"idx": idx, "be": be}

    def backward(self, grad_y: np.ndarray, cache: dict) -> tuple[None, Params]:
        g = cache["be"].nn.embedding_backward(grad_y, cache["idx"], self.num_embeddings)
        return None, {f"{self.name}.weight": g}


class MLP(Layer):
    """Multi-layer perceptron: ``[Linear -> ReLU -> Dropout] * len(hidden) -> Linear``.

    Parameters
    ----------
    in_features : int
    hidden_sizes : sequence of int
        Widths of the hidden layers (may be empty: a single Linear).
    out_features : int
        Output width (1 for a scalar score).
    dropout : float in [0, 1)
        Drop probability after each hidden ReLU (training only).
    name : str
        Parameters ``<name>.fc{i}.weight`` ``[in_i, hidden_i]``, ``<name>.fc{i}.bias`` and
        ``<name>.out.weight`` ``[hidden_last, out]``, ``<name>.out.bias`` ``[out]``.

    Notes
    -----
    ``forward(params, x [M, in], *, train, rng=None, masks=None, backend)`` returns
    ``y [M, out]``; in training with ``dropout > 0`` the masks (one ``[M, hidden_i]`` array per
    hidden layer, see :meth:`draw_masks`) are drawn from ``rng`` unless given. Each hidden layer
    runs as one fused backend kernel (``nn.dense_forward``/``nn.dense_backward``).
    """

    def __init__(self, in_features: int, hidden_sizes: Sequence[int], out_features: int = 1, *,
                 dropout: float = 0.0, name: str = "mlp") -> None:
        check_range("MLP", "in_features", in_features, 1, integer=True)
        check_range("MLP", "out_features", out_features, 1, integer=True)
        check_range("MLP", "dropout", dropout, 0.0, 1.0, high_inclusive=False)
        hidden = list(hidden_sizes)
        for h in hidden:
            check_range("MLP", "hidden_sizes", h, 1, integer=True)
        self.in_features = int(in_features)
        self.hidden_sizes = [int(h) for h in hidden]
        self.out_features = int(out_features)
        self.dropout = float(dropout)
        self.name = name
        dims = [self.in_features] + self.hidden_sizes
        self.layers = [Linear(dims[i], dims[i + 1], name=f"{name}.fc{i}") for i in range(len(hidden))]
        self.layers.append(Linear(dims[-1], self.out_features, name=f"{name}.out"))

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in self.layers:
            shapes.update(layer.param_shapes())
        return shapes

    def init_params(self, rng: np.random.Generator | int | None = None,
                    dtype: Any = np.float32) -> Params:
        """Each Linear in order (fc0, fc1, ..., out), PyTorch's default scheme."""
        from archmodel.nn.params import as_rng

        check_dtype(dtype, "MLP")
        rng = as_rng(rng)
        params: Params = {}
        for layer in self.layers:
            params.update(layer.init_params(rng, dtype))
        return params

    def draw_masks(self, rng: np.random.Generator, n_rows: int,
                   dtype: Any = np.float32) -> list[np.ndarray] | None:
        """Dropout masks for a batch of ``n_rows`` (None when ``dropout == 0``)."""
        if self.dropout == 0.0:
            return None
        return [dropout_mask(rng, (n_rows, h), self.dropout, dtype) for h in self.hidden_sizes]

    def forward(self, params: Mapping[str, np.ndarray], x: np.ndarray, *, train: bool = False,
                rng: Any = None, masks: Sequence[np.ndarray] | None = None,
                backend: Any = None) -> tuple[np.ndarray, dict]:
        w0 = params[f"{self.layers[0].name}.weight"]
        _check_float_input(f"MLP {self.name!r}", x, w0.dtype, ndim=2, last=self.in_features)
        be = resolve_backend(backend)
        use_masks = None
        if train and self.dropout > 0 and self.hidden_sizes:
            if masks is None:
                if rng is None:
                    raise ParameterError(f"MLP {self.name!r}: train=True with dropout needs rng= or masks=.")
                from archmodel.nn.params import as_rng

                masks = self.draw_masks(as_rng(rng), x.shape[0], x.dtype)
            if len(masks) != len(self.hidden_sizes):
                raise ParameterError(
                    f"MLP {self.name!r}: expected {len(self.hidden_sizes)} dropout masks; got {len(masks)}.")
            for m, h in zip(masks, self.hidden_sizes):
                if m.shape != (x.shape[0], h) or m.dtype != x.dtype:
                    raise ParameterError(
                        f"MLP {self.name!r}: dropout mask must be {(x.shape[0], h)} {x.dtype}; "
                        f"got {m.shape} {m.dtype}.")
            use_masks = list(masks)
        acts = [x]
        h = x
        n_hidden = len(self.hidden_sizes)
        for i, layer in enumerate(self.layers):
            w = params[f"{layer.name}.weight"]
            b = params[f"{layer.name}.bias"]
            is_hidden = i < n_hidden
            mask = use_masks[i] if (use_masks is not None and is_hidden) else None
            h = be.nn.dense_forward(h, w, b, is_hidden, mask)
            acts.append(h)
        return h, {"acts": acts, "masks": use_masks, "params": params, "be": be}

    def predict(self, params: Mapping[str, np.ndarray], x: np.ndarray, *, backend: Any = None,
                block_rows: int = 1024, n_jobs: int | None = 1) -> np.ndarray:
        """Evaluation-mode output ``[M, out]`` without a cache.

        Rows are processed in blocks of ``block_rows`` through all layers (activations stay in
        cache and no large temporaries are kept alive), blocks spread over ``n_jobs`` threads.
        Same values as ``forward(..., train=False)[0]``.
        """
        from archmodel.nn.parallel import chunk_slices, map_chunks, resolve_n_jobs

        w0 = params[f"{self.layers[0].name}.weight"]
        _check_float_input(f"MLP {self.name!r}", x, w0.dtype, ndim=2, last=self.in_features)
        be = resolve_backend(backend)
        out = np.empty((x.shape[0], self.out_features), dtype=x.dtype)
        n_hidden = len(self.hidden_sizes)
        blocks = chunk_slices(x.shape[0], block_rows)

        def run(i: int) -> None:
            h = x[blocks[i]]
            for j, layer in enumerate(self.layers):
                h = be.nn.dense_forward(h, params[f"{layer.name}.weight"],
                                        params[f"{layer.name}.bias"], j < n_hidden, None)
            out[blocks[i]] = h

        map_chunks(run, len(blocks), resolve_n_jobs(n_jobs, "MLP.predict"))
        return out

    #: A layer's ``grad_w`` and ``grad_x`` products run on two threads (``n_jobs > 1``) from
    #: this many multiply-adds each (below it a thread hand-off costs more than it saves).
    PAIR_MIN_MACS = 1 << 21

    def backward(self, grad_y: np.ndarray, cache: dict, *, need_grad_x: bool = True,
                 n_jobs: int = 1) -> tuple[np.ndarray | None, Params]:
        """Gradients of :meth:`forward` -> ``(grad_x or None, {parameter name: gradient})``.

        With ``n_jobs > 1``, a layer with at least :attr:`PAIR_MIN_MACS` multiply-adds computes
        ``grad_x`` (``nn.dense_backward_input``) on a second thread while this one computes
        ``grad_w`` and ``grad_b``: the same kernels' results, so the same numbers.
        """
        from archmodel.nn.parallel import run_pair

        be = cache["be"]
        acts = cache["acts"]
        masks = cache["masks"]
        params = cache["params"]
        n_hidden = len(self.hidden_sizes)
        grads: Params = {}
        g = grad_y
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            is_hidden = i < n_hidden
            mask = masks[i] if (masks is not None and is_hidden) else None
            w = params[f"{layer.name}.weight"]
            x, y = acts[i], acts[i + 1]
            need = need_grad_x or i > 0
            if need and n_jobs > 1 and x.shape[0] * w.size >= self.PAIR_MIN_MACS:
                (_, gw, gb), gx = run_pair(
                    lambda: be.nn.dense_backward(g, x, w, y, is_hidden, mask, False),
                    lambda: be.nn.dense_backward_input(g, w, y, is_hidden, mask), n_jobs)
            else:
                gx, gw, gb = be.nn.dense_backward(g, x, w, y, is_hidden, mask, need)
            grads[f"{layer.name}.weight"] = gw
            grads[f"{layer.name}.bias"] = gb
            g = gx
        return g, grads
