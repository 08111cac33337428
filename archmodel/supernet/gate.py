"""CLOSENet's GATE module: which parameter block each edge of an architecture uses.

The GATE embeds the architecture with the GATES encoder (:class:`archmodel.models.GATESModel`)
and reads logits ``[6, n_blocks]``, of which the first ``level`` (the blocks the curriculum
has opened) are used: :class:`NodeGate` (node-level, the reference's default) puts an MLP on
the states of each edge's two end nodes, :class:`ArchGate` (architecture-level) reads all
logits from the architecture's embedding. In training a straight-through Gumbel-softmax picks one
block per edge: the forward pass uses the one-hot of ``argmax softmax((logits + g) / tau)``
(``g`` Gumbel noise drawn from the caller's generator), the backward pass the gradient of the
soft probabilities. In evaluation the block is ``argmax logits``.

The gradient w.r.t. the probabilities comes from the supernet's cells
(:meth:`archmodel.supernet.cell.SharedCell.set_gate_level`); :func:`gumbel_softmax_backward`
takes it to the logits, and the GATES model's own backward pass to its parameters.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from archmodel.errors import check_range

__all__ = ["GATES", "ArchGate", "NodeGate", "gumbel_softmax", "gumbel_softmax_backward", "make_gate"]

N_EDGES = 6

#: How an evaluation picks each edge's block (:meth:`ArchGate.choose`).
ASSIGNMENTS = ("argmax", "sample")


def gumbel_softmax(logits: np.ndarray, tau: float, noise: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(argmax [E], probabilities [E, L])`` of ``softmax((logits + noise) / tau)`` per row.

    ``noise``: Gumbel(0, 1) samples of the logits' shape (None: none, evaluation).
    """
    z = (logits if noise is None else logits + noise) / tau
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return p.argmax(axis=1), p


def gumbel_softmax_backward(p: np.ndarray, grad_p: np.ndarray, tau: float) -> np.ndarray:
    """``d loss / d logits`` [E, L] from ``d loss / d p`` through the softmax of :func:`gumbel_softmax`."""
    return p * (grad_p - (p * grad_p).sum(axis=1, keepdims=True)) / tau


def gumbel_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Gumbel(0, 1) samples ``-log(-log(u))``, ``u`` uniform in (0, 1)."""
    u = rng.random(shape)
    u = np.clip(u, np.finfo(np.float64).tiny, 1.0 - np.finfo(np.float64).eps)
    return -np.log(-np.log(u))


class _Gate:
    """What both GATEs share: sampling, choosing, the gradient through the Gumbel-softmax.

    Subclasses set ``n_blocks``, ``tau``, ``backend``, ``params`` and implement
    ``_forward(arch, train, rng) -> (logits [6, n_blocks] float64, cache)``,
    ``_backward(cache, d_logits [6, n_blocks]) -> grads`` and ``_out_layer() -> (weight
    [hidden, n_out], bias [n_out], columns(edge, block) -> column)``.
    """

    kind = ""
    n_blocks: int
    tau: float
    params: dict[str, np.ndarray]

    @staticmethod
    def encode(arch: str) -> dict[str, np.ndarray]:
        """The GATES input of one NB201 arch string: ``{"edges": int64 [1, 6, 3]}``."""
        from archmodel.predictors.gates import graph_inputs
        from archmodel.spaces import get_space

        space = get_space("nb201")
        return graph_inputs(space, [space.parse(arch)])

    def logits(self, arch: str, level: int) -> np.ndarray:
        """Evaluation-mode logits ``[6, level]`` (float64)."""
        return self._forward(arch, False, None)[0][:, :level]

    def choose(self, arch: str, level: int, assignment: str = "argmax") -> np.ndarray:
        """Evaluation: block of each edge (int [6]).

        ``assignment``: ``'argmax'`` of the logits, or ``'sample'``: one Gumbel-softmax draw as
        in training (the reference's evaluation path draws too), from a generator seeded by
        the architecture string (CRC-32), so an architecture always gets the same blocks.
        """
        from archmodel.errors import check_choice

        check_choice(f"{type(self).__name__}.choose", "assignment", assignment, ASSIGNMENTS)
        logits = self.logits(arch, level)
        if assignment == "argmax":
            return logits.argmax(axis=1)
        import zlib

        rng = np.random.default_rng(zlib.crc32(arch.encode()))
        return gumbel_softmax(logits, self.tau, gumbel_noise(rng, logits.shape))[0]

    def sample(self, arch: str, level: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Training: ``(blocks [6], state)``; pass ``state`` and ``d loss / d y`` [6, level] to
        :meth:`gradients`. Draws the dropout masks and then the Gumbel noise from ``rng``."""
        out, cache = self._forward(arch, True, rng)
        logits = out[:, :level]
        blocks, p = gumbel_softmax(logits, self.tau, gumbel_noise(rng, logits.shape))
        return blocks, {"cache": cache, "p": p, "level": level}

    def gradients(self, state: dict, grad_y: np.ndarray) -> dict[str, np.ndarray]:
        """Parameter gradients of the GATE given ``d loss / d y`` ``[6, level]``."""
        d_logits = np.zeros((N_EDGES, self.n_blocks))
        d_logits[:, :state["level"]] = gumbel_softmax_backward(state["p"], grad_y, self.tau)
        return self._backward(state["cache"], d_logits)

    def open_block(self, level: int, *, copy: bool = True) -> None:
        """Curriculum: block ``level - 1`` opens; its logit inherits the previous one's weights:
        the output unit of every edge for it is a copy of the previous block's (``copy``; the
        two start tied and the Gumbel noise splits them), or gets it added to its own
        initialisation (the reference code's ``reconstruct_inherit``)."""
        check_range(f"{type(self).__name__}.open_block", "level", level, 2, self.n_blocks, integer=True)
        w, b, column = self._out_layer()
        pairs = dict.fromkeys((column(k, level - 1), column(k, level - 2)) for k in range(N_EDGES))
        for new, prev in pairs:        # the node gate has one column per block, for every edge
            if copy:
                w[:, new] = w[:, prev]
                b[new] = b[prev]
            else:
                w[:, new] += w[:, prev]
                b[new] += b[prev]


def _gates_model(n_outputs: int, readout: str, gates_dims: Sequence[int], mlp_hidden: Sequence[int],
                 dropout: float):
    from archmodel.models.gates import GATESModel

    return GATESModel(kind="edge", n_nodes=4, n_inputs=1, n_ops=5, readout=readout,
                      gates_dims=tuple(gates_dims), mlp_hidden=tuple(mlp_hidden), dropout=dropout,
                      n_outputs=n_outputs, n_jobs=1)


class ArchGate(_Gate):
    """Architecture-level GATE: GATES encoder + MLP head -> logits ``[6, n_blocks]`` per
    architecture (the reference's ``gate_type='arch-level'``).

    Parameters
    ----------
    n_blocks : int
        Blocks per cell of the supernet.
    mlp_hidden : sequence of int
        The MLP's hidden widths (reference: three of 200).
    dropout : float
        Dropout of the MLP in training (reference: 0.1).
    tau : float
        Gumbel-softmax temperature (reference: 5).
    rng : Generator, int or None
        Initialisation.
    backend : str or None
    gates_dims : sequence of int
        GATES layer widths (reference: five of 128).
    """

    kind = "arch"

    def __init__(self, n_blocks: int, *, mlp_hidden: Sequence[int] = (200, 200, 200),
                 dropout: float = 0.1, tau: float = 5.0, rng: Any = None, backend: str | None = None,
                 gates_dims: Sequence[int] = (128, 128, 128, 128, 128)) -> None:
        from archmodel.nn.params import as_rng

        owner = type(self).__name__
        self.n_blocks = int(check_range(owner, "n_blocks", n_blocks, 1, integer=True))
        self.tau = float(check_range(owner, "tau", tau, 0.0, low_inclusive=False))
        self.mlp_hidden = [int(h) for h in mlp_hidden]
        self.dropout = float(dropout)
        self.gates_dims = [int(d) for d in gates_dims]
        self.backend = backend
        self._build(as_rng(rng))

    def _build(self, rng: np.random.Generator) -> None:
        self.model = _gates_model(N_EDGES * self.n_blocks, "output", self.gates_dims,
                                  self.mlp_hidden, self.dropout)
        self.params = self.model.init_params(rng, np.float32)

    def get_config(self) -> dict[str, Any]:
        """JSON constructor arguments (``make_gate(**config)`` rebuilds it, freshly initialised)."""
        return {"kind": self.kind, "n_blocks": self.n_blocks, "mlp_hidden": self.mlp_hidden,
                "dropout": self.dropout, "tau": self.tau, "gates_dims": self.gates_dims}

    def _forward(self, arch, train, rng):
        if not train:
            out = self.model.predict(self.params, self.encode(arch), backend=self.backend)
            return np.asarray(out, np.float64).reshape(N_EDGES, self.n_blocks), None
        out, cache = self.model.forward(self.params, self.encode(arch), train=True, rng=rng,
                                        backend=self.backend)
        return np.asarray(out, np.float64).reshape(N_EDGES, self.n_blocks), cache

    def _backward(self, cache, d_logits):
        dt = self.params["head.out.weight"].dtype
        return self.model.backward(cache, d_logits.reshape(1, -1).astype(dt))

    def _out_layer(self):
        return (self.params["head.out.weight"], self.params["head.out.bias"],
                lambda k, i: k * self.n_blocks + i)


class NodeGate(ArchGate):
    """Node-level GATE (the reference's ``gate_type='node-level'``, CLOSENet's default): the
    GATES encoder's final state of every node (``readout='nodes'``), then for each edge
    ``(src, dst)`` an MLP on ``[state(src), state(dst)]`` -> logits over the blocks, so two
    edges get the same block when their end nodes play similar roles.

    Parameters as :class:`ArchGate`; ``mlp_hidden`` and ``dropout`` are the edge MLP's. The
    parameters are the encoder's (``encoder.*``) and the MLP's (``edge_mlp.*``).
    """

    kind = "node"

    def _build(self, rng: np.random.Generator) -> None:
        from archmodel.conv.nb201 import NB201_EDGES
        from archmodel.nn.layers import MLP

        self.model = _gates_model(1, "nodes", self.gates_dims, (), 0.0)
        enc = self.model.init_params(rng, np.float32)
        h = self.gates_dims[-1]
        self.mlp = MLP(2 * h, self.mlp_hidden, self.n_blocks, dropout=self.dropout, name="edge_mlp")
        self.params = {k: v for k, v in enc.items() if k.startswith("encoder.")}
        self.params.update(self.mlp.init_params(rng, np.float32))
        self._src = np.array([s for s, _ in NB201_EDGES])
        self._dst = np.array([d for _, d in NB201_EDGES])

    def _encoder_params(self) -> dict[str, np.ndarray]:
        # the model's (unused) head: zeros of its shapes, so check_params accepts the dict
        full = dict(self.params)
        for k, shape in self.model.param_shapes().items():
            if k not in full:
                full[k] = np.zeros(shape, self.params["edge_mlp.out.weight"].dtype)
        return full

    def _forward(self, arch, train, rng):
        from archmodel.backends import get_backend

        be = get_backend(self.backend)
        x, enc_cache = self.model.encoder_forward(self._encoder_params(), self.encode(arch), backend=be)
        h = self.gates_dims[-1]
        nodes = x.reshape(4, h)
        pairs = np.ascontiguousarray(np.concatenate([nodes[self._src], nodes[self._dst]], axis=1))
        out, mlp_cache = self.mlp.forward(self.params, pairs, train=train, rng=rng, backend=be)
        return np.asarray(out, np.float64), {"enc": enc_cache, "mlp": mlp_cache}

    def _backward(self, cache, d_logits):
        h = self.gates_dims[-1]
        dt = self.params["edge_mlp.out.weight"].dtype
        d_pairs, grads = self.mlp.backward(d_logits.astype(dt), cache["mlp"])
        d_nodes = np.zeros((4, h), dt)
        np.add.at(d_nodes, self._src, d_pairs[:, :h])
        np.add.at(d_nodes, self._dst, d_pairs[:, h:])
        grads.update(self.model.encoder_backward(cache["enc"], d_nodes.reshape(1, -1)))
        return grads

    def _out_layer(self):
        return (self.params["edge_mlp.out.weight"], self.params["edge_mlp.out.bias"],
                lambda k, i: i)


GATES = {"arch": ArchGate, "node": NodeGate}


def make_gate(kind: str = "node", **kwargs: Any) -> ArchGate:
    """A GATE of ``kind`` (:data:`GATES`: 'node' or 'arch') with constructor ``kwargs``."""
    from archmodel.errors import check_choice

    check_choice("make_gate", "kind", kind, tuple(GATES))
    return GATES[kind](**kwargs)
