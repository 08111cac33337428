"""Baseline predictors the field compares GATES against, as array-level score models.

Three encoders, each followed by the same MLP head as :class:`~archmodel.models.gates.GATESModel`
(``[Linear -> ReLU -> Dropout] * len(mlp_hidden) -> Linear(1)``, parameters ``head.*``):

:class:`MLPModel`
    No encoder: the head reads the concatenated one-hot of the decisions,
    ``batch = {"onehot": float [B, D]}`` from :meth:`SearchSpace.onehot
    <archmodel.spaces.base.SearchSpace.onehot>` (``D = sum(decision_sizes)``).
:class:`LSTMModel`
    ``batch = {"seq": int [B, T]}`` from :meth:`SearchSpace.sequences
    <archmodel.spaces.base.SearchSpace.sequences>`. Decision ``t`` with choice ``v`` is embedded
    as row ``offset[t] + v`` of one shared table (``offset`` = cumulative decision sizes, so each
    position has its own rows); a single-layer LSTM (gate order ``i, f, g, o``, zero initial
    state, hand-written back-propagation through time in the ``rnn`` kernel family) runs over
    the sequence and its last hidden state feeds the head.
:class:`GCNModel`
    The same inputs as GATES (:meth:`SearchSpace.to_arrays
    <archmodel.spaces.base.SearchSpace.to_arrays>`): ``{"edges": int [B, (C,) E, 3]}`` for
    operation-on-edge spaces, ``{"adj": [B, (C,) N, N], "node_ops": int [B, (C,) N]}`` for
    operation-on-node spaces. Each cell becomes a graph with one-hot node features:

    * operation on node: the cell itself; features = the node's operation (``n_ops``);
    * operation on edge: a **line graph** with one node per edge slot, plus one node per cell
      input and one output node (``M = n_inputs + E + 1`` nodes). An edge-node ``s -> d``
      receives from the edge-nodes ending in ``s`` (or from input node ``s`` if ``s`` is an
      input) and sends to the output node if ``d`` is the cell's output. Edge-nodes with the
      ``none`` operation (which also pads cells with fewer edges) are isolated: no information
      flows through them. Features: the edge's operation (``0..n_ops-1``), ``n_ops + k`` for
      input ``k``, ``n_ops + n_inputs`` for the output node.

    The directed adjacency ``A`` is symmetrised and normalised with self-loops as in Kipf &
    Welling (ICLR 2017): ``A_hat = D^-1/2 (A + A^T + I) D^-1/2``. Layer ``l`` computes
    ``H_{l+1} = act(A_hat H_l W_l + b_l)`` (ReLU on every layer but the last, as GATES; the first
    layer's ``H_0 W_0`` is a row lookup since ``H_0`` is one-hot); the readout is the mean over
    the graph's nodes (``readout='mean'``) or the output node's state (``'output'``). Each cell
    has its own GCN parameters and the readouts are concatenated, as in GATES.

All three follow :class:`~archmodel.models.gates.GATESModel`'s interface exactly (the
:class:`~archmodel.nn.train.ScoreModel` protocol plus ``get_config``, ``param_shapes``,
``init_params``, ``check_params``, ``check_batch``, ``value_and_grad``, ``predict``, ``embed``,
``embedding_dim``; batches are cut into ``chunk_size`` chunks run on ``n_jobs`` threads, a
function of the batch size only), so the same training code and predictor wrapper use them.
Each class also has ``from_space(space, **kwargs)`` (sizes read from a search space) and
``encode(space, archs)`` (the input arrays).

Parameter names and initialisation (PyTorch defaults unless noted)::

    MLPModel   head.fc{i}.weight [in_i, mlp_hidden[i]], head.fc{i}.bias, head.out.*
    LSTMModel  encoder.embedding.weight [sum(decision_sizes), emb_dim]   normal(0, 1)
               encoder.lstm.w_ih [emb_dim, 4H], encoder.lstm.w_hh [H, 4H],
               encoder.lstm.bias [4H]                                    uniform(+-1/sqrt(H))
    GCNModel   encoder.cell{c}.gcn{l}.weight [F_l, H_l]   Glorot uniform (Kipf & Welling)
               encoder.cell{c}.gcn{l}.bias   [H_l]        zeros

Examples
--------
>>> import numpy as np
>>> from archmodel.spaces import get_space
>>> from archmodel.models.baselines import LSTMModel
>>> sp = get_space("nb201")
>>> model = LSTMModel.from_space(sp, emb_dim=8, hidden_dim=16, mlp_hidden=(16,))
>>> params = model.init_params(np.random.default_rng(0), dtype=np.float64)
>>> batch = model.encode(sp, sp.sample(4, rng=0))
>>> scores, cache = model.forward(params, batch, backend="numpy")
>>> grads = model.backward(cache, np.ones_like(scores))
>>> scores.shape, batch["seq"].shape, grads["encoder.lstm.w_hh"].shape
((4,), (4, 6), (16, 64))
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.errors import ParameterError, check_choice, check_range
from archmodel.models._base import ScoreModel
from archmodel.nn.layers import MLP, resolve_backend
from archmodel.nn.parallel import chunk_slices, map_chunks, resolve_n_jobs, single_threaded_blas
from archmodel.nn.params import (Params, as_rng, normal_init, uniform_init)

logger = logging.getLogger(__name__)

__all__ = ["BaselineModel", "MLPModel", "LSTMModel", "GCNModel", "gcn_graphs", "normalize_adjacency"]

KINDS = ("edge", "node")
READOUTS = ("mean", "output")


# ============================================================================ shared machinery
class BaselineModel(ScoreModel):
    """Encoder + MLP head; chunked, threaded forward/backward (shared by the baselines).

    Subclasses implement ``_encoder_shapes``, ``_init_encoder``, ``_prepare`` (validate the
    batch and precompute per-architecture arrays, first axis ``B``), ``_encode`` and
    ``_encode_backward``, and set ``embedding_dim``.

    Parameters
    ----------
    mlp_hidden : sequence of int
        Hidden widths of the head.
    dropout : float in [0, 1)
        Dropout after each hidden layer of the head, in training.
    chunk_size, predict_chunk_size : int >= 1
        Rows per chunk in training/gradient passes and in :meth:`predict`/:meth:`embed`.
    n_jobs : int or None
        Worker threads for the chunks (None: every CPU this process may use).
    """

    _owner = "BaselineModel"
    _needs_grad_x = True

    def _init_head(self, mlp_hidden: Sequence[int], dropout: float, chunk_size: int,
                   predict_chunk_size: int, n_jobs: int | None) -> None:
        owner = self._owner
        self.mlp_hidden = [int(check_range(owner, "mlp_hidden", h, 1, integer=True)) for h in mlp_hidden]
        self.dropout = float(check_range(owner, "dropout", dropout, 0.0, 1.0, high_inclusive=False))
        self.chunk_size = check_range(owner, "chunk_size", chunk_size, 1, integer=True)
        self.predict_chunk_size = check_range(owner, "predict_chunk_size", predict_chunk_size, 1,
                                              integer=True)
        self.n_jobs = None if n_jobs is None else resolve_n_jobs(n_jobs, owner)
        self.head = MLP(self.embedding_dim, self.mlp_hidden, 1, dropout=self.dropout, name="head")

    # ------------------------------------------------------------------ hooks
    @property
    def embedding_dim(self) -> int:  # pragma: no cover - abstract
        """Width of the head's input (what :meth:`embed` returns)."""
        raise NotImplementedError

    def _encoder_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def _init_encoder(self, rng: np.random.Generator, dt: np.dtype) -> Params:
        return {}

    def encoder_forward(self, params: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray], *,
                        backend: Any = None) -> tuple[np.ndarray, dict]:
        """The encoder alone (no head), with a cache for :meth:`encoder_backward`: features
        ``[B, embedding_dim]`` (as :meth:`GATESModel.encoder_forward`)."""
        be = resolve_backend(backend)
        dtype = self.check_params(params)
        if not isinstance(batch, Mapping):
            raise ParameterError(f"{self._owner}: batch must be a mapping of arrays; got {type(batch).__name__}.")
        arrays = self._prepare(batch, dtype)
        with single_threaded_blas():
            x, enc = self._encode(params, arrays, be)
        return x, {"params": params, "enc": enc, "be": be, "dtype": dtype}

    def encoder_backward(self, cache: dict, grad_x: np.ndarray) -> Params:
        """Gradients of ``sum(grad_x * encoder_forward(...)[0])`` w.r.t. the encoder's parameters
        (none for the MLP baseline, whose encoder is the encoding itself)."""
        grad_x = np.ascontiguousarray(grad_x, dtype=cache["dtype"])
        with single_threaded_blas():
            return self._encode_backward(cache["params"], cache["enc"], grad_x, cache["be"])

    def _prepare(self, batch: Mapping[str, np.ndarray], dtype: np.dtype) -> dict[str, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _encode(self, params: Mapping[str, np.ndarray], arrays: Mapping[str, np.ndarray],
                be) -> tuple[np.ndarray, Any]:  # pragma: no cover
        raise NotImplementedError

    def _encode_backward(self, params: Mapping[str, np.ndarray], cache: Any, d_x: np.ndarray,
                         be) -> Params:
        return {}

    # ------------------------------------------------------------------ configuration
    def get_config(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """JSON-serialisable constructor arguments (``type(self)(**config)`` rebuilds it)."""
        raise NotImplementedError

    def _head_config(self) -> dict[str, Any]:
        return {"mlp_hidden": list(self.mlp_hidden), "dropout": self.dropout,
                "chunk_size": self.chunk_size, "predict_chunk_size": self.predict_chunk_size,
                "n_jobs": self.n_jobs}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def check_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Validate a batch; return the arrays the encoder consumes (first axis ``B``).

        Raises
        ------
        ParameterError
            With the offending key, shape, dtype or value.
        """
        if not isinstance(batch, Mapping):
            raise ParameterError(f"{self._owner}: batch must be a mapping of arrays; got {type(batch).__name__}.")
        return self._prepare(batch, np.dtype(np.float64))

    # ------------------------------------------------------------------ passes
    def forward(self, params: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray], *,
                train: bool = False, rng: np.random.Generator | int | None = None,
                masks: Sequence[np.ndarray] | None = None,
                backend: Any = None) -> tuple[np.ndarray, dict]:
        """Scores of a batch, plus the cache :meth:`backward` needs.

        Parameters
        ----------
        params : dict[str, ndarray]
            From :meth:`init_params` (float32 or float64; computation uses that dtype).
        batch : mapping
            The model's input arrays (see the class docstring).
        train : bool
            Training mode: dropout on in the head.
        rng : Generator, int or None
            Draws the dropout masks (training with ``dropout > 0`` and no ``masks``).
        masks : list of ndarray, optional
            Head dropout masks ``[B, mlp_hidden[i]]`` (scaled, see :func:`archmodel.nn.dropout_mask`).
        backend : str, Backend or None

        Returns
        -------
        scores : ndarray [B]
        cache : dict
        """
        be = resolve_backend(backend)
        dtype = self.check_params(params)
        if not isinstance(batch, Mapping):
            raise ParameterError(f"{self._owner}: batch must be a mapping of arrays; got {type(batch).__name__}.")
        arrays = self._prepare(batch, dtype)
        b = int(next(iter(arrays.values())).shape[0])
        if b == 0:
            raise ParameterError(f"{self._owner}: the batch is empty (B = 0).")
        masks, draw = self._dropout_plan(train, masks, rng, b, dtype)
        if draw:
            masks = self.head.draw_masks(as_rng(rng), b, dtype)
        slices = chunk_slices(b, self.chunk_size)
        n_jobs = resolve_n_jobs(self.n_jobs)

        def run(i: int):
            sl = slices[i]
            x, enc = self._encode(params, {k: v[sl] for k, v in arrays.items()}, be)
            m = None if masks is None else [mm[sl] for mm in masks]
            out, hc = self.head.forward(params, x, train=train, masks=m, backend=be)
            return out[:, 0], {"enc": enc, "head": hc}

        with single_threaded_blas():
            results = map_chunks(run, len(slices), n_jobs)
        scores = np.concatenate([r[0] for r in results]) if len(results) > 1 else results[0][0]
        cache = {"params": params, "chunks": [r[1] for r in results], "slices": slices, "be": be,
                 "n_jobs": n_jobs, "dtype": dtype}
        return scores, cache

    def backward(self, cache: dict, grad_scores: np.ndarray) -> Params:
        """Gradients of ``sum(grad_scores * scores)`` w.r.t. every parameter.

        Parameters
        ----------
        cache : dict
            From :meth:`forward`.
        grad_scores : ndarray [B]
            ``dloss/dscores``.

        Returns
        -------
        dict[str, ndarray]
            Same names (in :meth:`param_shapes` order), shapes and dtype as the parameters.
        """
        params, be, slices = cache["params"], cache["be"], cache["slices"]
        g = self._grad_scores(cache, grad_scores)

        def run(i: int) -> Params:
            ch = cache["chunks"][i]
            gy = np.ascontiguousarray(g[slices[i]])[:, None]
            d_x, grads = self.head.backward(gy, ch["head"], need_grad_x=self._needs_grad_x)
            grads.update(self._encode_backward(params, ch["enc"], d_x, be))
            return grads

        with single_threaded_blas():
            parts = map_chunks(run, len(slices), cache["n_jobs"])
        grads = dict(parts[0])
        for part in parts[1:]:  # fixed chunk order: deterministic sums
            for k, v in part.items():
                grads[k] = grads[k] + v
        return {k: grads[k] for k in self.param_shapes()}


    def _inference(self, params: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
                   backend: Any, head: bool) -> np.ndarray:
        be = resolve_backend(backend)
        dtype = self.check_params(params)
        if not isinstance(batch, Mapping):
            raise ParameterError(f"{self._owner}: batch must be a mapping of arrays; got {type(batch).__name__}.")
        arrays = self._prepare(batch, dtype)
        b = int(next(iter(arrays.values())).shape[0])
        if b == 0:
            return np.zeros((0,) if head else (0, self.embedding_dim), dtype)
        slices = chunk_slices(b, self.predict_chunk_size)

        def run(i: int) -> np.ndarray:
            x, _ = self._encode(params, {k: v[slices[i]] for k, v in arrays.items()}, be)
            if not head:
                return x
            return self.head.forward(params, x, train=False, backend=be)[0][:, 0]

        with single_threaded_blas():
            parts = map_chunks(run, len(slices), resolve_n_jobs(self.n_jobs))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def predict(self, params: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray], *,
                backend: Any = None) -> np.ndarray:
        """Scores in evaluation mode (no dropout, no cache): ndarray [B]."""
        return self._inference(params, batch, backend, head=True)

    def embed(self, params: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray], *,
              backend: Any = None) -> np.ndarray:
        """Encoder outputs (the head's input): ndarray [B, embedding_dim]."""
        return self._inference(params, batch, backend, head=False)

    # ------------------------------------------------------------------ helpers
    def _int_array(self, batch: Mapping[str, np.ndarray], key: str) -> np.ndarray:
        if key not in batch:
            raise ParameterError(f"{self._owner}: batch needs a {key!r} array; got keys {sorted(batch)}.")
        a = np.asarray(batch[key])
        if a.dtype.kind not in "iu":
            raise ParameterError(f"{self._owner}: batch[{key!r}] must be an integer array; got dtype {a.dtype}.")
        return a.astype(np.int64, copy=False)


# ============================================================================ MLP
class MLPModel(BaselineModel):
    """MLP on the concatenated one-hot of the decisions (the sequential encoding).

    Parameters
    ----------
    in_features : int >= 1
        ``D = sum(space.decision_sizes)`` (NB201: 30).
    mlp_hidden : sequence of int
        Hidden widths (default ``(256, 256, 256)``).
    dropout : float in [0, 1)
    chunk_size, predict_chunk_size, n_jobs
        As in :class:`BaselineModel`.

    Notes
    -----
    ``batch = {"onehot": [B, D]}`` (any float dtype, or bool/int 0/1: cast to the parameters'
    dtype). There is no encoder: :meth:`embed` returns the input cast to the parameters' dtype.
    """

    _owner = "MLPModel"
    _needs_grad_x = False

    def __init__(self, *, in_features: int = 30, mlp_hidden: Sequence[int] = (256, 256, 256),
                 dropout: float = 0.0, chunk_size: int = 256, predict_chunk_size: int = 4096,
                 n_jobs: int | None = None) -> None:
        self.in_features = check_range(self._owner, "in_features", in_features, 1, integer=True)
        self._init_head(mlp_hidden, dropout, chunk_size, predict_chunk_size, n_jobs)

    @classmethod
    def from_space(cls, space: Any, **kwargs: Any) -> "MLPModel":
        """An MLPModel sized for ``space`` (a SearchSpace or its name)."""
        from archmodel.spaces import get_space

        return cls(in_features=int(sum(get_space(space).decision_sizes)), **kwargs)

    @staticmethod
    def encode(space: Any, archs: Sequence[Any]) -> dict[str, np.ndarray]:
        """``{"onehot": float32 [B, D]}`` for ``archs`` of ``space``."""
        from archmodel.spaces import get_space

        return {"onehot": get_space(space).onehot(archs)}

    def get_config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, **self._head_config()}

    @property
    def embedding_dim(self) -> int:
        return self.in_features

    def _prepare(self, batch: Mapping[str, np.ndarray], dtype: np.dtype) -> dict[str, np.ndarray]:
        if "onehot" not in batch:
            raise ParameterError(f"MLPModel: batch needs an 'onehot' array; got keys {sorted(batch)}.")
        x = np.asarray(batch["onehot"])
        if x.dtype.kind not in "biuf":
            raise ParameterError(f"MLPModel: batch['onehot'] must be numeric; got dtype {x.dtype}.")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ParameterError(
                f"MLPModel: batch['onehot'] must have shape [B, {self.in_features}]; got {x.shape}.")
        return {"onehot": np.ascontiguousarray(x, dtype=dtype)}

    def _encode(self, params, arrays, be):
        return arrays["onehot"], None


# ============================================================================ LSTM
class LSTMModel(BaselineModel):
    """Single-layer LSTM over the decision sequence; last hidden state -> MLP head.

    Parameters
    ----------
    decision_sizes : sequence of int
        Choices per decision (``space.decision_sizes``; NB201: six 5s).
    emb_dim : int >= 1
        Embedding width of a (position, choice) token (default 48).
    hidden_dim : int >= 1
        LSTM state width ``H`` (default 96).
    mlp_hidden : sequence of int
        Hidden widths of the head (default ``(128, 128)``).
    dropout : float in [0, 1)
    chunk_size, predict_chunk_size, n_jobs
        As in :class:`BaselineModel`.

    Notes
    -----
    ``batch = {"seq": int [B, T]}``, ``T = len(decision_sizes)``, ``0 <= seq[:, t] <
    decision_sizes[t]``. :meth:`embed` returns the last hidden state ``[B, H]``.
    """

    _owner = "LSTMModel"

    def __init__(self, *, decision_sizes: Sequence[int] = (5, 5, 5, 5, 5, 5), emb_dim: int = 48,
                 hidden_dim: int = 96, mlp_hidden: Sequence[int] = (128, 128),
                 dropout: float = 0.0, chunk_size: int = 256, predict_chunk_size: int = 4096,
                 n_jobs: int | None = None) -> None:
        owner = self._owner
        sizes = list(decision_sizes)
        if not sizes:
            raise ParameterError("The 'decision_sizes' parameter of LSTMModel must list at least one decision. Got [] instead.")
        self.decision_sizes = [int(check_range(owner, "decision_sizes", s, 1, integer=True)) for s in sizes]
        self.emb_dim = check_range(owner, "emb_dim", emb_dim, 1, integer=True)
        self.hidden_dim = check_range(owner, "hidden_dim", hidden_dim, 1, integer=True)
        self.offsets = np.concatenate([[0], np.cumsum(self.decision_sizes)[:-1]]).astype(np.int64)
        self.n_tokens = int(sum(self.decision_sizes))
        self._init_head(mlp_hidden, dropout, chunk_size, predict_chunk_size, n_jobs)

    @classmethod
    def from_space(cls, space: Any, **kwargs: Any) -> "LSTMModel":
        """An LSTMModel sized for ``space`` (a SearchSpace or its name)."""
        from archmodel.spaces import get_space

        return cls(decision_sizes=tuple(get_space(space).decision_sizes), **kwargs)

    @staticmethod
    def encode(space: Any, archs: Sequence[Any]) -> dict[str, np.ndarray]:
        """``{"seq": int64 [B, T]}`` for ``archs`` of ``space``."""
        from archmodel.spaces import get_space

        return {"seq": get_space(space).sequences(archs)}

    def get_config(self) -> dict[str, Any]:
        return {"decision_sizes": list(self.decision_sizes), "emb_dim": self.emb_dim,
                "hidden_dim": self.hidden_dim, **self._head_config()}

    @property
    def embedding_dim(self) -> int:
        return self.hidden_dim

    def _encoder_shapes(self) -> dict[str, tuple[int, ...]]:
        h = self.hidden_dim
        return {"encoder.embedding.weight": (self.n_tokens, self.emb_dim),
                "encoder.lstm.w_ih": (self.emb_dim, 4 * h),
                "encoder.lstm.w_hh": (h, 4 * h),
                "encoder.lstm.bias": (4 * h,)}

    def _init_encoder(self, rng: np.random.Generator, dt: np.dtype) -> Params:
        bound = 1.0 / math.sqrt(self.hidden_dim)
        params = {}
        for name, shape in self._encoder_shapes().items():
            if name == "encoder.embedding.weight":
                params[name] = normal_init(rng, shape, 1.0, dt)
            else:
                params[name] = uniform_init(rng, shape, bound, dt)
        return params

    def _prepare(self, batch: Mapping[str, np.ndarray], dtype: np.dtype) -> dict[str, np.ndarray]:
        seq = self._int_array(batch, "seq")
        t = len(self.decision_sizes)
        if seq.ndim != 2 or seq.shape[1] != t:
            raise ParameterError(f"LSTMModel: batch['seq'] must have shape [B, {t}]; got {seq.shape}.")
        if seq.size:
            sizes = np.asarray(self.decision_sizes)
            bad = (seq < 0) | (seq >= sizes[None, :])
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise ParameterError(
                    f"LSTMModel: batch['seq'][{r}, {c}] = {seq[r, c]} is outside [0, {sizes[c]}) "
                    f"(decision {c} has {sizes[c]} choices).")
        return {"tokens": np.ascontiguousarray(seq + self.offsets[None, :])}

    def _encode(self, params, arrays, be):
        tokens = arrays["tokens"]
        emb = be.nn.embedding_forward(params["encoder.embedding.weight"], tokens)  # [b, T, E]
        emb = np.ascontiguousarray(emb)
        w_ih, w_hh = params["encoder.lstm.w_ih"], params["encoder.lstm.w_hh"]
        h, c, acts = be.rnn.lstm_forward(emb, w_ih, w_hh, params["encoder.lstm.bias"])
        x = np.ascontiguousarray(h[:, -1])
        return x, {"tokens": tokens, "emb": emb, "h": h, "c": c, "acts": acts}

    def _encode_backward(self, params, cache, d_x, be) -> Params:
        h = cache["h"]
        grad_h = np.zeros_like(h)
        grad_h[:, -1] = d_x
        gx, gwi, gwh, gb = be.rnn.lstm_backward(grad_h, cache["emb"], params["encoder.lstm.w_ih"],
                                                params["encoder.lstm.w_hh"], h, cache["c"],
                                                cache["acts"], True)
        g_emb = be.nn.embedding_backward(gx, cache["tokens"], self.n_tokens)
        return {"encoder.embedding.weight": g_emb, "encoder.lstm.w_ih": gwi,
                "encoder.lstm.w_hh": gwh, "encoder.lstm.bias": gb}


# ============================================================================ GCN
def normalize_adjacency(adj: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
    """Kipf & Welling's ``D^-1/2 (A + A^T + I) D^-1/2`` for a stack of directed adjacencies.

    Parameters
    ----------
    adj : array [..., M, M]
        ``adj[..., i, j] != 0`` for an edge ``j -> i`` (direction is dropped).
    dtype : float dtype of the result

    Returns
    -------
    ndarray [..., M, M], symmetric, every row sum of ``A + A^T + I`` at least 1.
    """
    a = np.asarray(adj) != 0
    m = a.shape[-1]
    a_tilde = (a | np.swapaxes(a, -1, -2) | np.eye(m, dtype=bool)).astype(np.float64)
    d = 1.0 / np.sqrt(a_tilde.sum(axis=-1))
    return (a_tilde * d[..., :, None] * d[..., None, :]).astype(dtype)


def gcn_graphs(kind: str, cell: tuple[np.ndarray, ...], *, n_nodes: int, n_inputs: int,
               n_ops: int, none_op: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """The GCN graph of each cell of a batch (see the module docstring).

    Parameters
    ----------
    kind : {'edge', 'node'}
    cell : ``(edges int64 [B, E, 3],)`` or ``(adj [B, N, N], node_ops int64 [B, N])``
    n_nodes, n_inputs, n_ops : int
    none_op : int or None
        (edge kind) the operation whose edges carry nothing.

    Returns
    -------
    adj : bool ndarray [B, M, M]
        Directed adjacency, ``adj[b, v, u]`` for a graph edge ``u -> v``.
    feat : int64 ndarray [B, M]
        Index of each node's one-hot feature.
    output_index : int
        The output node (``M - 1``).
    """
    if kind == "node":
        adj, node_ops = cell
        return np.asarray(adj) != 0, node_ops, n_nodes - 1
    (edges,) = cell
    b, e, _ = edges.shape
    src, dst, op = edges[..., 0], edges[..., 1], edges[..., 2]
    live = np.ones((b, e), bool) if none_op is None else op != none_op
    m = n_inputs + e + 1
    out = m - 1
    adj = np.zeros((b, m, m), dtype=bool)
    eidx = n_inputs + np.arange(e)
    # input k -> edge-node e when the edge leaves input k
    for k in range(n_inputs):
        adj[:, eidx, k] = live & (src == k)
    # edge-node e' -> edge-node e when e' ends where e starts (both live)
    chain = live[:, :, None] & live[:, None, :] & (dst[:, :, None] == src[:, None, :])  # [b, e', e]
    adj[:, n_inputs:n_inputs + e, n_inputs:n_inputs + e] = np.swapaxes(chain, 1, 2)
    # edge-node e -> output when the edge enters the cell's output node
    adj[:, out, n_inputs:n_inputs + e] = live & (dst == n_nodes - 1)
    feat = np.empty((b, m), dtype=np.int64)
    feat[:, :n_inputs] = n_ops + np.arange(n_inputs)
    feat[:, n_inputs:n_inputs + e] = op
    feat[:, out] = n_ops + n_inputs
    return adj, feat, out


class GCNModel(BaselineModel):
    """Graph convolutional network (Kipf & Welling) over each cell; readouts -> MLP head.

    Parameters
    ----------
    kind : {'edge', 'node'}
        Operation on edge (``batch["edges"]``, line graph) or on node (``batch["adj"]``,
        ``batch["node_ops"]``).
    n_nodes : int >= 2
        Nodes per cell ``N`` (NB201: 4; DARTS: 7; NB101: 7).
    n_inputs : int in [1, N)
    n_ops : int >= 1
        Operation vocabulary size ``K`` (:func:`archmodel.encoding.vocabulary`).
    n_cells : int >= 1
        Cells per architecture, each with its own GCN parameters.
    n_edges : int or None
        Edge slots per cell ``E`` (NB201: 6; ``batch["edges"].shape[-2]``); fixes the line-graph
        size. Required for ``kind='edge'``, ignored for ``kind='node'``; :meth:`from_space`
        fills it in.
    none_op : int, None or 'auto'
        (edge kind) operation whose edges carry nothing; ``'auto'``: 0.
    gcn_dims : sequence of int
        Output widths of the GCN layers (default ``(128, 128, 128)``).
    readout : {'mean', 'output'}
        Mean over the graph's nodes, or the output node's state.
    mlp_hidden : sequence of int
        Hidden widths of the head (default ``(128, 128)``).
    dropout : float in [0, 1)
    chunk_size, predict_chunk_size, n_jobs
        As in :class:`BaselineModel`.

    Notes
    -----
    :meth:`embed` returns the concatenated readouts ``[B, n_cells * gcn_dims[-1]]``.
    """

    _owner = "GCNModel"

    def __init__(self, *, kind: str = "edge", n_nodes: int = 4, n_inputs: int = 1, n_ops: int = 5,
                 n_cells: int = 1, n_edges: int | None = 6, none_op: int | str | None = "auto",
                 gcn_dims: Sequence[int] = (128, 128, 128), readout: str = "mean",
                 mlp_hidden: Sequence[int] = (128, 128), dropout: float = 0.0,
                 chunk_size: int = 256, predict_chunk_size: int = 4096,
                 n_jobs: int | None = None) -> None:
        owner = self._owner
        self.kind = check_choice(owner, "kind", kind, KINDS)
        self.n_nodes = check_range(owner, "n_nodes", n_nodes, 2, integer=True)
        self.n_inputs = check_range(owner, "n_inputs", n_inputs, 1, n_nodes - 1, integer=True)
        self.n_ops = check_range(owner, "n_ops", n_ops, 1, integer=True)
        self.n_cells = check_range(owner, "n_cells", n_cells, 1, integer=True)
        if kind == "edge":
            if n_edges is None:
                raise ParameterError("The 'n_edges' parameter of GCNModel must be an integer for kind='edge'. Got None instead.")
            self.n_edges = check_range(owner, "n_edges", n_edges, 1, integer=True)
            if none_op == "auto":
                none_op = 0
            if none_op is not None:
                check_range(owner, "none_op", none_op, 0, n_ops - 1, integer=True)
        else:
            self.n_edges = None if n_edges is None else check_range(owner, "n_edges", n_edges, 1, integer=True)
            none_op = None if none_op == "auto" else none_op
            if none_op is not None:
                raise ParameterError("The 'none_op' parameter of GCNModel must be None or 'auto' for kind='node'. "
                                     f"Got {none_op!r} instead.")
        self.none_op = none_op
        dims = list(gcn_dims)
        if not dims:
            raise ParameterError("The 'gcn_dims' parameter of GCNModel must list at least one layer width. Got [] instead.")
        self.gcn_dims = [int(check_range(owner, "gcn_dims", d, 1, integer=True)) for d in dims]
        self.readout = check_choice(owner, "readout", readout, READOUTS)
        self._init_head(mlp_hidden, dropout, chunk_size, predict_chunk_size, n_jobs)

    @classmethod
    def from_space(cls, space: Any, **kwargs: Any) -> "GCNModel":
        """A GCNModel sized for ``space`` (a SearchSpace or its name)."""
        from archmodel.encoding import vocabulary
        from archmodel.spaces import get_space

        sp = get_space(space)
        probe = sp.to_arrays(sp.sample(1, 0))
        n_edges = int(probe.edges.shape[2]) if probe.kind == "edge" else None
        return cls(kind=sp.kind, n_nodes=probe.n_nodes, n_inputs=probe.n_inputs,
                   n_ops=len(vocabulary(sp)), n_cells=probe.n_cells, n_edges=n_edges, **kwargs)

    @staticmethod
    def encode(space: Any, archs: Sequence[Any]) -> dict[str, np.ndarray]:
        """GATES' input arrays: ``{"edges": ...}`` or ``{"adj": ..., "node_ops": ...}``."""
        from archmodel.spaces import get_space

        gb = get_space(space).to_arrays(archs)
        if gb.kind == "edge":
            return {"edges": gb.edges}
        return {"adj": gb.adj, "node_ops": gb.node_ops}

    def get_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_nodes": self.n_nodes, "n_inputs": self.n_inputs,
                "n_ops": self.n_ops, "n_cells": self.n_cells, "n_edges": self.n_edges,
                "none_op": self.none_op, "gcn_dims": list(self.gcn_dims), "readout": self.readout,
                **self._head_config()}

    @property
    def embedding_dim(self) -> int:
        return self.n_cells * self.gcn_dims[-1]

    @property
    def n_graph_nodes(self) -> int:
        """Nodes per GCN graph ``M``: ``n_inputs + n_edges + 1`` (edge kind) or ``n_nodes``."""
        return self.n_inputs + self.n_edges + 1 if self.kind == "edge" else self.n_nodes

    @property
    def n_features(self) -> int:
        """One-hot feature width ``F``: ``n_ops + n_inputs + 1`` (edge kind) or ``n_ops``."""
        return self.n_ops + self.n_inputs + 1 if self.kind == "edge" else self.n_ops

    def _p(self, c: int, name: str) -> str:
        return f"encoder.cell{c}.{name}"

    def _encoder_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for c in range(self.n_cells):
            h_in = self.n_features
            for l, h in enumerate(self.gcn_dims):
                shapes[self._p(c, f"gcn{l}.weight")] = (h_in, h)
                shapes[self._p(c, f"gcn{l}.bias")] = (h,)
                h_in = h
        return shapes

    def _init_encoder(self, rng: np.random.Generator, dt: np.dtype) -> Params:
        params: Params = {}
        for name, shape in self._encoder_shapes().items():
            if name.endswith(".weight"):
                params[name] = uniform_init(rng, shape, math.sqrt(6.0 / (shape[0] + shape[1])), dt)
            else:
                params[name] = np.zeros(shape, dtype=dt)
        return params

    def _cell_axis(self, arr: np.ndarray, name: str, base_ndim: int) -> np.ndarray:
        if arr.ndim == base_ndim and self.n_cells == 1:
            return arr[:, None]
        if arr.ndim == base_ndim + 1 and arr.shape[1] == self.n_cells:
            return arr
        want = f"[B, {self.n_cells}, ...]" if self.n_cells > 1 else f"{base_ndim}-D [B, ...] or [B, 1, ...]"
        raise ParameterError(
            f"GCNModel: batch[{name!r}] must be {want} for n_cells={self.n_cells}; got shape {arr.shape}.")

    def _prepare(self, batch: Mapping[str, np.ndarray], dtype: np.dtype) -> dict[str, np.ndarray]:
        n = self.n_nodes
        if self.kind == "edge":
            e = self._int_array(batch, "edges")
            if e.ndim < 3 or e.shape[-1] != 3 or e.shape[-2] != self.n_edges:
                raise ParameterError(
                    f"GCNModel: batch['edges'] must have shape [B, {self.n_edges}, 3] or "
                    f"[B, C, {self.n_edges}, 3]; got {e.shape}.")
            e = self._cell_axis(e, "edges", 3)
            if e.size:
                op = e[..., 2]
                if op.min() < 0 or op.max() >= self.n_ops:
                    raise ParameterError(
                        f"GCNModel: operation indices in batch['edges'] must be in [0, {self.n_ops}); "
                        f"got values in [{op.min()}, {op.max()}].")
                nodes = e[..., :2]
                if nodes.min() < 0 or nodes.max() >= n:
                    raise ParameterError(
                        f"GCNModel: node indices in batch['edges'] must be in [0, {n}) (n_nodes={n}).")
            cells = [(np.ascontiguousarray(e[:, c]),) for c in range(self.n_cells)]
        else:
            if "adj" not in batch:
                raise ParameterError(f"GCNModel(kind='node'): batch needs 'adj' and 'node_ops'; got keys {sorted(batch)}.")
            a = np.asarray(batch["adj"])
            o = self._int_array(batch, "node_ops")
            if a.dtype.kind not in "biuf":
                raise ParameterError(f"GCNModel: batch['adj'] must be numeric or bool; got dtype {a.dtype}.")
            if a.ndim < 3 or a.shape[-2:] != (n, n):
                raise ParameterError(
                    f"GCNModel: batch['adj'] must have shape [B, {n}, {n}] or [B, C, {n}, {n}]; got {a.shape}.")
            if o.ndim < 2 or o.shape[-1] != n:
                raise ParameterError(
                    f"GCNModel: batch['node_ops'] must have shape [B, {n}] or [B, C, {n}]; got {o.shape}.")
            a = self._cell_axis(a, "adj", 3)
            o = self._cell_axis(o, "node_ops", 2)
            if a.shape[:2] != o.shape[:2]:
                raise ParameterError(
                    f"GCNModel: batch['adj'] {a.shape} and batch['node_ops'] {o.shape} disagree on B or C.")
            if o.size and (o.min() < 0 or o.max() >= self.n_ops):
                raise ParameterError(
                    f"GCNModel: batch['node_ops'] must be in [0, {self.n_ops}); got values in "
                    f"[{o.min()}, {o.max()}].")
            if a.dtype.kind != "b" and np.any((a != 0) & (a != 1)):
                raise ParameterError("GCNModel: batch['adj'] entries must be 0 or 1.")
            cells = [(a[:, c], np.ascontiguousarray(o[:, c])) for c in range(self.n_cells)]
        out: dict[str, np.ndarray] = {}
        for c, cell in enumerate(cells):
            adj, feat, _ = gcn_graphs(self.kind, cell, n_nodes=n, n_inputs=self.n_inputs,
                                      n_ops=self.n_ops, none_op=self.none_op)
            out[f"a{c}"] = normalize_adjacency(adj, dtype)
            out[f"feat{c}"] = np.ascontiguousarray(feat)
        return out

    def _encode(self, params, arrays, be):
        n_layers = len(self.gcn_dims)
        feats, caches = [], []
        for c in range(self.n_cells):
            a, feat = arrays[f"a{c}"], arrays[f"feat{c}"]
            b, m = feat.shape
            s = be.nn.embedding_forward(params[self._p(c, "gcn0.weight")], feat)  # one-hot @ W0
            ys = []
            for l in range(n_layers):
                if l > 0:
                    h_in = ys[-1].shape[2]
                    s = be.nn.linear_forward(ys[-1].reshape(b * m, h_in),
                                             params[self._p(c, f"gcn{l}.weight")], None
                                             ).reshape(b, m, self.gcn_dims[l])
                ys.append(be.gcn.propagate_forward(a, np.ascontiguousarray(s),
                                                   params[self._p(c, f"gcn{l}.bias")], l < n_layers - 1))
            last = ys[-1]
            feats.append(last.mean(axis=1) if self.readout == "mean" else np.ascontiguousarray(last[:, -1]))
            caches.append({"ys": ys})
        x = feats[0] if self.n_cells == 1 else np.concatenate(feats, axis=1)
        return x, {"cells": caches, "arrays": arrays}

    def _encode_backward(self, params, cache, d_x, be) -> Params:
        n_layers = len(self.gcn_dims)
        h_last = self.gcn_dims[-1]
        arrays = cache["arrays"]
        grads: Params = {}
        for c in range(self.n_cells):
            a, feat = arrays[f"a{c}"], arrays[f"feat{c}"]
            ys = cache["cells"][c]["ys"]
            b, m = feat.shape
            dxc = d_x[:, c * h_last:(c + 1) * h_last]
            if self.readout == "mean":
                d_y = np.repeat((dxc / m)[:, None, :], m, axis=1)
            else:
                d_y = np.zeros((b, m, h_last), dtype=d_x.dtype)
                d_y[:, -1] = dxc
            for l in range(n_layers - 1, -1, -1):
                d_s, gb = be.gcn.propagate_backward(np.ascontiguousarray(d_y), a, ys[l], l < n_layers - 1)
                grads[self._p(c, f"gcn{l}.bias")] = gb
                if l > 0:
                    h_in = ys[l - 1].shape[2]
                    gx, gw, _ = be.nn.linear_backward(d_s.reshape(b * m, self.gcn_dims[l]),
                                                      ys[l - 1].reshape(b * m, h_in),
                                                      params[self._p(c, f"gcn{l}.weight")], True)
                    grads[self._p(c, f"gcn{l}.weight")] = gw
                    d_y = gx.reshape(b, m, h_in)
                else:
                    grads[self._p(c, "gcn0.weight")] = be.nn.embedding_backward(d_s, feat, self.n_features)
        return grads
