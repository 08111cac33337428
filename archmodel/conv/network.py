"""The :class:`Network` object: a layer tree plus forward/backward, parameters, persistence.

A network maps images ``(N, C_in, H, W)`` to logits ``(N, num_classes)``. It is built by a
builder (e.g. :func:`archmodel.conv.nb201.build_nb201_network`) that records its arguments in
``network.config`` so that a saved network can be rebuilt and its arrays loaded.

Everything a gradient- or activation-based analysis of one batch needs is one call away::

    net = build_nb201_network(ops, C=16, N=5, rng=0)
    loss, logits = net.loss_and_grad(x, y)           # zero_grad + forward + backward
    grads = net.gradients()                          # {name: array}, same keys as parameters()
    dx = net.input_gradient                          # d loss / d x, shape of x
    acts = net.activations(x, kind=ReLU)             # {layer name: ReLU output}
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Callable, Iterator

import numpy as np

from archmodel.conv.layers import Context, Hook, Layer, ReLU
from archmodel.errors import FormatError, ParameterError

FORMAT_NAME = "archmodel.network"
FORMAT_VERSION = 1

#: kind -> function(config dict) -> Network. Each builder module (e.g. :mod:`archmodel.conv.nb201`)
#: adds its entry when it is imported, and the package ``archmodel/conv/__init__.py`` imports
#: every builder module. Python runs that package file before any of its modules, so the table
#: is full whenever this module is in use, and this module never imports a builder (the builders
#: sit above it).
BUILDERS: dict[str, Callable[[dict[str, Any]], "Network"]] = {}


def single_thread_blas() -> contextlib.AbstractContextManager:
    """:func:`archmodel.utils.blas_threads` ``(1)`` (free when already inside such a block).

    The kernels parallelise over the batch themselves; a multi-threaded BLAS under them
    oversubscribes the cores (and is slower on their small matrices).
    """
    from archmodel.utils import blas_threads

    return blas_threads(1)


class Network:
    """An image classifier made of :mod:`archmodel.conv.layers`.

    Parameters
    ----------
    body : Layer
        The layer tree (names are assigned here).
    kind : str
        Builder name, for :meth:`load` (e.g. ``'nb201'``).
    config : dict
        JSON-serialisable builder arguments; must contain ``in_channels``, ``input_size``
        and ``num_classes``.
    backend : str or None
        Kernel backend (``'numpy'`` or ``'numba'``); None resolves it at each call
        (:func:`archmodel.config.resolve_backend_name`).
    dtype : dtype
        Parameter dtype; inputs are cast to it.

    Attributes
    ----------
    input_gradient : ndarray or None
        ``d loss / d input`` from the last :meth:`backward` (shape of the input).
    """

    def __init__(self, body: Layer, *, kind: str, config: dict[str, Any],
                 backend: str | None = None, dtype: Any = np.float32) -> None:
        self.body = body
        self.kind = kind
        self.config = dict(config)
        self.backend = backend
        self.dtype = np.dtype(dtype)
        self.input_gradient: np.ndarray | None = None
        self.metadata: dict[str, Any] = {}
        self._ctx: Context | None = None
        body.set_names("")

    # -- introspection -----------------------------------------------------------------------
    @property
    def in_channels(self) -> int:
        return int(self.config["in_channels"])

    @property
    def input_size(self) -> int:
        return int(self.config["input_size"])

    @property
    def num_classes(self) -> int:
        return int(self.config["num_classes"])

    def modules(self) -> Iterator[Layer]:
        """Every layer (containers and leaves), depth-first in forward order."""
        return self.body.modules()

    def layers(self, kind: type | tuple[type, ...] | None = None) -> dict[str, Layer]:
        """Leaf layers by name (optionally only instances of ``kind``), in forward order."""
        out = {}
        for m in self.body.modules():
            if not m.children() and (kind is None or isinstance(m, kind)):
                out[m.name] = m
        return out

    def parameters(self) -> dict[str, np.ndarray]:
        """Trainable arrays by name (the live arrays: in-place edits change the network)."""
        return dict(self.body.named_parameters())

    def gradients(self) -> dict[str, np.ndarray]:
        """Accumulated gradients by parameter name (live arrays; see :meth:`zero_grad`)."""
        return dict(self.body.named_gradients())

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state (batch-norm running statistics) by name."""
        return dict(self.body.named_buffers())

    def num_parameters(self) -> int:
        """Number of trainable scalars (batch-norm affine weights count, running stats not)."""
        return int(sum(p.size for p in self.parameters().values()))

    def zero_grad(self) -> None:
        self.body.zero_grad()

    # -- computation -------------------------------------------------------------------------
    def _kernels(self) -> Any:
        from archmodel.backends import get_backend

        return get_backend(self.backend).conv

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        expect = (self.in_channels, self.input_size, self.input_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expect:
            raise ParameterError(
                f"{type(self).__name__} expects images of shape (N, {expect[0]}, {expect[1]}, "
                f"{expect[2]}); got {x.shape}.")
        if x.shape[0] < 1:
            raise ParameterError("empty batch")
        return np.ascontiguousarray(x, dtype=self.dtype)

    def forward(self, x: np.ndarray, *, train: bool = True, hook: Hook | None = None) -> np.ndarray:
        """Logits ``(N, num_classes)`` for images ``x`` ``(N, C_in, H, W)``.

        Parameters
        ----------
        train : bool
            Training mode (batch statistics; running statistics are updated) or evaluation
            mode (running statistics).
        hook : callable, optional
            ``hook(name, layer, x, y)`` after each leaf layer.
        """
        x = self._check_input(x)
        ctx = Context(kernels=self._kernels(), train=train, hook=hook)
        with single_thread_blas():
            y = self.body.forward(x, ctx)
        self._ctx = ctx
        return y

    def backward(self, dlogits: np.ndarray) -> np.ndarray:
        """Back-propagate ``d loss / d logits`` through the last forward pass.

        Gradients are *added* to :meth:`gradients` (call :meth:`zero_grad` first).

        Returns
        -------
        ndarray
            ``d loss / d input``, shape of the forward input (also kept in
            :attr:`input_gradient`).
        """
        if self._ctx is None:
            raise RuntimeError("Network.backward called before forward")
        dlogits = np.ascontiguousarray(dlogits, dtype=self.dtype)
        with single_thread_blas():
            dx = self.body.backward(dlogits, self._ctx)
        self.body.clear_cache()
        self._ctx = None
        self.input_gradient = dx
        return dx

    def loss(self, logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean softmax cross-entropy and ``d loss / d logits``."""
        labels = np.asarray(labels)
        if labels.shape != (logits.shape[0],) or labels.dtype.kind not in "iu":
            raise ParameterError(f"labels must be integers of shape ({logits.shape[0]},); got "
                                 f"{labels.dtype} {labels.shape}.")
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ParameterError(f"labels must lie in [0, {self.num_classes}); got "
                                 f"[{labels.min()}, {labels.max()}].")
        return self._kernels().softmax_cross_entropy(logits, labels.astype(np.int64))

    def loss_and_grad(self, x: np.ndarray, labels: np.ndarray, *, train: bool = True,
                      hook: Hook | None = None, zero_grad: bool = True) -> tuple[float, np.ndarray]:
        """One forward/backward pass over a batch: ``(mean loss, logits)``.

        Afterwards :meth:`gradients` holds ``d loss / d parameter`` (added to the previous
        values if ``zero_grad`` is False) and :attr:`input_gradient` ``d loss / d x``.
        """
        if zero_grad:
            self.zero_grad()
        logits = self.forward(x, train=train, hook=hook)
        loss, dlogits = self.loss(logits, labels)
        self.backward(dlogits)
        return loss, logits

    def predict(self, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """Logits in evaluation mode, in batches (no state is changed)."""
        x = np.asarray(x)
        out = []
        for i in range(0, x.shape[0], batch_size):
            out.append(self.forward(x[i:i + batch_size], train=False))
            self.body.clear_cache()
            self._ctx = None
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.num_classes), self.dtype)

    def activations(self, x: np.ndarray, *, kind: type | tuple[type, ...] = ReLU,
                    train: bool = True, inputs: bool = False) -> dict[str, np.ndarray]:
        """Outputs (or inputs) of every leaf layer of type ``kind`` for one batch.

        The forward pass runs in the given mode (training mode updates batch-norm running
        statistics, as in PyTorch); nothing is kept for a backward pass.
        """
        acts: dict[str, np.ndarray] = {}

        def hook(name: str, layer: Layer, xin: np.ndarray, y: np.ndarray) -> None:
            if isinstance(layer, kind):
                acts[name] = xin if inputs else y

        self.forward(x, train=train, hook=hook)
        self.body.clear_cache()
        self._ctx = None
        return acts

    def astype(self, dtype: Any) -> "Network":
        """Convert parameters, gradients and buffers to ``dtype`` in place; returns self."""
        self.body.astype(dtype)
        self.dtype = np.dtype(dtype)
        self.config["dtype"] = self.dtype.name
        return self

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all parameters and buffers by name."""
        out = {k: v.copy() for k, v in self.parameters().items()}
        out.update({k: np.array(v, copy=True) for k, v in self.buffers().items()})
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the network; names and shapes must match exactly.

        Raises
        ------
        FormatError
            On missing, unexpected or wrongly shaped arrays.
        """
        own: dict[tuple[Layer, str, str], np.ndarray] = {}
        for m in self.body.modules():
            for k, v in m.params.items():
                own[(m, "params", k)] = v
            for k, v in m.buffers.items():
                own[(m, "buffers", k)] = v
        names = {f"{m.name}.{k}": (m, d, k) for (m, d, k) in own}
        missing = sorted(set(names) - set(state))
        unexpected = sorted(set(state) - set(names))
        if missing or unexpected:
            raise FormatError(f"state does not match the network: missing {missing[:5]}"
                              f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                              f"{'...' if len(unexpected) > 5 else ''}")
        for name, (m, d, k) in names.items():
            cur = getattr(m, d)[k]
            new = np.asarray(state[name])
            if new.shape != cur.shape:
                raise FormatError(f"array {name!r} has shape {new.shape}, the network needs {cur.shape}")
            np.copyto(cur, new, casting="unsafe")   # in place: live references stay valid
        self.zero_grad()

    def load_buffers(self, buffers: dict[str, np.ndarray]) -> None:
        """Set the non-trainable state (:meth:`buffers`, e.g. saved copies) by name.

        Raises
        ------
        FormatError
            When the names differ from the network's.
        """
        own = {f"{m.name}.{k}": (m, k) for m in self.body.modules() for k in m.buffers}
        if set(own) != set(buffers):
            raise FormatError(f"buffers do not match the network: missing "
                              f"{sorted(set(own) - set(buffers))[:5]}, unexpected "
                              f"{sorted(set(buffers) - set(own))[:5]}")
        for name, (m, k) in own.items():
            m.buffers[k] = np.array(buffers[name], dtype=m.buffers[k].dtype, copy=True)

    def save(self, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None) -> None:
        """Save weights and buffers to ``path`` (``.npz`` + JSON header, written atomically).

        Header: ``format='archmodel.network'``, ``format_version=1``, ``kind``, ``config``
        (builder arguments), ``parameters`` and ``buffers`` (names), ``metadata``.
        """
        from archmodel.io import save_npz

        arrays = self.state_dict()
        header = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "config": self.config,
            "dtype": self.dtype.name,
            "parameters": list(self.parameters()),
            "buffers": list(self.buffers()),
            "metadata": dict(metadata or {}),
        }
        json.dumps(header)  # fail early (before writing) on non-JSON metadata
        save_npz(path, arrays, header)

    @classmethod
    def load(cls, path: str | os.PathLike, *, backend: str | None = None) -> "Network":
        """Rebuild a saved network and load its arrays.

        Raises
        ------
        FormatError
            Wrong format, unsupported version, unknown kind (one not in :data:`BUILDERS`), or
            arrays that do not match.
        FileNotFoundError
        """
        from archmodel.io import load_npz

        arrays, header = load_npz(path, expected_format=FORMAT_NAME,
                                  supported_versions=(FORMAT_VERSION,))
        kind = header.get("kind")
        if kind not in BUILDERS:
            raise FormatError(f"{path}: unknown network kind {kind!r}; known: {sorted(BUILDERS)}")
        config = dict(header.get("config") or {})
        config["backend"] = backend
        try:
            net = BUILDERS[kind](config)
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{path}: cannot rebuild the {kind!r} network from its header: {exc}") from None
        net.load_state_dict(arrays)
        net.metadata = dict(header.get("metadata") or {})
        return net

    def __repr__(self) -> str:
        return (f"Network(kind={self.kind!r}, params={self.num_parameters()}, "
                f"dtype={self.dtype.name}, config={self.config})")
